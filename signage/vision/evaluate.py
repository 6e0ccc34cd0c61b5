"""Measure the analysis chain on a labelled folder (``python -m signage eval FOLDER``), or on
every such folder inside FOLDER: then one table puts each headline figure beside the reference
pipeline's (``REFERENCE``); ``--age-gate`` adds the age gate on single photos and simulated tracks.

The folder has ``manifest.csv`` (``path`` relative to the folder, plus any of ``emotion``,
``age``, ``gender``; an ``age_group`` column is ignored because its bins are not the product's:
product groups are computed from ``age``) and, for detection sets, ``boxes.csv``
(``path,x,y,w,h,ignore``, one row per hand-boxed face).

* Crop sets (no boxes.csv): each image is expected to hold one face.  The detector runs first
  (small images are upscaled and padded by the detector); the largest face is classified.  When
  no face is found the whole image is used as the face crop, and how often that happened is
  reported.
* Detection sets (boxes.csv): detections are matched one-to-one to labelled boxes at IoU >= 0.5,
  best overlap first.  Boxes marked ``ignore`` neither count as missed nor make a detection on
  them a false positive.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from .agegate import AgeSample, why_not_adult
from .analyzer import Attributes, FaceAnalyzer, FaceResult
from .classifiers import EMOTIONS, GENDERS, age_group
from .detector import iou

__all__ = [
    "evaluate_folder",
    "format_report",
    "read_image",
    "emotion_metrics",
    "match_detections",
    "REFERENCE",
    "eval_folders",
    "figures",
    "table_rows",
    "format_table",
    "camera_view",
    "age_gate_report",
    "format_age_gate",
    "live_detection_check",
]

SUBSETS = {"5": ("angry", "happy", "neutral", "sad", "surprise"), "3": ("happy", "neutral", "sad")}


def read_image(path: Path) -> np.ndarray | None:
    """BGR uint8 image, or None when the file cannot be read or decoded as an image."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except (OSError, ValueError):
        return None
    if data.size == 0:
        return None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None or img.ndim != 3 or min(img.shape[:2]) < 2:
        return None
    return img


def emotion_metrics(true: list[str], scores: np.ndarray, classes: tuple[str, ...]) -> dict[str, Any]:
    """Accuracy, per-class recall, mean recall and confusion over ``classes``.

    Rows whose true label is not in ``classes`` are excluded; the prediction is the argmax over
    the scores of ``classes`` only (``scores`` columns are in EMOTIONS order).
    """
    cols = [EMOTIONS.index(c) for c in classes]
    keep = [i for i, t in enumerate(true) if t in classes]
    conf = np.zeros((len(classes), len(classes)), int)
    for i in keep:
        pred = int(np.argmax(scores[i, cols]))
        conf[classes.index(true[i]), pred] += 1
    n = int(conf.sum())
    support = conf.sum(axis=1)
    recall = {c: (float(conf[k, k] / support[k]) if support[k] else None) for k, c in enumerate(classes)}
    present = [r for r in recall.values() if r is not None]
    return {
        "classes": list(classes),
        "n": n,
        "accuracy": float(np.trace(conf) / n) if n else None,
        "mean_recall": float(np.mean(present)) if present else None,
        "recall": recall,
        "support": {c: int(s) for c, s in zip(classes, support)},
        "confusion": conf.tolist(),
    }


def match_detections(dets: np.ndarray, gts: np.ndarray, ignore: np.ndarray, thr: float = 0.5) -> tuple[int, int, int]:
    """(matched labelled faces, labelled faces, false positives) for one image.

    dets, gts: (N, 4) / (M, 4) as x1 y1 x2 y2; ignore: (M,) bool.
    """
    n_gt = int((~ignore).sum())
    if len(dets) == 0:
        return 0, n_gt, 0
    if len(gts) == 0:
        return 0, 0, len(dets)
    ov = iou(dets, gts)
    pairs = sorted(
        ((ov[i, j], i, j) for i in range(len(dets)) for j in range(len(gts)) if ov[i, j] >= thr), reverse=True
    )
    used_d, used_g = set(), set()
    matched = 0
    for _, i, j in pairs:
        if i in used_d or j in used_g:
            continue
        used_d.add(i)
        used_g.add(j)
        if not ignore[j]:
            matched += 1
    fp = len(dets) - len(used_d)
    return matched, n_gt, fp


