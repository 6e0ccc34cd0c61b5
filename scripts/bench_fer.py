"""The peer benchmark: the published ``fer`` package, in its own virtual environment.

Used by ``./scripts/bench`` / ``python -m signage bench`` (signage/bench.py loads this file from
the repository's scripts/ folder when it is there); it is not part of the appliance.

* ``ensure_fer_venv`` builds ``.bench-venv-fer/`` once with pinned versions (TensorFlow and
  PyTorch: several GB, 10+ minutes on first use);
* this file run with that venv's Python (``python bench_fer.py --fer-worker``) is the worker: a
  persistent subprocess speaking JSON lines, so that its start-up is not timed; it imports only
  the standard library, numpy, OpenCV and fer (``signage`` is not installed there);
* ``compare_fer`` alternates ours and fer in interleaved rounds on one photo, both on one thread;
  the speed ratio is the median of the per-round ratios.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def peak_rss_mb() -> float:
    """Peak resident set size of this process (VmHWM on Linux, else ru_maxrss), MB."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024, 1)


# --- the fer reference: its own venv -------------------------------------------------------------

FER_VENV = ROOT / ".bench-venv-fer"
#: Pinned so that the reference is the same program on every machine.  fer 25.10.3 runs MTCNN with
#: facenet-pytorch (torch) and its mini-Xception emotion net with Keras (TensorFlow).  TensorFlow
#: 2.15 is the last with Keras 2 (loads fer's .hdf5 as published) and needs Python <= 3.11 and
#: numpy < 2; facenet-pytorch 2.6.0 pins torch 2.2 / torchvision 0.17 (PyPI's builds carry CUDA
#: libraries; the worker hides every GPU).
FER_REQUIREMENTS = (
    "fer==25.10.3",
    "tensorflow==2.15.1",
    "facenet-pytorch==2.6.0",
    "torch==2.2.2",
    "torchvision==0.17.2",
    "numpy==1.26.4",
    "Pillow==10.2.0",
    "opencv-contrib-python==4.9.0.80",
    "pandas==2.2.3",
    "matplotlib==3.9.4",
    "moviepy==1.0.3",
    "ffmpeg-python==0.2.0",
    "requests==2.32.3",
    "tqdm==4.67.1",
    "setuptools==70.3.0",  # fer imports pkg_resources
)
FER_INSTALL_TIMEOUT_S = 45 * 60


def _fer_python_candidates() -> list[str]:
    """Interpreters that TensorFlow 2.15 supports (3.9-3.11), best first."""
    out = []
    for name in (os.environ.get("BENCH_FER_PYTHON", ""), "python3.11", "python3.10", "python3.9"):
        if name and shutil.which(name):
            out.append(shutil.which(name))
    if sys.version_info[:2] <= (3, 11):
        base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        if base.exists():
            out.append(str(base))
    return out


def fer_venv_python(venv: Path = FER_VENV) -> Path:
    return venv / "bin" / "python"


