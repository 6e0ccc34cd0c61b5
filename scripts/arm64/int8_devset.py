#!/usr/bin/env python3
"""int8 against fp32 on fixed subsets of the dev sets, on any CPU (used for models/README.md).

    # host, project venv: the model inputs of 210 emotion faces (70 each of FER+, muxspace, CK+)
    # and 200 UTKFace faces, cut like `analyze --crop` (the whole image is the face crop)
    .venv/bin/python scripts/arm64/int8_devset.py prep ../shared/eval /tmp/int8-in
    # any machine with onnxruntime + numpy (e.g. inside the check-arm64 root, QEMU_CPU=...)
    python3 int8_devset.py run /tmp/int8-in models/ TAG      # writes /tmp/int8-in/TAG.npz
    # host: the figures
    .venv/bin/python scripts/arm64/int8_devset.py report /tmp/int8-in TAG [TAG...]

The inputs are computed once on the host so every CPU sees the same tensors: what is compared is
the models' arithmetic, the only part that differs between CPUs (fp32 parity of the whole
pipeline, image decoding included, is checked by scripts/check-arm64).  Age/gender averages each
crop with its mirror image, as the appliance does.  The labelled photos stay in ../shared/eval;
only the tensors derived from them go to /tmp, never into the repository.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import numpy as np

EMOTION_SETS = ("ferplus_test_balanced", "muxspace_crowd", "ckplus48")
PER_SET = 70
UTK = "utkface_crop"
UTK_N = 200
#: face-api output order -> the dev sets' labels
FACEAPI_EMOTIONS = ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise")
MODELS = ("emotion_faceapi", "age_gender_faceapi")


def _spread(rows: list[dict], n: int) -> list[dict]:
    """n rows evenly spread over the rows sorted by path (a fixed, label-balanced subset)."""
    rows = sorted(rows, key=lambda r: r["path"])
    step = len(rows) / n
    return [rows[int(i * step)] for i in range(n)]


def prep(eval_dir: str, out_dir: str) -> int:
    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root))
    from signage.vision.classifiers import INPUT_SIZE, _to_batch
    from signage.vision.evaluate import read_image

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def load(folder: Path, rows: list[dict], size: int) -> np.ndarray:
        imgs = [read_image(folder / r["path"]) for r in rows]
        return _to_batch([np.repeat(i[:, :, None], 3, 2) if i.ndim == 2 else i for i in imgs], size)

    xs, labels = [], []
    for name in EMOTION_SETS:
        folder = Path(eval_dir) / name
        rows = [
            r for r in csv.DictReader(open(folder / "manifest.csv", newline="")) if r.get("emotion") in FACEAPI_EMOTIONS
        ]
        rows = _spread(rows, PER_SET)
        xs.append(load(folder, rows, INPUT_SIZE["emotion"]))
        labels += [{"set": name, "path": r["path"], "emotion": r["emotion"]} for r in rows]
    np.save(out / "emotion.npy", np.concatenate(xs))
    _write_csv(out / "emotion.csv", labels)
    folder = Path(eval_dir) / UTK
    rows = _spread(list(csv.DictReader(open(folder / "manifest.csv", newline=""))), UTK_N)
    x = load(folder, rows, INPUT_SIZE["age_gender"])
    np.save(out / "age_gender.npy", np.ascontiguousarray(np.concatenate([x, x[:, :, :, ::-1]])))
    _write_csv(out / "age_gender.csv", [{"path": r["path"], "age": r["age"], "gender": r["gender"]} for r in rows])
    print(f"prep: {len(labels)} emotion faces, {len(rows)} age/gender faces (+ mirror images) -> {out}")
    return 0


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def run(in_dir: str, models_dir: str, tag: str, precisions: str = "fp32,int8") -> int:
    import onnxruntime as ort

    res = {}
    for stem in MODELS:
        x = np.load(Path(in_dir) / f"{stem.split('_faceapi')[0]}.npy")
        for prec in precisions.split(","):
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            s = ort.InferenceSession(
                str(Path(models_dir) / f"{stem}.{prec}.onnx"), so, providers=["CPUExecutionProvider"]
            )
            t0 = time.monotonic()
            outs = [s.run(None, {"input": x[i : i + 50]}) for i in range(0, len(x), 50)]
            for k in range(len(outs[0])):
                res[f"{stem}.{prec}|{k}"] = np.concatenate([o[k] for o in outs])
            print(f"run {tag}: {stem}.{prec} on {len(x)} inputs in {time.monotonic() - t0:.0f} s", flush=True)
    np.savez(Path(in_dir) / f"{tag}.npz", **res)
    return 0


def _emotion(p: np.ndarray, labels: list[dict]) -> dict[str, float]:
    pred = p.argmax(1)
    out = {}
    for name in (*EMOTION_SETS, "all"):
        idx = [i for i, r in enumerate(labels) if name in ("all", r["set"])]
        t = np.array([FACEAPI_EMOTIONS.index(labels[i]["emotion"]) for i in idx])
        pr = pred[idx]
        out[name] = 100 * float(np.mean([(pr[t == c] == c).mean() for c in range(7) if (t == c).any()]))
    out["mean of sets"] = float(np.mean([out[n] for n in EMOTION_SETS]))
    return out


def _age_gender(age: np.ndarray, gender: np.ndarray, labels: list[dict]) -> tuple[float, float]:
    n = len(labels)
    a, g = (age[:n] + age[n:]) / 2, (gender[:n] + gender[n:]) / 2  # crop and mirror image
    true_age = np.array([float(r["age"]) for r in labels])
    female = np.array([r["gender"] == "female" for r in labels])
    return float(np.abs(a - true_age).mean()), 100 * float(((g[:, 1] > 0.5) == female).mean())


def report(in_dir: str, *tags: str) -> int:
    d = Path(in_dir)
    emo_labels = list(csv.DictReader(open(d / "emotion.csv", newline="")))
    ag_labels = list(csv.DictReader(open(d / "age_gender.csv", newline="")))
    print("| run | model | fp32 | int8 | int8 - fp32 | int8 = fp32 label |")
    print("|---|---|---|---|---|---|")
    ref = None
    for tag in tags:
        r = dict(np.load(d / f"{tag}.npz"))
        ref = ref or r
        base = r if "emotion_faceapi.fp32|0" in r else ref
        e32, e8 = (
            _emotion(base["emotion_faceapi.fp32|0"], emo_labels),
            _emotion(r["emotion_faceapi.int8|0"], emo_labels),
        )
        agree = 100 * float((base["emotion_faceapi.fp32|0"].argmax(1) == r["emotion_faceapi.int8|0"].argmax(1)).mean())
        for k in (*EMOTION_SETS, "mean of sets"):
            print(
                f"| {tag} | emotion mean recall, {k} ({PER_SET if k in EMOTION_SETS else 3 * PER_SET}) | "
                f"{e32[k]:.1f} | {e8[k]:.1f} | {e8[k] - e32[k]:+.1f} | {f'{agree:.1f}' if k == 'mean of sets' else ''} |"
            )
        m32, g32 = _age_gender(base["age_gender_faceapi.fp32|0"], base["age_gender_faceapi.fp32|1"], ag_labels)
        m8, g8 = _age_gender(r["age_gender_faceapi.int8|0"], r["age_gender_faceapi.int8|1"], ag_labels)
        n = len(ag_labels)
        same_g = 100 * float(
            (
                ((base["age_gender_faceapi.fp32|1"][:n] + base["age_gender_faceapi.fp32|1"][n:])[:, 1] > 1)
                == ((r["age_gender_faceapi.int8|1"][:n] + r["age_gender_faceapi.int8|1"][n:])[:, 1] > 1)
            ).mean()
        )
        print(f"| {tag} | age MAE, years ({n}) | {m32:.2f} | {m8:.2f} | {m8 - m32:+.2f} | |")
        print(f"| {tag} | gender accuracy ({n}) | {g32:.1f} | {g8:.1f} | {g8 - g32:+.1f} | {same_g:.1f} |")
    if len(tags) > 1:  # the int8 outputs of each run against the first
        first = dict(np.load(d / f"{tags[0]}.npz"))
        for tag in tags[1:]:
            r = dict(np.load(d / f"{tag}.npz"))
            for k in sorted(k for k in r if ".int8|" in k):
                print(f"{tag} vs {tags[0]}: {k} max abs difference {float(np.abs(r[k] - first[k]).max()):.3g}")
    return 0


if __name__ == "__main__":
    cmd, *rest = sys.argv[1:] or ["help"]
    fn = {"prep": prep, "run": run, "report": report}.get(cmd)
    if fn is None:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(fn(*rest))