def _float(v: str | None) -> float | None:
    try:
        return float(v) if v not in (None, "") else None
    except ValueError:
        return None


def evaluate_folder(
    analyzer: FaceAnalyzer,
    folder: Path,
    limit: int | None = None,
    iou_threshold: float = 0.5,
    *,
    keep_records: bool = False,
    keep_images: bool = False,
    step: int = 1,
) -> dict[str, Any]:
    """The report of one eval folder (see the module docstring).

    step: only every step-th row of the manifest.
    keep_records: add ``records``, one dict per classified image (true age, the FaceResult of the
    largest face, whether a face was detected; the decoded image too with keep_images) -- used by
    the age-gate calibration, never printed.
    """
    folder = Path(folder)
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: missing (an eval folder needs manifest.csv with a 'path' column)")
    with open(manifest, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "path" not in rows[0]:
        raise ValueError(f"{manifest}: no rows or no 'path' column")
    if step > 1:  # every step-th image (the benchmark's quick accuracy figures)
        rows = rows[::step]
    if limit:
        rows = rows[:limit]
    boxes_file = folder / "boxes.csv"
    boxes: dict[str, list[tuple[list[float], bool]]] = {}
    if boxes_file.is_file():
        with open(boxes_file, newline="", encoding="utf-8") as fh:
            for b in csv.DictReader(fh):
                x, y, w, h = (float(b[k]) for k in ("x", "y", "w", "h"))
                boxes.setdefault(b["path"], []).append(
                    ([x, y, x + w, y + h], str(b.get("ignore", "0")).strip() in ("1", "true"))
                )
    has_labels = any(r.get("emotion") or r.get("age") or r.get("gender") for r in rows)

    report: dict[str, Any] = {"folder": str(folder), "images": len(rows), "unreadable": 0}
    em_true: list[str] = []
    em_scores: list[np.ndarray] = []
    em_seq: list[str] = []
    records: list[dict[str, Any]] = []
    ages_true: list[float] = []
    ages_pred: list[float] = []
    g_true: list[str] = []
    g_pred: list[str] = []
    g_age: list[float | None] = []
    fallback = 0
    det_matched = det_total = det_fp = 0
    t_img = []
    for row in rows:
        path = folder / row["path"]
        img = read_image(path)
        if img is None:
            report["unreadable"] += 1
            continue
        t0 = time.perf_counter()
        if row["path"] in boxes or (boxes and not has_labels):
            dets = analyzer.detect_photo(img)
            gt = boxes.get(row["path"], [])
            gts = np.array([g[0] for g in gt], np.float64).reshape(-1, 4)
            ign = np.array([g[1] for g in gt], bool)
            m, n, fp = match_detections(np.array([d.box for d in dets]).reshape(-1, 4), gts, ign, iou_threshold)
            det_matched += m
            det_total += n
            det_fp += fp
            t_img.append(time.perf_counter() - t0)
            if not has_labels:
                continue
        if not has_labels:
            continue
        dets = analyzer.detect_photo(img)
        h, w = img.shape[:2]
        if dets:
            best = max(dets, key=lambda d: d.area)
            (attrs,) = analyzer.classify_boxes(img, [best.box])
            face = FaceResult.build(best, attrs, frontal_limits=analyzer.frontal_limits)
        else:
            fallback += 1
            (attrs,) = analyzer.classify_boxes(img, [(0, 0, w, h)], whole=True)
            face = FaceResult.build(None, attrs, box_xywh=(0, 0, w, h))
        t_img.append(time.perf_counter() - t0)
        _collect(row, attrs, em_true, em_scores, ages_true, ages_pred, g_true, g_pred, g_age)
        if (row.get("emotion") or "").strip():
            em_seq.append((row.get("sequence") or "").strip())
        if keep_records:
            records.append(
                {
                    "path": row["path"],
                    "age": _float(row.get("age")),
                    "face": face,
                    "detected": bool(dets),
                    "image": img if keep_images else None,
                }
            )

    if t_img:
        report["ms_per_image_median"] = round(float(np.median(t_img)) * 1000, 1)
    if has_labels:
        report["classified"] = len(rows) - report["unreadable"]
        report["no_face_fallback"] = fallback
    if em_true:
        scores = np.array(em_scores)
        excluded = sum(1 for t in em_true if t not in EMOTIONS)
        report["emotion"] = {
            "excluded_labels": excluded,
            "7": emotion_metrics(em_true, scores, EMOTIONS),
            "5": emotion_metrics(em_true, scores, SUBSETS["5"]),
            "3": emotion_metrics(em_true, scores, SUBSETS["3"]),
        }
        if any(em_seq):
            # sets of near-identical frames (CK+): one verdict per sequence, from the mean scores
            seqs: dict[str, list[int]] = {}
            for i, q in enumerate(em_seq):
                seqs.setdefault(q or f"#{i}", []).append(i)
            seq_true = [em_true[idx[0]] for idx in seqs.values()]
            seq_scores = np.array([scores[idx].mean(axis=0) for idx in seqs.values()])
            report["emotion"]["7_sequence"] = emotion_metrics(seq_true, seq_scores, EMOTIONS)
    if ages_true:
        at, ap = np.array(ages_true), np.array(ages_pred)
        groups_t = [age_group(a) for a in at]
        groups_p = [age_group(a) for a in ap]
        minors = at < 18
        report["age"] = {
            "n": len(at),
            "mae": float(np.mean(np.abs(at - ap))),
            "group_accuracy": float(np.mean([a == b for a, b in zip(groups_t, groups_p)])),
            "minors": int(minors.sum()),
            "minor_as_adult": float(np.mean(ap[minors] >= 18)) if minors.any() else None,
        }
    if g_true:
        gt_arr, gp_arr = np.array(g_true), np.array(g_pred)
        ok = gt_arr == gp_arr
        adult_mask = np.array([a is not None and a >= 20 for a in g_age], dtype=np.bool_)
        report["gender"] = {"n": len(ok), "accuracy": float(ok.mean())}
        if adult_mask.size == ok.size and adult_mask.any():
            report["gender"]["adult_accuracy"] = float(ok[adult_mask].mean())
            report["gender"]["adults"] = int(adult_mask.sum())
    if keep_records:
        report["records"] = records
    if boxes:
        report["detection"] = {
            "iou": iou_threshold,
            "score": float(getattr(analyzer.detector, "score", float("nan"))),
            "found": det_matched,
            "labelled": det_total,
            "recall": det_matched / det_total if det_total else None,
            "false_positives": det_fp,
        }
    return report


def _collect(
    row: dict[str, str],
    attrs: Attributes,
    em_true: list[str],
    em_scores: list[np.ndarray],
    ages_true: list[float],
    ages_pred: list[float],
    g_true: list[str],
    g_pred: list[str],
    g_age: list[float | None],
) -> None:
    e = (row.get("emotion") or "").strip().lower()
    if e:
        em_true.append(e)
        em_scores.append(np.asarray(attrs.emotion_probs))
    a = _float(row.get("age"))
    if a is not None:
        ages_true.append(a)
        ages_pred.append(attrs.age)
    g = (row.get("gender") or "").strip().lower()
    if g in GENDERS:
        g_true.append(g)
        g_pred.append(GENDERS[int(np.argmax(attrs.gender_probs))])
        g_age.append(a)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def format_report(rep: dict[str, Any]) -> str:
    lines = [
        f"eval {rep['folder']}: {rep['images']} images, {rep['unreadable']} unreadable"
        + (f", median {rep['ms_per_image_median']} ms/image" if "ms_per_image_median" in rep else "")
    ]
    if "no_face_fallback" in rep:
        lines.append(
            f"no face detected (whole image used as the crop): {rep['no_face_fallback']} of {rep['classified']}"
        )
    em = rep.get("emotion")
    if em:
        m7 = em["7"]
        lines.append(
            f"emotion, 7 classes ({m7['n']} images; {em['excluded_labels']} with labels the model lacks excluded):"
        )
        lines.append(f"  accuracy {_pct(m7['accuracy'])}, mean per-class recall {_pct(m7['mean_recall'])}")
        lines.append("  recall: " + ", ".join(f"{c} {_pct(r)} (n={m7['support'][c]})" for c, r in m7["recall"].items()))
        lines.append("  confusion (rows true, columns predicted):")
        w = max(len(c) for c in EMOTIONS) + 1
        lines.append("  " + " " * w + "".join(f"{c[:7]:>8}" for c in m7["classes"]))
        for c, row in zip(m7["classes"], m7["confusion"]):
            lines.append(f"  {c:<{w}}" + "".join(f"{v:>8}" for v in row))
        if "7_sequence" in em:
            ms = em["7_sequence"]
            lines.append(
                f"emotion, 7 classes per sequence (mean scores of its frames; {ms['n']} sequences): "
                f"accuracy {_pct(ms['accuracy'])}, mean per-class recall {_pct(ms['mean_recall'])}"
            )
        for k in ("5", "3"):
            m = em[k]
            lines.append(
                f"emotion, {k} classes {{{', '.join(m['classes'])}}} ({m['n']} images): accuracy "
                f"{_pct(m['accuracy'])}, mean recall {_pct(m['mean_recall'])}; "
                + ", ".join(f"{c} {_pct(r)}" for c, r in m["recall"].items())
            )
    ag = rep.get("age")
    if ag:
        lines.append(
            f"age ({ag['n']} images): MAE {ag['mae']:.2f} years, product age-group accuracy "
            f"{_pct(ag['group_accuracy'])}; minors (<18) estimated >= 18: {_pct(ag['minor_as_adult'])} "
            f"of {ag['minors']}"
        )
    g = rep.get("gender")
    if g:
        lines.append(
            f"gender ({g['n']} images): accuracy {_pct(g['accuracy'])}"
            + (f", adults (>= 20) {_pct(g['adult_accuracy'])} of {g['adults']}" if "adult_accuracy" in g else "")
        )
    d = rep.get("detection")
    if d:
        lines.append(
            f"detection (IoU >= {d['iou']}, score >= {d['score']}): found {d['found']}/{d['labelled']} "
            f"labelled faces (recall {_pct(d['recall'])}), {d['false_positives']} false positives"
        )
    return "\n".join(lines)


# -- every dev set in one table ------------------------------------------------------------------

#: The reference pipeline (same models: RetinaFace fp32 with images scaled to 640 px on the long
#: side, face-api emotion on a square 0.9x box crop, face-api age/gender on a 1.0x box crop, no
#: test-time augmentation), measured on the dev sets by the issue that set the bar (issue 14).
#: A change that puts any set more than a point below these needs a reason.
REFERENCE: dict[str, dict[str, float]] = {
    "ferplus_test_balanced": {"emotion 7-class macro recall %": 67.8},
    "ckplus48": {"emotion 7-class macro recall %": 87.3, "emotion per sequence %": 88.6},
    "muxspace_crowd": {"emotion 7-class macro recall %": 48.9},
    "utkface_crop": {"gender %": 94.4, "age MAE years": 4.84},
    "dlib_faces": {"faces found": 43, "false positives": 0},
}
LOWER_IS_BETTER = {"age MAE years", "false positives"}
TOLERANCE = {"age MAE years": 0.1}  # a "point" for a figure in years; others: 1 percentage point


def eval_folders(root: Path) -> list[Path]:
    """root itself when it is an eval folder, else its sub-folders that are, sorted by name."""
    root = Path(root)
    if (root / "manifest.csv").is_file():
        return [root]
    found = sorted(p for p in root.iterdir() if p.is_dir() and (p / "manifest.csv").is_file()) if root.is_dir() else []
    if not found:
        raise FileNotFoundError(f"{root}: neither an eval folder (manifest.csv) nor a folder of them")
    return found


def figures(rep: dict[str, Any]) -> dict[str, float]:
    """The headline figures of one folder's report, named as in REFERENCE."""
    out: dict[str, float] = {}
    em = rep.get("emotion")
    if em and em["7"]["mean_recall"] is not None:
        out["emotion 7-class macro recall %"] = 100 * em["7"]["mean_recall"]
        if "7_sequence" in em:
            out["emotion per sequence %"] = 100 * em["7_sequence"]["mean_recall"]
    if rep.get("gender"):
        out["gender %"] = 100 * rep["gender"]["accuracy"]
    if rep.get("age"):
        out["age MAE years"] = rep["age"]["mae"]
    d = rep.get("detection")
    if d:
        out["faces found"] = d["found"]
        out["false positives"] = d["false_positives"]
    return out


def table_rows(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (set, figure): reference, now, difference and whether it is a loss."""
    rows = []
    for rep in reports:
        name = Path(rep["folder"]).name
        ref = REFERENCE.get(name, {})
        for metric, now in figures(rep).items():
            r = ref.get(metric)
            diff = None if r is None else now - r
            worse = None if diff is None else (-diff if metric in LOWER_IS_BETTER else diff)
            loss = worse is not None and worse < -TOLERANCE.get(metric, 1.0)
            rows.append({"set": name, "figure": metric, "reference": r, "now": now, "diff": diff, "loss": loss})
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    def f(v: float | None, metric: str) -> str:
        if v is None:
            return "-"
        return (
            f"{v:.2f}"
            if metric == "age MAE years"
            else (f"{v:.0f}" if metric in ("faces found", "false positives") else f"{v:.1f}")
        )

    head = ("set", "figure", "reference", "now", "diff")
    body = [
        (
            r["set"],
            r["figure"],
            f(r["reference"], r["figure"]),
            f(r["now"], r["figure"]),
            ("-" if r["diff"] is None else f"{r['diff']:+.2f}") + ("  LOSS" if r["loss"] else ""),
        )
        for r in rows
    ]
    widths = [max(len(str(x[i])) for x in [head] + body) for i in range(len(head))]

    def line(cells: Sequence[Any]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(head), line(["-" * w for w in widths])] + [line(b) for b in body]
    losses = [r for r in rows if r["loss"]]
    out.append(
        f"{len(losses)} figure(s) more than a point below the reference"
        + (": " + ", ".join(f"{r['set']} {r['figure']}" for r in losses) if losses else "")
    )
    return "\n".join(out)


# -- the age gate on single photos and simulated tracks -------------------------------------------

#: sets without an age column whose people are all adults (see ../shared/eval/README.md and the
#: sets' sources): CK+ participants were 18-50; muxspace holds LFW public figures and Indian film
#: actors.  FER+ holds children too and has no ages: it is not used.
ADULT_SETS = ("ckplus48", "muxspace_crowd")
GATE_GROUPS = ("under 13", "13-17", "adults")
WILD_SETS = ("utkface_crop", "muxspace_crowd")  # photos of people as they are (not 48 px lab crops)


def camera_view(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One simulated camera frame of a photo: shifted up to 4 % of its size, scaled 0.9-1.1x,
    brightness x0.7-1.3 and +-20 grey levels -- what a few seconds before a camera change.

    What the shift or shrink uncovers is black, the fill the age/gender crop itself puts past an
    image edge (geometry.CLIP), so a view differs from its photo only by the camera's changes.
    Replicated border pixels (the first version) draw streaks no camera gives, and the age net
    reads them as years: views shrunk to 0.9x read 1.5 years younger than their photo on average
    over the in-the-wild adults, against +0.2 with the black fill (models/README.md, "Age gate")."""
    h, w = img.shape[:2]
    s = rng.uniform(0.9, 1.1)
    dx, dy = rng.uniform(-0.04, 0.04, 2) * (w, h)
    m = np.array([[s, 0, (1 - s) * w / 2 + dx], [0, s, (1 - s) * h / 2 + dy]])
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.clip(out.astype(np.float32) * rng.uniform(0.7, 1.3) + rng.uniform(-20, 20), 0, 255).astype(np.uint8)


def _gate_sample(analyzer: FaceAnalyzer, img: np.ndarray) -> list[AgeSample]:
    """The largest face's age-gate sample ([] when no face is found).  Full-size detection, as
    the live pipeline detects at full size on the frames whose faces it classifies."""
    dets = analyzer.detect(img)
    if not dets:
        return []
    d = max(dets, key=lambda x: x.area)
    (attrs,) = analyzer.classify_boxes(img, [d.box])
    face = FaceResult.build(d, attrs)
    return [
        AgeSample(
            age=float(attrs.age),
            face_px=float(min(face.box[2], face.box[3])),
            yaw=float(face.yaw or 0.0),
            pitch=float(face.pitch or 0.0),
        )
    ]


def age_gate_report(
    analyzer: FaceAnalyzer,
    folders: list[Path],
    min_age: float,
    views: int = 6,
    seed: int = 14,
    limit: int | None = None,
) -> dict[str, Any]:
    """Share of each group the gate lets through, for one photo and for a track of ``views``
    simulated camera frames of it (``agegate.why_not_adult``, the product's own rule)."""
    rng = np.random.default_rng(seed)
    passed: dict[tuple[str, str, str], list[bool]] = {}
    for folder in folders:
        name = Path(folder).name
        with open(Path(folder) / "manifest.csv", newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        if name in ADULT_SETS:
            seen: set[str] = set()
            first = []
            for r in rows:  # one frame per CK+ sequence
                key = r.get("sequence") or r["path"]
                if key not in seen:
                    seen.add(key)
                    first.append(r)
            rows = first
        elif not rows or not rows[0].get("age"):
            continue
        for r in rows[:limit] if limit else rows:
            img = read_image(Path(folder) / r["path"])
            if img is None:
                continue
            age = _float(r.get("age"))
            group = (
                "adults"
                if name in ADULT_SETS or (age is not None and age >= 18)
                else ("under 13" if age is not None and age < 13 else "13-17")
            )
            single = _gate_sample(analyzer, img)
            track = [s for _ in range(views) for s in _gate_sample(analyzer, camera_view(img, rng))]
            for kind, ok in (
                ("photo", why_not_adult(single, min_age, min_frames=1) is None),
                ("track", why_not_adult(track, min_age) is None),
            ):
                for where in (name, "all", *(("in the wild",) if name in WILD_SETS else ())):
                    passed.setdefault((where, group, kind), []).append(ok)
    out: dict[str, Any] = {"min_age": min_age, "views": views, "sets": {}}
    for (name, group, kind), oks in passed.items():
        share = float(np.mean(oks))
        entry = out["sets"].setdefault(name, {}).setdefault(group, {"n": len(oks)})
        entry[kind] = 1 - share if group == "adults" else share  # adults: refused; minors: passed
    return out


def format_age_gate(rep: dict[str, Any]) -> str:
    lines = [
        f"age gate (median of >= 3 usable frames >= {rep['min_age']:g}, none < 18; photo: the one "
        f"frame >= {rep['min_age']:g}; track: {rep['views']} simulated camera frames of the photo)",
        "set                    group     n     photo   track   (minors: share passed; adults: share refused)",
    ]
    order = ["utkface_crop", *ADULT_SETS, "in the wild", "all"]
    for name in sorted(rep["sets"], key=lambda n: order.index(n) if n in order else -1):
        for group in GATE_GROUPS:
            e = rep["sets"][name].get(group)
            if e:
                what = "refused" if group == "adults" else "passed"
                lines.append(
                    f"{name:<22} {group:<9} {e['n']:<5} {_pct(e.get('photo')):>7} {_pct(e.get('track')):>7}   {what}"
                )
    return "\n".join(lines)


# -- detection through the live pipeline's policy --------------------------------------------------


def live_detection_check(
    analyzer: FaceAnalyzer, config: Any, folder: Path, frames: int = 12, fps: float = 10.0
) -> dict[str, Any]:
    """The labelled faces of a detection set (boxes.csv) found by the *live pipeline* (with its
    reduced-size detection): each photo, letterboxed into a 640x480 frame at its own scale, is fed
    as ``frames`` frames at ``fps``; a face counts as found when a confirmed track covers it
    (IoU >= 0.5) in the last frame.  Faces under ``min_face_px`` are left out (the pipeline
    ignores them by design).  Compare with ``evaluate_folder``'s full-size detection."""
    from .pipeline import VisionPipeline

    folder = Path(folder)
    with open(folder / "boxes.csv", newline="", encoding="utf-8") as fh:
        boxes: dict[str, list[list[float]]] = {}
        for b in csv.DictReader(fh):
            if str(b.get("ignore", "0")).strip() in ("1", "true"):
                continue
            x, y, w, h = (float(b[k]) for k in ("x", "y", "w", "h"))
            if min(w, h) >= config.min_face_px:
                boxes.setdefault(b["path"], []).append([x, y, x + w, y + h])
    found = total = false_tracks = reduced = analysed = 0

    class _Frame:
        def __init__(self, image: np.ndarray, timestamp: float, seq: int):
            self.image, self.timestamp, self.seq = image, timestamp, seq

    for path, gts in sorted(boxes.items()):
        img = read_image(folder / path)
        if img is None:
            continue
        h, w = img.shape[:2]
        k = min(1.0, 640 / w, 480 / h)
        frame = np.zeros((480, 640, 3), np.uint8)
        small = cv2.resize(img, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA) if k < 1 else img
        ox, oy = (640 - small.shape[1]) // 2, (480 - small.shape[0]) // 2
        frame[oy : oy + small.shape[0], ox : ox + small.shape[1]] = small
        gt = np.array(gts, np.float64) * k + np.array([ox, oy, ox, oy])
        pipe = VisionPipeline(config, None, lambda r: None, loop=None, analyzer=analyzer)
        result = None
        for i in range(frames):
            result = pipe.process(_Frame(frame, i / fps, i))
        assert result is not None
        tracks = np.array(
            [[t.box[0], t.box[1], t.box[0] + t.box[2], t.box[1] + t.box[3]] for t in result.tracks if t.confirmed],
            np.float64,
        ).reshape(-1, 4)
        m, n, fp = match_detections(tracks, gt, np.zeros(len(gt), bool))
        found, total, false_tracks = found + m, total + n, false_tracks + fp
        st = pipe.status()
        reduced += st["frames_reduced_detection"]
        analysed += st["frames_analysed"]
    return {
        "found": found,
        "labelled": total,
        "false_tracks": false_tracks,
        "reduced_share": reduced / analysed if analysed else None,
        "frames_per_photo": frames,
    }
