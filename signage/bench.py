"""Speed benchmark of the vision chain (``scripts/bench`` / ``python -m signage bench``).

What it measures, on real photos from :mod:`signage.demo_photos` (downloaded from pinned registry
packages; nothing is committed):

* per-stage milliseconds (detect, crop/preprocess, emotion, age/gender) and end to end, median and
  p90, on frames holding exactly 1, 3 and 8 faces (the 3- and 8-face frames are 640x480 mosaics
  tiled from real face photos; the detector must find exactly that many faces in each);
* fp32 against int8 for each model; the whole chain at each setting of ``chain_settings``
  (precisions; photos detected with the reduced first pass or at full size only), each beside
  its dev-set accuracy (``--eval-dir``, default ../shared/eval), so that a faster, less accurate
  setting shows as such;
* the live pipeline's frames per second on the ``video`` source (a 640x480 30 fps file made in a
  temporary folder from real photos, 3 faces) and on the ``photos`` source, with CPU seconds per
  analysed frame, then the event-loop lag (p50/p99 overshoot of a 5 ms sleep) in a window of its
  own while the pipeline still runs (the probe's own wakeups are not counted as CPU); each live
  run is a fresh child process (camera + models + pipeline + loop, as in the appliance), so that
  its CPU time and peak RSS are not mixed with this benchmark's;
* peak RSS (VmHWM) of the live-pipeline process, of this process and of the fer worker;
* the published ``fer`` package (``FER(mtcnn=True).detect_emotions``) on the same one-face photo,
  in its own virtual environment, ours and fer in interleaved rounds on one thread: that peer
  machinery is repository tooling, ``scripts/bench_fer.py``, loaded from there when present;
  fer's own emotion accuracy is measured on the same dev-set images as ours.

It prints a table and writes JSON (``--json-out``, default ``bench-results.json``).  It is a
benchmark, not a test: it never fails on a slow figure, and a part that cannot run (no fer venv,
no demo photos) is reported with the reason and skipped.

This module imports only the standard library at the top (heavy imports happen where used).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
#: the fer peer benchmark (its venv, worker and interleaved comparison): repository tooling, not
#: part of the appliance, so it lives in scripts/ and is loaded from there when present
PEER_FER = ROOT / "scripts" / "bench_fer.py"


def load_fer_peer() -> Any:
    """The scripts/bench_fer.py module, or None when this is not a repository checkout."""
    import importlib.util

    if not PEER_FER.is_file():
        return None
    spec = importlib.util.spec_from_file_location("signage_bench_fer", PEER_FER)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --- small statistics ----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100) of values; None for an empty list."""
    if not values:
        return None
    s = sorted(values)
    if len(s) == 1:
        return float(s[0])
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return float(s[lo] + (s[hi] - s[lo]) * (pos - lo))


def summary(values: list[float], nd: int = 2) -> dict[str, Any]:
    """median, p90, p99, mean, min, max and n of a list of numbers (rounded)."""

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, nd)

    return {
        "median": r(percentile(values, 50)),
        "p90": r(percentile(values, 90)),
        "p99": r(percentile(values, 99)),
        "mean": r(sum(values) / len(values) if values else None),
        "min": r(min(values) if values else None),
        "max": r(max(values) if values else None),
        "n": len(values),
    }


