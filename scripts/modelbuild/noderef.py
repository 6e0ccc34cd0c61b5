"""Run face-api.js in node (pure-JS tfjs CPU backend) to get reference outputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from signage.registry import RegistryError, fetch_package

from . import faceapi, sources

TFJS_VERSION = "4.22.0"  # the version face-api 1.7.15's dist was built against
HERE = Path(__file__).resolve().parent


class NodeUnavailable(RuntimeError):
    pass


def ensure_node_env(cache_dir: Path) -> Path:
    """npm-install face-api (the sha-checked tarball) + tfjs into cache_dir/node; return that dir."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise NodeUnavailable("node/npm not found on PATH")
    tgz = fetch_package(sources.FACE_API, cache_dir / "registry")
    d = cache_dir / "node"
    stamp = d / ".stamp"
    want = f"{tgz.name} tfjs@{TFJS_VERSION}"
    if stamp.exists() and stamp.read_text() == want and (d / "node_modules" / "@vladmandic" / "face-api").is_dir():
        return d
    d.mkdir(parents=True, exist_ok=True)
    (d / "package.json").write_text(json.dumps({"name": "signage-models-build-ref", "private": True}))
    cmd = [
        npm,
        "install",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "--no-save",
        f"@tensorflow/tfjs@{TFJS_VERSION}",
        f"@tensorflow/tfjs-backend-wasm@{TFJS_VERSION}",
        str(tgz),
    ]
    proc = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
    if proc.returncode != 0:
        raise NodeUnavailable(f"npm install failed: {proc.stderr[-2000:]}")
    stamp.write_text(want)
    return d


def reference(kind: str, x_nchw: np.ndarray, cache_dir: Path) -> tuple[np.ndarray, str]:
    """face-api.js outputs for NCHW RGB 0..255 crops: emotion -> [N,7]; age_gender -> [N,3]."""
    d = ensure_node_env(cache_dir)
    pkg = d / "node_modules" / "@vladmandic" / "face-api"
    x = np.ascontiguousarray(x_nchw.transpose(0, 2, 3, 1), np.float32)
    if kind == "age_gender":
        # the fork divides by 255; feed mean + (x - mean) * 255/256 so that it computes (x - mean)/256
        mean = np.array(faceapi.MEAN_RGB, np.float32)
        x = (mean + (x - mean) * np.float32(255.0 / 256.0)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="faceapi-ref-") as tmpd:
        fin, fout = Path(tmpd) / "in.f32", Path(tmpd) / "out.f32"
        fin.write_bytes(x.tobytes())
        script = d / "faceapi_ref.js"  # run from d so that require() finds node_modules there
        shutil.copyfile(HERE / "faceapi_ref.js", script)
        cmd = [
            shutil.which("node") or "node",
            str(script),
            str(pkg / "dist" / "face-api.node-wasm.js"),
            str(pkg / "model"),
            kind,
            str(fin),
            str(len(x)),
            str(fout),
        ]
        proc = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RegistryError(f"face-api.js reference run failed: {proc.stderr[-2000:]}")
        out = np.frombuffer(fout.read_bytes(), np.float32).reshape(len(x), 7 if kind == "emotion" else 3)
    return out.copy(), proc.stdout.strip()