def ensure_fer_venv(venv: Path = FER_VENV, *, log: Callable[[str], None] = print) -> tuple[Path | None, str]:
    """Create (once) the fer venv.  Returns (its python, "") or (None, why it cannot be had).

    Never raises: a benchmark without the reference still reports the rest.
    """
    stamp = venv / ".bench-fer-installed"
    want = "\n".join(FER_REQUIREMENTS)
    py = fer_venv_python(venv)
    if py.exists() and stamp.exists() and stamp.read_text() == want:
        return py, ""
    try:
        if not py.exists():
            cands = _fer_python_candidates()
            if not cands:
                return None, (
                    "no Python 3.9-3.11 found for the fer venv (TensorFlow 2.15 needs one; "
                    "set BENCH_FER_PYTHON=/path/to/python3.11)"
                )
            log(
                f"[bench] creating {venv} with {cands[0]} (first use; downloads TensorFlow and "
                f"PyTorch, several GB, may take 10+ minutes)"
            )
            subprocess.run([cands[0], "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
            # keep the venv out of git without touching the repository's .gitignore
            (venv / ".gitignore").write_text("*\n")
        log(f"[bench] installing the fer reference into {venv}: {' '.join(FER_REQUIREMENTS[:5])} ...")
        log_path = venv / "install.log"
        with open(log_path, "w") as fh:
            proc = subprocess.run(
                [str(py), "-m", "pip", "install", "--no-input", "--progress-bar", "off", *FER_REQUIREMENTS],
                stdout=fh,
                stderr=subprocess.STDOUT,
                timeout=FER_INSTALL_TIMEOUT_S,
            )
        if proc.returncode != 0:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
            return None, f"pip install into {venv} failed ({' | '.join(tail)}; full log: {log_path})"
        check = subprocess.run(
            [str(py), "-c", "import fer, tensorflow, facenet_pytorch, cv2"],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        if check.returncode != 0:
            tail = check.stderr.strip().splitlines()[-1:] or ["?"]
            return None, f"the fer venv does not import ({tail[0]})"
        stamp.write_text(want)
        return py, ""
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not build the fer venv {venv}: {exc}"


# --- fer worker: runs inside the fer venv (stdlib + numpy + cv2 + fer only) ------------------------


def _fer_worker_main() -> int:
    """JSON lines over stdin/stdout.  Commands: {"cmd": "load", "key", "path"},
    {"cmd": "run", "key", "n"} -> {"ms": [...], "cpu_s", "faces", "top"}, {"cmd": "quit"}."""
    for name in (
        "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
    ):
        os.environ[name] = "1"
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    # the protocol owns the real stdout; whatever the libraries print goes to stderr
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(obj: dict) -> None:
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    try:
        import cv2
        import numpy as np  # noqa: F401
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        try:
            tf.config.set_visible_devices([], "GPU")
        except Exception:
            pass
        import torch

        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
        cv2.setNumThreads(1)
        import fer as fer_pkg

        try:
            from fer import FER
        except ImportError:  # fer 25.10.3's __init__ no longer re-exports FER (its README still uses it)
            from fer.fer import FER
        detector = FER(mtcnn=True)
    except Exception as exc:  # report, don't crash the parent
        send({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return 1
    from importlib import metadata

    versions = {}
    for dist in ("fer", "tensorflow", "torch", "facenet-pytorch", "opencv-contrib-python", "numpy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    versions["fer_module"] = getattr(fer_pkg, "__version__", "?")
    send(
        {
            "ready": True,
            "versions": versions,
            "python": platform.python_version(),
            "use_tflite": getattr(detector, "use_tflite", None),
        }
    )
    images: dict[str, Any] = {}
    for line in sys.stdin:
        try:
            msg = json.loads(line)
            cmd = msg.get("cmd")
            if cmd == "quit":
                send({"ok": True})
                break
            if cmd == "load":
                img = cv2.imread(msg["path"], cv2.IMREAD_COLOR)
                if img is None:
                    send({"error": f"cannot read {msg['path']}"})
                    continue
                images[msg["key"]] = img
                send({"ok": True, "shape": list(img.shape)})
            elif cmd == "emotions":
                # fer's emotion scores of the largest face of each image; when fer finds no face,
                # the whole image is the face (what our eval does too), so both are judged on
                # every image
                out = []
                for path in msg["paths"]:
                    img = cv2.imread(path, cv2.IMREAD_COLOR)
                    if img is None:
                        out.append(None)
                        continue
                    faces = detector.detect_emotions(img)
                    found = bool(faces)
                    if not faces:
                        faces = detector.detect_emotions(img, face_rectangles=[(0, 0, img.shape[1], img.shape[0])])
                    if not faces:
                        out.append(None)
                        continue
                    best = max(faces, key=lambda f: f["box"][2] * f["box"][3])
                    out.append({"scores": best.get("emotions", {}), "found": found})
                send({"results": out})
            elif cmd == "run":
                img = images[msg["key"]]
                ms: list[float] = []
                result: Any = []
                c0 = time.process_time()
                for _ in range(int(msg.get("n", 1))):
                    t0 = time.perf_counter()
                    result = detector.detect_emotions(img)
                    ms.append((time.perf_counter() - t0) * 1000.0)
                cpu = time.process_time() - c0
                top = None
                if result:
                    emo = result[0].get("emotions", {})
                    top = max(emo, key=emo.get) if emo else None
                send({"ms": ms, "cpu_s": cpu, "faces": len(result), "top": top, "maxrss_mb": peak_rss_mb()})
            else:
                send({"error": f"unknown command {cmd!r}"})
        except Exception as exc:
            send({"error": f"{type(exc).__name__}: {exc}"})
    return 0


class FerWorker:
    """The parent's side of the fer subprocess (JSON lines; stderr goes to a log file)."""

    def __init__(self, python: Path, log_path: Path, *, start_timeout: float = 600.0):
        self.log_path = log_path
        self._log = open(log_path, "w")
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONNOUSERSITE": "1"}
        env.pop("PYTHONPATH", None)
        # -I: isolated mode, so nothing of the repository is on the worker's sys.path
        self.proc = subprocess.Popen(
            [str(python), "-I", "-u", str(Path(__file__).resolve()), "--fer-worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
            env=env,
            cwd=tempfile.gettempdir(),
        )
        hello = self._read(start_timeout)
        if not hello.get("ready"):
            self.close()
            raise RuntimeError(f"the fer worker did not start: {hello.get('error') or self._log_tail()}")
        self.versions = hello.get("versions", {})
        self.use_tflite = hello.get("use_tflite")

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
            return " | ".join(lines[-2:]) or "no message"
        except OSError:
            return "no message"

    def _read(self, timeout: float) -> dict:
        result: dict = {}

        def reader() -> None:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if line:
                try:
                    result.update(json.loads(line))
                except json.JSONDecodeError:
                    result["error"] = f"bad line from the fer worker: {line[:120]!r}"
            else:
                result["error"] = f"the fer worker exited ({self._log_tail()})"

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            self.proc.kill()
            return {"error": f"the fer worker did not answer within {timeout:.0f} s"}
        return result

    def call(self, msg: dict, timeout: float = 600.0) -> dict:
        if self.proc.poll() is not None or self.proc.stdin is None:
            raise RuntimeError(f"the fer worker is not running ({self._log_tail()})")
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        answer = self._read(timeout)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def close(self) -> None:
        try:
            if self.proc.poll() is None and self.proc.stdin is not None:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


#: dev sets with emotion labels that fer's accuracy is measured on (the bench's accuracy step)
FER_EMOTION_SETS = ("ckplus48", "ferplus_test_balanced", "muxspace_crowd")


def fer_dev_accuracy(worker: FerWorker, eval_dir: Path, step: int) -> dict[str, Any]:
    """fer's 7-class macro recall on every ``step``-th image of the emotion dev sets, named as
    our figures are (signage.vision.evaluate.figures), so both sit side by side."""
    import csv

    import numpy as np

    from signage.vision.classifiers import EMOTIONS
    from signage.vision.evaluate import emotion_metrics

    out: dict[str, Any] = {"step": step}
    for name in FER_EMOTION_SETS:
        folder = eval_dir / name
        if not (folder / "manifest.csv").is_file():
            continue
        with open(folder / "manifest.csv", newline="", encoding="utf-8") as fh:
            # the rows our own figures use (evaluate_folder's every step-th row), labelled ones
            rows = [r for r in list(csv.DictReader(fh))[::step] if (r.get("emotion") or "").strip()]
        answer = worker.call({"cmd": "emotions", "paths": [str(folder / r["path"]) for r in rows]}, timeout=3600)
        true, scores, missed = [], [], 0
        for r, res in zip(rows, answer["results"], strict=True):
            if res is None:
                continue
            true.append(r["emotion"].strip().lower())
            scores.append([float(res["scores"].get(e, 0.0)) for e in EMOTIONS])
            missed += 0 if res["found"] else 1
        m = emotion_metrics(true, np.array(scores).reshape(-1, len(EMOTIONS)), EMOTIONS)
        if m["mean_recall"] is not None:
            out[name] = {"emotion 7-class macro recall %": 100 * m["mean_recall"], "no face found": missed}
    return out


def _time_analyze(analyzer: Any, img: Any, times: int) -> tuple[list[float], float]:
    """`analyzer.analyze(img)` `times` times: wall ms of each, and the CPU seconds of all."""
    ms = []
    c0 = time.process_time()
    for _ in range(times):
        t0 = time.perf_counter()
        analyzer.analyze(img)
        ms.append((time.perf_counter() - t0) * 1000.0)
    return ms, time.process_time() - c0


def compare_fer(
    single: Any,
    photo: Path,
    worker: FerWorker,
    rounds: int,
    per_round: int,
    warmup: int = 5,
    variants: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Interleaved rounds on one photo: ours (detect + emotion + age/gender, one thread) against
    fer's detect_emotions (emotion only, one thread).  Ratio = median of the per-round ratios of
    median milliseconds; the order alternates (ours first in odd rounds, fer first in even).

    variants: other settings of ours ({name: analyser}), timed in the same rounds right after
    ours, so that their ratio to fer is measured under the same load."""
    variants = variants or {}
    import cv2

    from signage.bench import _read, percentile, summary

    img = _read(photo)
    worker.call({"cmd": "load", "key": "one", "path": str(photo)})
    prev_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # the fer worker does the same: both sides single-threaded
    try:
        warm = worker.call({"cmd": "run", "key": "one", "n": warmup})
        ours_res = None
        for _ in range(warmup):
            ours_res = single.analyze(img)
        rows = []
        ours_all: list[float] = []
        fer_all: list[float] = []
        ours_cpu = fer_cpu = 0.0
        var_ms: dict[str, list[float]] = {k: [] for k in variants}
        var_cpu: dict[str, float] = {k: 0.0 for k in variants}
        var_ratio: dict[str, list[float]] = {k: [] for k in variants}
        for an in variants.values():
            for _ in range(warmup):
                an.analyze(img)
        for r in range(rounds):
            order = ("ours", "fer") if r % 2 == 0 else ("fer", "ours")
            row: dict[str, Any] = {"round": r + 1, "first": order[0]}
            for who in order:
                if who == "ours":
                    ms, cpu = _time_analyze(single, img, per_round)
                    ours_cpu += cpu
                    row["ours_ms"] = round(percentile(ms, 50) or 0.0, 2)
                    ours_all += ms
                    for name, an in variants.items():
                        ms, cpu = _time_analyze(an, img, per_round)
                        var_cpu[name] += cpu
                        var_ms[name] += ms
                        row[f"{name} ms"] = round(percentile(ms, 50) or 0.0, 2)
                else:
                    ans = worker.call({"cmd": "run", "key": "one", "n": per_round})
                    fer_cpu += ans["cpu_s"]
                    row["fer_ms"] = round(percentile(ans["ms"], 50) or 0.0, 2)
                    fer_all += ans["ms"]
            row["ratio"] = round(row["fer_ms"] / row["ours_ms"], 2)
            for name in variants:
                var_ratio[name].append(row["fer_ms"] / row[f"{name} ms"])
            rows.append(row)
    finally:
        cv2.setNumThreads(prev_threads)
    last = worker.call({"cmd": "run", "key": "one", "n": 1})
    n = rounds * per_round
    return {
        "photo": photo.name,
        "image_shape": list(img.shape),
        "rounds": rounds,
        "images_per_round": per_round,
        "ours": {
            "what": "detection + emotion + age + gender (FaceAnalyzer.analyze, 1 thread)",
            "ms": summary(ours_all),
            "cpu_ms_per_image": round(ours_cpu / n * 1000, 2),
            "faces": len(ours_res or []),
            "emotion": ours_res[0].emotion if ours_res else None,
        },
        "fer": {
            "what": "FER(mtcnn=True).detect_emotions: facenet-pytorch MTCNN + mini-Xception "
            f"({'TFLite, fer default' if worker.use_tflite else 'Keras'}); emotion only, 1 thread",
            "ms": summary(fer_all),
            "cpu_ms_per_image": round(fer_cpu / n * 1000, 2),
            "faces": last.get("faces"),
            "emotion": last.get("top"),
            "worker_peak_rss_mb": last.get("maxrss_mb"),
            "versions": worker.versions,
            "warmup_ms": round(percentile(warm["ms"], 50), 2),
        },
        "variants": {
            name: {
                "ms": summary(var_ms[name]),
                "cpu_ms_per_image": round(var_cpu[name] / n * 1000, 2),
                "ratio_median": round(percentile(var_ratio[name], 50) or 0.0, 2),
                "cpu_ratio": round(fer_cpu / var_cpu[name], 2) if var_cpu[name] > 0 else None,
            }
            for name in variants
        },
        "per_round": rows,
        "ratio_median": round(percentile([r["ratio"] for r in rows], 50) or 0.0, 2),
        "cpu_ratio": round(fer_cpu / ours_cpu, 2) if ours_cpu > 0 else None,
        "ratio_min": round(min(r["ratio"] for r in rows), 2),
        "ratio_max": round(max(r["ratio"] for r in rows), 2),
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--fer-worker"]:
        sys.exit(_fer_worker_main())
    print("usage: python bench_fer.py --fer-worker  (started by ./scripts/bench)", file=sys.stderr)
    sys.exit(2)