def _proc_status_mb(field_name: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return round(int(line.split()[1]) / 1024, 1)  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far.

    Linux: VmHWM of /proc/self/status.  (getrusage's ru_maxrss is not used there because a child
    started by fork + exec inherits its parent's figure, so the live-pipeline and fer children
    would report this benchmark's memory.)  Elsewhere ru_maxrss (KiB; bytes on macOS)."""
    hwm = _proc_status_mb("VmHWM")
    if hwm is not None:
        return hwm
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024, 1)


def current_rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return None


def machine_busy_s() -> float | None:
    """CPU seconds all processes of the machine have used since boot (Linux /proc/stat), or None."""
    try:
        with open("/proc/stat") as fh:
            vals = [int(v) for v in fh.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal ...: everything but idle and iowait
        busy = sum(vals[:3]) + sum(vals[5:8])
        return busy / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class OtherLoad:
    """How many cores *other* processes kept busy while a block ran: (machine CPU time - this
    process's CPU time) / wall time.  Tells a reader whether a slow figure is ours or a
    neighbour's.  ``cores`` is None where /proc/stat is not available."""

    def __enter__(self) -> "OtherLoad":
        self.cores: float | None = None
        self._m0, self._c0, self._w0 = machine_busy_s(), time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        m1, c1, w1 = machine_busy_s(), time.process_time(), time.perf_counter()
        self.wall = w1 - self._w0
        if self._m0 is not None and m1 is not None and w1 > self._w0:
            self.cores = round(max(0.0, (m1 - self._m0) - (c1 - self._c0)) / (w1 - self._w0), 2)


# --- event-loop lag probe ---------------------------------------------------------------------------


class LoopLagProbe:
    """An asyncio task that sleeps ``interval`` repeatedly and records the overshoot (ms)."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.samples: list[float] = []
        self._task: Any = None

    async def _run(self) -> None:
        import asyncio

        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.samples.append(max(0.0, (time.perf_counter() - t0 - self.interval) * 1000.0))

    def start(self) -> None:
        import asyncio

        self.samples = []
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> dict[str, Any]:
        from signage.tasks import cancel_and_wait

        await cancel_and_wait(self._task)
        self._task = None
        return self.result()

    def result(self) -> dict[str, Any]:
        s = summary(self.samples, 2)
        return {"p50_ms": s["median"], "p99_ms": s["p99"], "max_ms": s["max"], "samples": s["n"]}


# --- frames from real photos --------------------------------------------------------------------------

#: photos whose faces are tiled into the 3- and 8-face mosaics (round-robin, one face per photo first)
MOSAIC_PHOTOS = ("astronaut", "sample1", "sample2", "sample3", "sample4", "sample5", "sample6", "t1")
ONE_FACE_PHOTO = "astronaut"
FRAME_W, FRAME_H = 640, 480
#: grid (columns, rows) and the side of each face tile, per face count
MOSAIC_LAYOUT = {3: ((3, 1), 200), 8: ((4, 2), 150)}
TILE_MARGIN = 1.7  # tile side / face box side: the face with some head and shoulders around it


class BenchError(RuntimeError):
    """A part of the benchmark cannot run (the reason is one line)."""


def _err(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, BenchError) else f"{type(exc).__name__}: {exc}"


def letterbox(image, width: int = FRAME_W, height: int = FRAME_H, fill: int = 0):
    """Shrink to fit (never enlarge) and centre on a width x height canvas."""
    import cv2
    import numpy as np

    h, w = image.shape[:2]
    scale = min(width / w, height / h, 1.0)
    if scale < 1.0:
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    h, w = image.shape[:2]
    canvas = np.full((height, width, 3), fill, np.uint8)
    y, x = (height - h) // 2, (width - w) // 2
    canvas[y : y + h, x : x + w] = image
    return canvas


def _read(path: Path):
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise BenchError(f"cannot read {path}")
    return img


@dataclass
class FaceTile:
    photo: str
    image: Any  # BGR tile (side x side)
    score: float


def face_tiles(analyzer, photos: dict[str, Path], side: int) -> list[FaceTile]:
    """Square tiles (side x side) around each clearly visible face of the photos, round-robin
    over the photos so that the first tiles come from different photos.  A tile is kept only
    when the detector finds exactly one face in it when it is shown alone."""
    import numpy as np
    from signage.vision.geometry import square_crop

    per_photo: list[list[FaceTile]] = []
    for name, path in photos.items():
        img = _read(path)
        tiles = []
        for d in sorted(analyzer.detect(img), key=lambda d: float(d.box[0])):
            x1, y1, x2, y2 = (float(v) for v in d.box)
            bw, bh = x2 - x1, y2 - y1
            if d.score < 0.9 or min(bw, bh) < 40:
                continue
            # the tile must lie inside the photo (no replicated borders)
            cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, TILE_MARGIN * max(bw, bh) / 2
            if cx - half < 0 or cy - half < 0 or cx + half > img.shape[1] or cy + half > img.shape[0]:
                continue
            tile = square_crop(img, d.box, TILE_MARGIN, side)
            probe = np.full((FRAME_H, FRAME_W, 3), 128, np.uint8)
            y0, x0 = (FRAME_H - side) // 2, (FRAME_W - side) // 2
            probe[y0 : y0 + side, x0 : x0 + side] = tile
            if len(analyzer.detect(probe)) == 1:
                tiles.append(FaceTile(name, tile, float(d.score)))
        per_photo.append(tiles)
    out: list[FaceTile] = []
    for i in range(max((len(t) for t in per_photo), default=0)):
        out.extend(t[i] for t in per_photo if i < len(t))
    return out


def mosaic(tiles: list[FaceTile], n: int):
    """A 640x480 frame (mid-grey background) with the n tiles on MOSAIC_LAYOUT[n]'s grid."""
    import numpy as np

    (cols, rows), side = MOSAIC_LAYOUT[n]
    frame = np.full((FRAME_H, FRAME_W, 3), 128, np.uint8)
    cw, ch = FRAME_W // cols, FRAME_H // rows
    for i, t in enumerate(tiles[:n]):
        c, r = i % cols, i // cols
        x0 = c * cw + (cw - side) // 2
        y0 = r * ch + (ch - side) // 2
        frame[y0 : y0 + side, x0 : x0 + side] = t.image
    return frame


def build_frames(analyzer, photo_paths: dict[str, Path]) -> dict[int, dict[str, Any]]:
    """{faces: {"image", "source", "found"} or {"error"}} for 1, 3 and 8 faces, each verified by
    detection (a mosaic that cannot be made is an error entry, the others still run)."""
    frames: dict[int, dict[str, Any]] = {}
    one = letterbox(_read(photo_paths[ONE_FACE_PHOTO]))
    found = len(analyzer.detect(one))
    if found != 1:
        raise BenchError(f"the 1-face frame ({ONE_FACE_PHOTO}) gives {found} detections, not 1")
    frames[1] = {"image": one, "source": f"{ONE_FACE_PHOTO} letterboxed to 640x480", "found": found}
    mosaic_photos = {k: v for k, v in photo_paths.items() if k in MOSAIC_PHOTOS}
    for n, ((cols, rows), side) in MOSAIC_LAYOUT.items():
        tiles = face_tiles(analyzer, mosaic_photos, side)
        if len(tiles) < n:
            frames[n] = {
                "error": f"only {len(tiles)} usable face tiles for the {n}-face mosaic "
                f"(photos: {', '.join(mosaic_photos)})"
            }
            continue
        # a few deterministic attempts: rotate the tile list until the mosaic gives exactly n faces
        for shift in range(min(len(tiles), 12)):
            chosen = (tiles[shift:] + tiles[:shift])[:n]
            img = mosaic(chosen, n)
            found = len(analyzer.detect(img))
            if found == n:
                srcs = sorted({t.photo for t in chosen})
                frames[n] = {
                    "image": img,
                    "found": found,
                    "source": f"{cols}x{rows} mosaic of {side}px face tiles from {', '.join(srcs)}",
                }
                break
        else:
            frames[n] = {"error": f"no {n}-face mosaic gave exactly {n} detections"}
    return frames


# --- per-stage, precision and fer measurements ---------------------------------------------------------


def vision_config(config, **changes):
    """config.vision with some fields changed (through Config.replace, so values are validated)."""
    return config.replace(vision=changes).vision if changes else config.vision


def make_analyzer(config, **changes):
    from signage.vision.analyzer import FaceAnalyzer

    return FaceAnalyzer(vision_config(config, **changes))


def _ms(t0: float, t1: float) -> float:
    return (t1 - t0) * 1000.0


def classifier_inputs(analyzer, frame, boxes, kind: str) -> list:
    """The crops the analyser gives classifier ``kind`` (its own crop step when it has one)."""
    crops = getattr(analyzer, "_crops", None)
    if crops is not None:
        return crops(frame, boxes, kind)
    from signage.vision.classifiers import CROP_FACTOR, INPUT_SIZE
    from signage.vision.geometry import square_crop

    return [square_crop(frame, b, CROP_FACTOR[kind], INPUT_SIZE[kind]) for b in boxes]


def time_stages(single, pooled, frame, reps: int, warmup: int = 3) -> dict[str, Any]:
    """Per-stage ms (single-threaded analyser, stages run one after the other as in analyze(),
    whose detection is ``detect_photo``: a reduced first pass, full size when faces are small)
    and end-to-end ms of analyze() with one thread and with the configured worker pool,
    interleaved rep by rep.  ``cpu_ms_median``: this thread's CPU time of the 1-thread parts
    (steadier than wall-clock time on a busy machine)."""
    keys = ("detect", "crop", "emotion", "age_gender", "end_to_end", "end_to_end_pool")
    out: dict[str, list[float]] = {k: [] for k in keys}
    cpu: dict[str, list[float]] = {k: [] for k in keys[:5]}
    faces = None
    clock, tclock = time.perf_counter, time.thread_time
    for i in range(warmup + reps):
        t0, c0 = clock(), tclock()
        dets = single.detect_photo(frame)
        t1, c1 = clock(), tclock()
        boxes = [d.box for d in dets]
        emo_in = classifier_inputs(single, frame, boxes, "emotion")
        ag_in = classifier_inputs(single, frame, boxes, "age_gender")
        t2, c2 = clock(), tclock()
        single.emotion.classify(emo_in)
        t3, c3 = clock(), tclock()
        single.age_gender.classify(ag_in)
        t4, c4 = clock(), tclock()
        res = single.analyze(frame)
        t5, c5 = clock(), tclock()
        pooled.analyze(frame)
        t6 = clock()
        faces = len(res)
        if i >= warmup:
            walls = (_ms(t0, t1), _ms(t1, t2), _ms(t2, t3), _ms(t3, t4), _ms(t4, t5), _ms(t5, t6))
            cpus = (_ms(c0, c1), _ms(c1, c2), _ms(c2, c3), _ms(c3, c4), _ms(c4, c5))
            for k, v in zip(keys, walls):
                out[k].append(v)
            for k, v in zip(keys, cpus):
                cpu[k].append(v)
    return {
        "faces": faces,
        **{k: summary(v) for k, v in out.items()},
        "cpu_ms_median": {k: round(percentile(v, 50) or 0.0, 2) for k, v in cpu.items()},
    }


#: the vision settings every chain setting spells out (a setting = these fields of config.vision)
SETTING_FIELDS = ("detector_precision", "emotion_precision", "age_gender_precision", "detect_reduced_long_side")


def chain_settings(config: Any) -> dict[str, dict[str, Any]]:
    """The whole-chain settings compared for speed and accuracy: the configured one, the same
    without the photo fast path (every image detected at full size), all fp32 and all int8."""
    v = config.vision
    configured = {k: getattr(v, k) for k in SETTING_FIELDS}
    fast = int(v.detect_reduced_long_side)
    return {
        "configured": configured,
        "full-size detection only": {**configured, "detect_reduced_long_side": 0},
        "all fp32": dict(
            detector_precision="fp32",
            emotion_precision="fp32",
            age_gender_precision="fp32",
            detect_reduced_long_side=fast,
        ),
        "all int8": dict(
            detector_precision="int8",
            emotion_precision="int8",
            age_gender_precision="int8",
            detect_reduced_long_side=fast,
        ),
    }


def setting_text(s: dict[str, Any]) -> str:
    """'det fp32 / emo fp32 / a+g fp32, photos: 320 px first' for one chain setting."""
    fast = int(s.get("detect_reduced_long_side") or 0)
    return (
        f"det {s.get('detector_precision')} / emo {s.get('emotion_precision')} / a+g {s.get('age_gender_precision')}, "
        + (f"{fast} px first pass" if fast else "full size only")
    )


# --- accuracy beside speed --------------------------------------------------------------------------


def default_eval_dir() -> Path | None:
    """The shared dev sets beside the repository (../shared/eval), when they are there."""
    for cand in (ROOT.parent / "shared" / "eval", ROOT.parent.parent / "shared" / "eval"):
        if cand.is_dir():
            return cand
    return None


def dev_accuracy(config, eval_dir: Path, step: int, **changes: Any) -> dict[str, Any]:
    """Headline dev-set figures of one vision setting (every ``step``-th image of each set), so
    that a faster setting that is less accurate shows as such."""
    from signage.vision.evaluate import eval_folders, evaluate_folder, figures

    analyzer = make_analyzer(config, workers=1, **changes)
    try:
        out: dict[str, Any] = {"step": step}
        for folder in eval_folders(eval_dir):
            # detection sets are small (dlib_faces: 9 photos) and judged by their total: all of it
            whole = (folder / "boxes.csv").is_file()
            out[folder.name] = figures(evaluate_folder(analyzer, folder, step=1 if whole else step))
        return out
    finally:
        analyzer.close()


def live_detection(config, eval_dir: Path) -> dict[str, Any]:
    """dlib_faces through the live pipeline's detection policy (reduced input included)."""
    from signage.vision.evaluate import live_detection_check

    analyzer = make_analyzer(config, workers=1)
    try:
        return live_detection_check(analyzer, config.vision, eval_dir / "dlib_faces")
    finally:
        analyzer.close()


def accuracy_text(acc: dict[str, Any] | None) -> str:
    """One line: emotion macro recall per set, UTK gender / MAE, dlib found / false positives."""
    if not acc:
        return "n/a"
    if "error" in acc:
        return acc["error"]
    parts = []
    names = {"ferplus_test_balanced": "FER+", "ckplus48": "CK+", "muxspace_crowd": "mux"}
    for key, short in names.items():
        f = acc.get(key, {}).get("emotion 7-class macro recall %")
        if f is not None:
            parts.append(f"{short} {f:.1f}")
    u = acc.get("utkface_crop", {})
    if "gender %" in u:
        parts.append(f"UTK gender {u['gender %']:.1f} MAE {u['age MAE years']:.2f}")
    d = acc.get("dlib_faces", {})
    if "faces found" in d:
        parts.append(f"dlib {d['faces found']:.0f} found {d['false positives']:.0f} FP")
    return ", ".join(parts) + (f" (1 image in {acc['step']})" if acc.get("step", 1) > 1 else "")


def time_precisions(
    config: Any, frames: dict[int, dict[str, Any]], photo: Any, reps: int, warmup: int = 3
) -> dict[str, Any]:
    """fp32 against int8: each model alone; and the whole chain (FaceAnalyzer.analyze, 1 thread)
    at each of ``chain_settings`` on the 3-face frame and on the one-face photo (as it is, the
    image the fer comparison uses)."""
    from signage.vision.classifiers import AgeGenderClassifier, EmotionClassifier
    from signage.vision.detector import RetinaFaceDetector
    from signage.vision.models import load_model, read_manifest

    for n in (3, 8):
        if "error" in frames.get(n, {"error": "missing"}):
            raise BenchError(f"needs the {n}-face frame ({frames.get(n, {}).get('error', 'missing')})")
    v = config.vision
    manifest = read_manifest(v.models_dir)
    frame3, frame8 = frames[3]["image"], frames[8]["image"]
    probe = make_analyzer(config, workers=1)
    boxes8 = [d.box for d in probe.detect(frame8)]
    emo8 = classifier_inputs(probe, frame8, boxes8, "emotion")
    ag8 = classifier_inputs(probe, frame8, boxes8, "age_gender")
    probe.close()
    runners: dict[str, dict[str, Callable[[], Any]]] = {}
    for prec in ("fp32", "int8"):
        det = RetinaFaceDetector(
            load_model(v.models_dir, "detector", prec, manifest),
            long_side=v.detect_long_side,
            score=v.detect_score,
            nms_iou=v.nms_iou,
            min_face_px=v.min_face_px,
        )
        emo = EmotionClassifier(load_model(v.models_dir, "emotion", prec, manifest))
        ag = AgeGenderClassifier(load_model(v.models_dir, "age_gender", prec, manifest))
        runners[prec] = {
            "detector (640x480, 3 faces)": partial(det.detect, frame3),
            "emotion (1 face)": partial(emo.classify, emo8[:1]),
            "emotion (8 faces, one batch)": partial(emo.classify, emo8),
            "age_gender (1 face)": partial(ag.classify, ag8[:1]),
            "age_gender (8 faces, one batch)": partial(ag.classify, ag8),
        }
    mixes = chain_settings(config)
    chains = {name: make_analyzer(config, workers=1, **mix) for name, mix in mixes.items()}
    samples: dict[str, dict[str, list[float]]] = {p: {k: [] for k in runners[p]} for p in runners}
    chain_samples: dict[str, list[float]] = {k: [] for k in chains}
    photo_samples: dict[str, list[float]] = {k: [] for k in chains}
    for i in range(warmup + reps):
        for prec in ("fp32", "int8") if i % 2 == 0 else ("int8", "fp32"):
            for name, fn in runners[prec].items():
                t0 = time.perf_counter()
                fn()
                if i >= warmup:
                    samples[prec][name].append(_ms(t0, time.perf_counter()))
        for name, an in chains.items():
            t0 = time.perf_counter()
            an.analyze(frame3)
            t1 = time.perf_counter()
            an.analyze(photo)
            if i >= warmup:
                chain_samples[name].append(_ms(t0, t1))
                photo_samples[name].append(_ms(t1, time.perf_counter()))
    for an in chains.values():
        an.close()
    models = {}
    for name in runners["fp32"]:
        f, q = summary(samples["fp32"][name]), summary(samples["int8"][name])
        models[name] = {
            "fp32": f,
            "int8": q,
            "int8_speedup": round(f["median"] / q["median"], 2) if q["median"] else None,
        }
    return {
        "models": models,
        "chain_3_faces": {
            name: {**mixes[name], "ms": summary(s), "photo_ms": summary(photo_samples[name])}
            for name, s in chain_samples.items()
        },
    }


# --- the report -------------------------------------------------------------------------------------


def _f(v: Any, nd: int = 1, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}{unit}"
    return f"{v}{unit}"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for j, r in enumerate(cells):
        lines.append("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _mp(s: dict[str, Any]) -> str:
    """'median / p90' of a summary."""
    return f"{_f(s.get('median'), 2)} / {_f(s.get('p90'), 2)}"


def _others(report: dict[str, Any], phase: str) -> str:
    cores = (report.get("other_processes_cores") or {}).get(phase)
    return "" if cores is None else f" [other processes kept {cores:.2f} cores busy meanwhile]"


def render(report: dict[str, Any]) -> str:
    """The human-readable report (the JSON holds more)."""
    out: list[str] = []
    meta = report.get("meta", {})
    out.append(
        f"signage bench  {meta.get('started', '')}  {meta.get('cpu', '')} x{meta.get('cpus', '?')}  "
        f"python {meta.get('python', '')}  onnxruntime {meta.get('onnxruntime', '')}  "
        f"load avg {meta.get('loadavg_start', ['?'])[0]} -> {meta.get('loadavg_end', ['?'])[0]}"
    )
    v = meta.get("vision", {})
    if v:
        out.append(
            f"precisions: detector {v.get('detector_precision')}, emotion {v.get('emotion_precision')}, "
            f"age/gender {v.get('age_gender_precision')}; detect_long_side {v.get('detect_long_side')}; "
            f"workers {v.get('workers')}"
        )
    stages = report.get("stages")
    if stages:
        out.append("")
        out.append(
            "Per frame, milliseconds median / p90 (640x480; stages on 1 thread, detect = analyze's photo "
            "detection; end-to-end = FaceAnalyzer.analyze, 1 thread and with the worker pool)"
            + _others(report, "stages")
        )
        rows = []
        for n, s in stages.items():
            if "error" in s:
                rows.append([f"{n} face(s)", s["error"], "", "", "", "", "", ""])
                continue
            rows.append(
                [f"{n} face(s) [{s['faces']} found]"]
                + [_mp(s[k]) for k in ("detect", "crop", "emotion", "age_gender", "end_to_end", "end_to_end_pool")]
                + [_f(s["cpu_ms_median"]["end_to_end"], 2)]
            )
        out.append(
            _table(
                ["frame", "detect", "crop+prep", "emotion", "age/gender", "end-to-end", "e2e (pool)", "e2e CPU ms"],
                rows,
            )
        )
        out.append(
            "  accuracy of this configuration on the dev sets: "
            + accuracy_text((report.get("accuracy") or {}).get("configured"))
        )
        for n, s in stages.items():
            if "source" in s:
                out.append(f"  {n} face(s): {s['source']}")
    prec = report.get("precision")
    if prec and "models" in prec:
        out.append("")
        out.append("fp32 against int8, milliseconds median / p90 (1 thread)" + _others(report, "precision"))
        rows = [
            [name, _mp(m["fp32"]), _mp(m["int8"]), _f(m["int8_speedup"], 2, "x")] for name, m in prec["models"].items()
        ]
        out.append(_table(["model", "fp32", "int8", "int8 speed-up"], rows))
        acc = report.get("accuracy") or {}
        rows = [
            [
                name,
                setting_text(c),
                _mp(c["ms"]),
                _mp(c["photo_ms"]) if "photo_ms" in c else "-",
                accuracy_text(acc.get(name)),
            ]
            for name, c in prec["chain_3_faces"].items()
        ]
        out.append("")
        out.append("Whole chain (FaceAnalyzer.analyze, 1 thread) at each setting, with that setting's dev-set accuracy")
        out.append(
            _table(
                [
                    "setting",
                    "precisions, detection of a photo",
                    "3-face frame ms",
                    "1-face photo ms",
                    "dev-set accuracy (emotion 7-class macro recall %)",
                ],
                rows,
            )
        )
    elif prec and "error" in prec:
        out.append(f"\nfp32 against int8: not measured ({prec['error']})")
    live = report.get("live")
    if live:
        out.append("")
        out.append(
            "Live pipeline at full speed (analysis_fps as high as allowed); CPU over the run, then an event-loop lag probe while it still runs"
        )
        rows = []
        for name, l in live.items():
            if "error" in l:
                rows.append([name, l["error"]] + [""] * 11)
                continue
            rows.append(
                [
                    name,
                    _f(l.get("source_fps"), 1),
                    _f(l.get("analysed_fps"), 1),
                    l.get("frames_skipped", "-"),
                    _f(l.get("faces_median"), 0),
                    _f(l.get("cpu_s_per_frame") and l["cpu_s_per_frame"] * 1000, 1),
                    _f(l.get("cpu_cores"), 2),
                    _f(l["loop_lag"].get("p50_ms"), 2),
                    _f(l["loop_lag"].get("p99_ms"), 2),
                    _f(l["loop_lag"].get("max_ms"), 1),
                    _f(l["frame_to_loop_ms"].get("median"), 1),
                    _f(l.get("peak_rss_mb"), 0),
                    _f(l.get("other_processes_cores"), 2),
                ]
            )
        out.append(
            _table(
                [
                    "source",
                    "source fps",
                    "analysed fps",
                    "skipped",
                    "faces",
                    "CPU ms/frame",
                    "cores busy",
                    "lag p50 ms",
                    "lag p99 ms",
                    "lag max ms",
                    "frame->loop ms",
                    "peak RSS MB",
                    "others' cores",
                ],
                rows,
            )
        )
        for name, l in live.items():
            if "note" in l:
                out.append(f"  {name}: {l['note']}")
        for name, l in live.items():
            parts = l.get("cpu_ms_per_frame_by_part")
            if parts:
                split = ", ".join(f"{part} {ms:.1f}" for part, ms in parts.items())
                out.append(f"  CPU ms per analysed frame by thread, {name}: {split}")
        ld = report.get("live_detection")
        if ld:
            out.append(
                "  accuracy of the live detection policy: "
                + (
                    ld["error"]
                    if "error" in ld
                    else (
                        f"dlib_faces {ld['found']}/{ld['labelled']} faces >= min_face_px found by confirmed tracks, "
                        f"{ld['false_tracks']} false tracks ({ld['frames_per_photo']} frames per photo; reduced input "
                        f"on {100 * (ld['reduced_share'] or 0):.0f} % of frames there)"
                    )
                )
            )
        if report.get("loop_lag_idle"):
            li = report["loop_lag_idle"]
            out.append(f"  idle loop (no pipeline): lag p50 {_f(li['p50_ms'], 2)} ms, p99 {_f(li['p99_ms'], 2)} ms")
    fer = report.get("fer")
    if fer:
        out.append("")
        if not fer.get("available"):
            out.append(f"fer comparison: skipped -- {fer.get('note')}")
        else:
            vs = fer["fer"].get("versions", {})
            out.append(
                f"Against the published fer package "
                f"({', '.join(f'{k} {v}' for k, v in vs.items() if k != 'fer_module')}), "
                f"{fer['photo']} {fer['image_shape'][1]}x{fer['image_shape'][0]}, "
                f"{fer['rounds']} interleaved rounds x {fer['images_per_round']} images, both on 1 thread"
                + _others(report, "fer")
            )
            acc = report.get("accuracy") or {}
            rows = [
                [
                    "ours (configured): detect + emotion + age + gender",
                    _mp(fer["ours"]["ms"]),
                    _f(fer["ours"]["cpu_ms_per_image"], 2),
                    _f(fer["ratio_median"], 2, "x"),
                    _f(fer.get("cpu_ratio"), 2, "x"),
                    fer["ours"]["faces"],
                    fer["ours"]["emotion"],
                    accuracy_text(acc.get("configured")),
                ]
            ]
            for name, var in (fer.get("variants") or {}).items():
                rows.append(
                    [
                        f"ours, {name}",
                        _mp(var["ms"]),
                        _f(var["cpu_ms_per_image"], 2),
                        _f(var["ratio_median"], 2, "x"),
                        _f(var.get("cpu_ratio"), 2, "x"),
                        "",
                        "",
                        accuracy_text(acc.get(name)),
                    ]
                )
            rows.append(
                [
                    "fer: MTCNN + emotion (emotion only)",
                    _mp(fer["fer"]["ms"]),
                    _f(fer["fer"]["cpu_ms_per_image"], 2),
                    "1x",
                    "1x",
                    fer["fer"]["faces"],
                    fer["fer"]["emotion"],
                    accuracy_text(acc.get("fer")) if acc.get("fer") else "not measured (no dev sets)",
                ]
            )
            out.append(
                _table(
                    [
                        "per image",
                        "ms median / p90",
                        "CPU ms",
                        "fer/ours (wall)",
                        "fer/ours (CPU)",
                        "faces",
                        "emotion",
                        "dev-set accuracy",
                    ],
                    rows,
                )
            )
            out.append(f"  fer: {fer['fer'].get('what')}")
            out.append("  per-round ratio fer/ours: " + ", ".join(_f(r["ratio"], 2) for r in fer["per_round"]))
            out.append(
                f"  speed ratio (median of rounds, wall clock): ours is {_f(fer['ratio_median'], 2)}x "
                f"faster (rounds {_f(fer['ratio_min'], 2)}-{_f(fer['ratio_max'], 2)}); "
                f"CPU time ratio {_f(fer.get('cpu_ratio'), 2)}x"
            )
    out.append("")
    lv = (report.get("live") or {}).get("video") or {}
    out.append(
        f"peak RSS: live pipeline process {_f(lv.get('peak_rss_mb'), 1)} MB (camera + models + pipeline); "
        f"this benchmark process {_f(report.get('peak_rss_mb'), 1)} MB (every model variant loaded)"
        + (f"; fer worker {_f(fer['fer'].get('worker_peak_rss_mb'), 1)} MB" if fer and fer.get("available") else "")
    )
    targets = report.get("targets", [])
    if targets:
        out.append("")
        out.append(
            _table(
                ["target", "measured", "goal", "met"],
                [
                    [t["name"], t["measured"], t["goal"], {True: "yes", False: "NO", None: "n/a"}[t["met"]]]
                    for t in targets
                ],
            )
        )
    for note in report.get("notes", []):
        out.append(f"note: {note}")
    return "\n".join(out)


def evaluate_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's speed targets, judged on this run's figures (reported, never enforced)."""
    out = []
    fer = report.get("fer") or {}
    if fer.get("available"):
        r = fer["ratio_median"]
        out.append(
            {
                "name": "one-face analysis vs fer (median of interleaved rounds)",
                "measured": f"{r:.2f}x",
                "goal": ">= 8x",
                "met": r >= 8.0,
            }
        )
        acc = report.get("accuracy") or {}
        keys = ("ckplus48", "ferplus_test_balanced", "muxspace_crowd")
        figure = "emotion 7-class macro recall %"

        def mean_recall(a: dict[str, Any] | None) -> float | None:
            vals = [a[k][figure] for k in keys if a and figure in a.get(k, {})]
            return sum(vals) / len(vals) if len(vals) == len(keys) else None

        ours, theirs = mean_recall(acc.get("configured")), mean_recall(acc.get("fer"))
        if ours is not None and theirs is not None:
            out.append(
                {
                    "name": "emotion accuracy vs fer (mean 7-class recall, CK+ FER+ muxspace, same images)",
                    "measured": f"ours {ours:.1f}, fer {theirs:.1f}",
                    "goal": "equal or better",
                    "met": ours >= theirs,
                }
            )
    else:
        out.append({"name": "one-face analysis vs fer", "measured": "not run", "goal": ">= 8x", "met": None})
    video = (report.get("live") or {}).get("video") or {}
    if video.get("cpu_s_per_frame"):
        ms = video["cpu_s_per_frame"] * 1000
        # the same process also reads and decodes the 30 fps video: the vision threads' share apart
        parts = video.get("cpu_ms_per_frame_by_part") or {}
        extra = f" ({parts['vision']:.1f} the vision threads)" if "vision" in parts else ""
        out.append(
            {
                "name": "CPU ms per analysed 640x480 frame, 3 faces, default cadence",
                "measured": f"{ms:.1f} ms{extra}",
                "goal": "<= 9 ms",
                "met": ms <= 9.0,
            }
        )
        base = (report.get("live") or {}).get(FULL_EVERY_FRAME) or {}
        if base.get("cpu_s_per_frame"):
            ratio = video["cpu_s_per_frame"] / base["cpu_s_per_frame"]
            out.append(
                {
                    "name": "  the same against full-size detection on every frame, same run",
                    "measured": f"{ratio:.2f}x ({ms:.1f} / {base['cpu_s_per_frame'] * 1000:.1f} ms)",
                    "goal": "<= 0.5x",
                    "met": ratio <= 0.5,
                }
            )
    if "analysed_fps" in video:
        busy = video.get("other_processes_cores")
        busy_note = f" (others busy {busy:.2f} cores)" if busy is not None and busy >= 0.25 else ""
        out.append(
            {
                "name": "live pipeline keeps up with 30 fps 640x480, 3 faces",
                "measured": f"{video['analysed_fps']:.1f} of {video.get('source_fps') or 0:.1f} fps{busy_note}",
                "goal": "all source frames",
                "met": video.get("keeps_up"),
            }
        )
        p99 = video["loop_lag"].get("p99_ms")
        out.append(
            {
                "name": "event-loop lag p99 meanwhile",
                "measured": f"{p99:.2f} ms" if p99 is not None else "-",
                "goal": "< 20 ms",
                "met": None if p99 is None else p99 < 20.0,
            }
        )
    else:
        out.append(
            {
                "name": "live pipeline keeps up with 30 fps",
                "measured": "not run",
                "goal": "all source frames",
                "met": None,
            }
        )
    dlib = ((report.get("accuracy") or {}).get("configured") or {}).get("dlib_faces")
    if dlib:
        out.append(
            {
                "name": "dlib_faces, full-size detection",
                "goal": "43 found, 0 FP",
                "measured": f"{dlib['faces found']:.0f} found, {dlib['false positives']:.0f} FP",
                "met": dlib["faces found"] >= 43 and dlib["false positives"] == 0,
            }
        )
    ld = report.get("live_detection") or {}
    if "found" in ld:
        out.append(
            {
                "name": "dlib_faces >= min_face_px through the live policy",
                "goal": "all, 0 false tracks",
                "measured": f"{ld['found']}/{ld['labelled']}, {ld['false_tracks']} false",
                "met": ld["found"] == ld["labelled"] and ld["false_tracks"] == 0,
            }
        )
    return out


# --- the live pipeline ---------------------------------------------------------------------------------

VIDEO_SECONDS = 10  # length of the generated clip (played in a loop)


def make_video(frame, path: Path, seconds: int = VIDEO_SECONDS, fps: int = 30) -> Path:
    """A 640x480 clip at fps from one frame, drifting a few pixels so the faces move like people
    standing in front of a screen.  Tries MP4 (mp4v), then AVI (MJPG)."""
    import cv2
    import numpy as np

    h, w = frame.shape[:2]
    for suffix, fourcc in ((".mp4", "mp4v"), (".avi", "MJPG")):
        out_path = path.with_suffix(suffix)
        writer = cv2.VideoWriter(str(out_path), cv2.VideoWriter.fourcc(*fourcc), float(fps), (w, h))
        if not writer.isOpened():
            continue
        for i in range(seconds * fps):
            t = i / fps
            dx, dy = 12 * np.sin(2 * np.pi * t / 4.0), 5 * np.sin(2 * np.pi * t / 3.0)
            m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
            writer.write(cv2.warpAffine(frame, m, (w, h), borderMode=cv2.BORDER_REPLICATE))
        writer.release()
        cap = cv2.VideoCapture(str(out_path))
        ok = cap.isOpened() and cap.read()[0]
        cap.release()
        if ok:
            return out_path
    raise BenchError("OpenCV could not write a playable video file (no mp4v or MJPG encoder)")


def measure_live(
    config,
    camera_changes: dict[str, Any],
    cache_dir: Path,
    seconds: float,
    *,
    vision_changes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the live pipeline in a fresh child process (so that its CPU time and peak RSS are the
    appliance's, not this benchmark's) and return what it measured."""
    from signage.config import to_dict

    raw = to_dict(config)
    vision = {k: str(v) if isinstance(v, Path) else v for k, v in raw["vision"].items()}
    vision["analysis_fps"] = LIVE_ANALYSIS_FPS
    vision.update(vision_changes or {})
    spec = {
        "base_dir": str(config.base_dir),
        "vision": vision,
        "camera": camera_changes,
        "cache_dir": str(cache_dir),
        "seconds": seconds,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "signage.bench", "--live-child", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=seconds + lag_window_s(seconds) + 180,
        cwd=str(ROOT),
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise BenchError(f"the live run failed (exit {proc.returncode}): {tail}")
    result = json.loads(lines[-1])
    if "error" in result:
        raise BenchError(result["error"])
    return result


#: the live run that detects every frame at full size (the baseline of the frame-cost target)
FULL_EVERY_FRAME = "video, full-size every frame"

#: analysis rate asked of the pipeline for the full-speed runs (the config's maximum)
LIVE_ANALYSIS_FPS = 60.0


async def _live_run(config, cache_dir: Path, seconds: float) -> dict[str, Any]:
    import asyncio
    from signage.camera import Camera

    camera = Camera(config.camera, cache_dir)
    camera.start()
    try:
        deadline = time.monotonic() + 30
        while camera.latest() is None:
            if time.monotonic() > deadline:
                raise BenchError(f"the camera gave no frame in 30 s: {camera.status()}")
            await asyncio.sleep(0.05)
        return await _run_pipeline(config, camera, seconds)
    finally:
        camera.stop()


#: the live process's threads by the part of the appliance they belong to (their name's start).
#: The rest -- the camera's reader and watchdog, and the video decoder's own threads, which
#: libav ends and starts again at each loop of the clip -- is the process's CPU less these.
THREAD_PARTS = (("vision", "vision"), ("MainThread", "event loop"))
#: the name of that rest in cpu_ms_per_frame_by_part
REST_PART = "camera and the rest"


def thread_cpu_clocks() -> dict[str, list[int]]:
    """{part: [CPU-time clock ids]} of this process's running threads of THREAD_PARTS; empty
    where the platform has no per-thread CPU clocks."""
    import threading

    if not hasattr(time, "pthread_getcpuclockid"):
        return {}
    parts: dict[str, list[int]] = {}
    for t in threading.enumerate():
        part = next((name for prefix, name in THREAD_PARTS if t.name.startswith(prefix)), None)
        if t.ident is None or part is None:
            continue
        try:
            parts.setdefault(part, []).append(time.pthread_getcpuclockid(t.ident))
        except OSError:  # the thread ended meanwhile
            continue
    return parts


def read_cpu_clocks(parts: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds so far of each part's threads (a thread that ended counts 0 from then)."""
    out: dict[str, float] = {}
    for part, clocks in parts.items():
        total = 0.0
        for clock in clocks:
            try:
                total += time.clock_gettime(clock)
            except OSError:
                continue
        out[part] = total
    return out


def lag_window_s(seconds: float) -> float:
    """How long the event-loop lag is probed after a live run's CPU window of ``seconds``."""
    return max(1.0, seconds / 3)


async def _run_pipeline(config, camera, seconds: float, warmup_s: float = 1.0) -> dict[str, Any]:
    """VisionPipeline on the camera at full speed: frames and CPU over ``seconds`` after a
    warm-up, then the event loop's lag over ``lag_window_s(seconds)``."""
    import asyncio
    from signage.vision.pipeline import VisionPipeline

    got: list[tuple[int, int, float, dict]] = []  # seq, faces, frame-to-loop latency ms, timings

    def on_result(r) -> None:
        if r.seq >= 0:
            got.append((r.seq, r.faces, (time.monotonic() - r.timestamp) * 1000.0, dict(r.timings_ms)))

    pipe = VisionPipeline(config.vision, camera, on_result, asyncio.get_running_loop())
    pipe.start()  # loads the models (ModelError surfaces here)
    try:
        await asyncio.sleep(warmup_s)
        n0, cam0 = len(got), camera.status()["frames"]
        # CPU by part of the appliance as well as in all: the camera's reading and decoding of
        # the stand-in's mp4 is not analysis (the Pi's camera delivers raw frames)
        clocks = thread_cpu_clocks()
        with OtherLoad() as others:
            t0 = read_cpu_clocks(clocks)
            c0, w0 = time.process_time(), time.perf_counter()
            await asyncio.sleep(seconds)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            t1 = read_cpu_clocks(clocks)
        n1, cam1 = len(got), camera.status()["frames"]
        # The loop's lag, in a window of its own after the CPU window: the probe wakes the loop
        # 200 times a second, and those wakeups cost about 1.6 ms of CPU per analysed frame
        # (measured per thread): the bench's instrument, not the appliance's work.
        probe = LoopLagProbe()
        probe.start()
        await asyncio.sleep(lag_window_s(seconds))
        lag = await probe.stop()
        stats = pipe.status()
    finally:
        pipe.stop()
    window = got[n0:n1]
    frames = len(window)
    seqs = [w[0] for w in window]
    skipped = sum(max(0, b - a - 1) for a, b in zip(seqs, seqs[1:]))
    source_frames = cam1 - cam0
    source_fps = source_frames / wall
    analysed_fps = frames / wall
    # keeping up: (nearly) every frame the source made in the window was analysed
    keeps_up = bool(frames and skipped <= 0.05 * max(1, seqs[-1] - seqs[0] + 1) and analysed_fps >= 0.95 * source_fps)
    classify = [w[3].get("classify", 0.0) for w in window]
    return {
        "seconds": round(wall, 2),
        "source_fps": round(source_fps, 2),
        "analysed_fps": round(analysed_fps, 2),
        "frames_analysed": frames,
        "frames_skipped": skipped,
        "keeps_up": keeps_up,
        "faces_median": percentile([w[1] for w in window], 50),
        "cpu_s": round(cpu, 3),
        "cpu_s_per_frame": round(cpu / frames, 5) if frames else None,
        # per analysed frame, by part of the appliance (THREAD_PARTS, then the rest)
        "cpu_ms_per_frame_by_part": (
            {
                **{part: round((t1[part] - t0[part]) / frames * 1000, 2) for part in t0},
                REST_PART: round((cpu - sum(t1[p] - t0[p] for p in t0)) / frames * 1000, 2),
            }
            if frames and t0
            else {}
        ),
        "cpu_cores": round(cpu / wall, 3),
        "other_processes_cores": others.cores,
        "loop_lag": lag,
        "frame_to_loop_ms": summary([w[2] for w in window]),
        "frame_ms": summary([w[3].get("total", 0.0) for w in window]),
        "detect_ms": summary([w[3].get("detect", 0.0) for w in window]),
        "classify_ms_when_run": summary([c for c in classify if c >= 0.3]),
        "frames_with_classifier_runs": sum(1 for c in classify if c >= 0.3),
        "pipeline_stats": stats,
        "analysis_fps_setting": float(config.vision.analysis_fps),
        "classify_every_s": float(config.vision.classify_every_s),
    }


def _live_child_main(spec_json: str) -> int:
    import asyncio
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        spec = json.loads(spec_json)
        from signage.config import default_config

        config = default_config(spec["base_dir"]).replace(vision=spec["vision"], camera=spec["camera"])
        result = asyncio.run(_live_run(config, Path(spec["cache_dir"]), float(spec["seconds"])))
        result["peak_rss_mb"] = peak_rss_mb()
    except Exception as exc:
        result = {"error": _err(exc)}
    print(json.dumps(_to_jsonable(result)), flush=True)
    return 0


# --- running it ------------------------------------------------------------------------------------------


@dataclass
class Plan:
    stage_reps: int
    precision_reps: int
    fer_rounds: int
    fer_per_round: int
    seconds: float


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_bench(args: argparse.Namespace, config, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every part that can run; returns the report (also when parts failed)."""
    import cv2
    import numpy as np
    import onnxruntime as ort
    from signage.config import to_dict
    from signage.demo_photos import ALL_PHOTOS, DemoPhotosError, fetch_photo

    quick = bool(args.quick)
    plan = Plan(
        stage_reps=args.reps or (5 if quick else 60),
        precision_reps=args.reps or (3 if quick else 40),
        fer_rounds=args.rounds or (2 if quick else 7),
        fer_per_round=args.images or (3 if quick else 20),
        seconds=args.seconds if args.seconds is not None else (1.5 if quick else 15.0),
    )
    vision = to_dict(config)["vision"]
    report: dict[str, Any] = {
        "meta": {
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "python": platform.python_version(),
            "onnxruntime": ort.__version__,
            "numpy": np.__version__,
            "opencv": cv2.__version__,
            "cpu": _cpu_name(),
            "cpus": os.cpu_count(),
            "quick": quick,
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
            "plan": plan.__dict__,
            "vision": {k: str(v) if isinstance(v, Path) else v for k, v in vision.items()},
        },
        "notes": [],
    }
    cache_dir = Path(args.cache_dir) if args.cache_dir else config.storage.data_dir / "cache"
    log(f"[bench] demo photos (cache {cache_dir}) ...")
    paths: dict[str, Path] = {}
    for name in MOSAIC_PHOTOS:
        try:
            paths[name] = fetch_photo(ALL_PHOTOS[name], cache_dir)
        except DemoPhotosError as exc:
            report["notes"].append(f"photo {name} unavailable: {exc}")
    if ONE_FACE_PHOTO not in paths:
        raise BenchError(f"the one-face photo {ONE_FACE_PHOTO} could not be downloaded")
    report["photos"] = {k: str(v) for k, v in paths.items()}

    log("[bench] loading the models ...")
    single = make_analyzer(config, workers=1)
    pooled = make_analyzer(config)
    report["rss_after_models_mb"] = current_rss_mb()
    frames = build_frames(single, paths)

    log(f"[bench] per-stage timing ({plan.stage_reps} frames each) ...")
    stages: dict[str, Any] = {}
    others: dict[str, float | None] = {}
    report["other_processes_cores"] = others
    with OtherLoad() as load:
        for n, fr in frames.items():
            if "error" in fr:
                stages[str(n)] = {"error": fr["error"]}
                continue
            try:
                stages[str(n)] = {"source": fr["source"], **time_stages(single, pooled, fr["image"], plan.stage_reps)}
            except Exception as exc:
                stages[str(n)] = {"error": _err(exc)}
    others["stages"] = load.cores
    report["stages"] = stages

    log(f"[bench] fp32 against int8 ({plan.precision_reps} runs each) ...")
    with OtherLoad() as load:
        try:
            report["precision"] = time_precisions(config, frames, _read(paths[ONE_FACE_PHOTO]), plan.precision_reps)
        except Exception as exc:
            report["precision"] = {"error": _err(exc)}
    others["precision"] = load.cores

    eval_dir = Path(args.eval_dir) if args.eval_dir else default_eval_dir()
    accuracy: dict[str, Any] = {}
    if eval_dir is None or not eval_dir.is_dir():
        report["notes"].append("no dev sets (--eval-dir): speed figures are shown without their accuracy")
    else:
        step = args.eval_every or (20 if quick else 3)
        measured: dict[tuple, dict[str, Any]] = {}
        for name, mix in chain_settings(config).items():
            key = tuple(sorted(mix.items()))
            if key in measured:  # the configured mix is usually "all fp32": measured once
                accuracy[name] = measured[key]
                continue
            log(f"[bench] dev-set accuracy, {name} (1 image in {step} of {eval_dir}) ...")
            try:
                accuracy[name] = measured[key] = dev_accuracy(config, eval_dir, step, **mix)
            except Exception as exc:
                accuracy[name] = {"error": _err(exc)}
        if (eval_dir / "dlib_faces").is_dir():
            try:
                report["live_detection"] = live_detection(config, eval_dir)
            except Exception as exc:
                report["live_detection"] = {"error": _err(exc)}
    report["accuracy"] = accuracy

    live: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="signage-bench-") as tmp:
        tmp_path = Path(tmp)
        try:
            import asyncio

            probe = LoopLagProbe()

            async def idle() -> dict[str, Any]:
                probe.start()
                await asyncio.sleep(min(2.0, plan.seconds))
                return await probe.stop()

            report["loop_lag_idle"] = asyncio.run(idle())
        except Exception as exc:
            report["notes"].append(f"idle loop-lag probe failed: {exc}")
        try:
            if "error" in frames[3]:
                raise BenchError(f"no 3-face frame for the clip: {frames[3]['error']}")
            video = make_video(frames[3]["image"], tmp_path / "three-faces")
            log(f"[bench] live pipeline on the video source ({plan.seconds:g} s) ...")
            live["video"] = measure_live(
                config,
                {"source": "video", "video_path": str(video), "width": FRAME_W, "height": FRAME_H, "fps": 30.0},
                cache_dir,
                plan.seconds,
            )
            live["video"]["note"] = (
                f"{video.suffix[1:]} clip {FRAME_W}x{FRAME_H} 30 fps of the 3-face mosaic "
                f"drifting; classifiers on new tracks, then every "
                f"{config.vision.classify_every_s:g} s per track (the configured cadence)"
            )
        except Exception as exc:
            live["video"] = {"error": _err(exc)}
            video = None
        # the same clip again with one setting changed: the detector at full size on every frame
        # (as before issue 14: the saving measured on this machine, in the same run), and the
        # classifiers at their fastest cadence (their worst case; not in a quick run)
        variants: list[tuple[str, str, dict[str, Any], str]] = [
            (
                FULL_EVERY_FRAME,
                "full-size detection on every frame",
                {"detect_reduced_long_side": 0},
                "the same clip with detect_reduced_long_side = 0: every frame at full size",
            )
        ]
        if not quick:
            variants.append(
                (
                    "video, classify 20/s",
                    "classifiers at their fastest cadence",
                    {"classify_every_s": 0.05},
                    "the same clip with classify_every_s = 0.05 (the minimum): the classifiers' worst case",
                )
            )
        for name, what, changes, note in variants if video is not None else []:
            try:
                log(f"[bench] live pipeline on the video source, {what} ({plan.seconds:g} s) ...")
                live[name] = measure_live(
                    config,
                    {"source": "video", "video_path": str(video), "width": FRAME_W, "height": FRAME_H, "fps": 30.0},
                    cache_dir,
                    plan.seconds,
                    vision_changes=changes,
                )
                live[name]["note"] = note
            except Exception as exc:
                live[name] = {"error": _err(exc)}
        try:
            slides = tmp_path / "photos"
            slides.mkdir()
            for name, p in paths.items():
                (slides / f"{name}{p.suffix}").symlink_to(p)
            log(f"[bench] live pipeline on the photos source ({plan.seconds:g} s) ...")
            live["photos"] = measure_live(
                config,
                {
                    "source": "photos",
                    "photos_dir": str(slides),
                    "photo_seconds": 1.0,
                    "width": FRAME_W,
                    "height": FRAME_H,
                    "fps": 30.0,
                },
                cache_dir,
                plan.seconds,
            )
            live["photos"]["note"] = (
                f"{len(paths)} real photos letterboxed to {FRAME_W}x{FRAME_H}, each shown 1 s at 30 fps"
            )
        except Exception as exc:
            live["photos"] = {"error": _err(exc)}
    report["live"] = live

    fer: dict[str, Any] = {"available": False}
    peer = None if args.no_fer else load_fer_peer()
    if args.no_fer:
        fer["note"] = "--no-fer"
    elif peer is None:
        fer["note"] = f"the fer peer benchmark ({PEER_FER}) is not here: run from a repository checkout"
    else:
        py, why = peer.ensure_fer_venv(log=log)
        if py is None:
            fer["note"] = why
        else:
            log(f"[bench] fer comparison ({plan.fer_rounds} rounds x {plan.fer_per_round} images) ...")
            worker = None
            # the same chain without the photo fast path, timed in the same rounds
            full_only = make_analyzer(config, workers=1, **chain_settings(config)["full-size detection only"])
            try:
                worker = peer.FerWorker(py, peer.FER_VENV / "worker.log")
                with OtherLoad() as load:
                    fer = {
                        "available": True,
                        **peer.compare_fer(
                            single,
                            paths[ONE_FACE_PHOTO],
                            worker,
                            plan.fer_rounds,
                            plan.fer_per_round,
                            variants={"full-size detection only": full_only},
                        ),
                    }
                if eval_dir is not None and eval_dir.is_dir():
                    step = args.eval_every or (20 if quick else 3)
                    log(f"[bench] fer's dev-set accuracy (1 image in {step}) ...")
                    try:
                        accuracy["fer"] = peer.fer_dev_accuracy(worker, eval_dir, step)
                    except Exception as exc:
                        accuracy["fer"] = {"error": _err(exc)}
                # "others" here includes the fer worker itself: report what is left after it
                fer_cores = fer["fer"]["cpu_ms_per_image"] * plan.fer_rounds * plan.fer_per_round / 1000
                others["fer"] = (
                    None if load.cores is None else round(max(0.0, load.cores - fer_cores / max(1e-9, load.wall)), 2)
                )
            except Exception as exc:
                fer["note"] = f"the fer run failed: {exc}"
            finally:
                full_only.close()
                if worker is not None:
                    worker.close()
    report["fer"] = fer
    if not fer.get("available"):
        report["notes"].append(f"fer comparison skipped: {fer.get('note')}")
    single.close()
    pooled.close()
    report["peak_rss_mb"] = peak_rss_mb()
    report["meta"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    # judged on the load before the run (the end figure includes this benchmark's own work)
    busy = report["meta"]["loadavg_start"][0]
    if busy > 0.5 * (os.cpu_count() or 1):
        report["notes"].append(
            f"the machine was busy with other work before the run (1-min load average "
            f"{busy:.1f} on {os.cpu_count()} cores): wall-clock figures may be inflated; "
            f"the CPU-time figures are the steadier ones"
        )
    report["targets"] = evaluate_targets(report)
    return report


def _to_jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    return obj


def cmd_bench(args: argparse.Namespace, config) -> int:
    """`bench` command: run, print the table, write the JSON.  Exit 0 unless nothing could run."""
    import logging

    logging.getLogger("signage").setLevel(logging.WARNING)
    t0 = time.perf_counter()
    try:
        report = run_bench(args, config, log=lambda m: print(m, file=sys.stderr, flush=True))
    except Exception as exc:  # models missing, photos unobtainable, ...
        print(f"signage bench: cannot run: {exc}", file=sys.stderr)
        return 1
    report["meta"]["seconds"] = round(time.perf_counter() - t0, 1)
    print(render(report))
    out = Path(args.json_out)
    try:
        out.write_text(json.dumps(_to_jsonable(report), indent=2) + "\n")
        print(f"\nwrote {out}")
    except OSError as exc:
        print(f"signage bench: could not write {out}: {exc}", file=sys.stderr)
        return 1
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="few rounds (a smoke run, not a measurement)")
    p.add_argument("--no-fer", action="store_true", help="skip the comparison with the fer package")
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        metavar="N",
        help="seconds of each live pipeline run (default 15; 1.5 with --quick)",
    )
    p.add_argument(
        "--json-out",
        default="bench-results.json",
        metavar="PATH",
        help="where to write the JSON results (default: bench-results.json)",
    )
    p.add_argument("--reps", type=int, default=None, metavar="N", help="frames per per-stage measurement")
    p.add_argument("--rounds", type=int, default=None, metavar="N", help="interleaved rounds against fer (default 7)")
    p.add_argument("--images", type=int, default=None, metavar="N", help="images per round against fer (default 20)")
    p.add_argument(
        "--eval-dir",
        default=None,
        metavar="DIR",
        help="dev sets to put accuracy beside each speed figure (default: ../shared/eval when present)",
    )
    p.add_argument(
        "--eval-every",
        type=int,
        default=None,
        metavar="N",
        help="use 1 image in N of each dev set for those figures (default 3; 20 with --quick)",
    )
    p.add_argument(
        "--cache-dir",
        default=None,
        metavar="DIR",
        help="download cache for the demo photos (default: <storage.data_dir>/cache)",
    )


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="speed benchmark of the vision chain (prints a table, writes JSON)")
    add_arguments(p)
    p.set_defaults(func=cmd_bench)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--live-child"] and len(argv) == 2:
        return _live_child_main(argv[1])
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config",
        default=None,
        metavar="PATH",
        help="config file (default: ./config.toml if present, else the defaults)",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    from signage.config import ConfigError, default_config, load_config

    try:
        if args.config:
            config = load_config(args.config)
        elif Path("config.toml").is_file():
            config = load_config("config.toml")
        else:
            config = default_config(ROOT)
    except ConfigError as exc:
        print(f"signage bench: config error: {exc}", file=sys.stderr)
        return 2
    return cmd_bench(args, config)


if __name__ == "__main__":
    sys.exit(main())
