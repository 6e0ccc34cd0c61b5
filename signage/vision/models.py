"""Model files: check them at start-up and create the onnxruntime sessions once.

Every model the configuration asks for is checked before anything runs:

* the file is present in ``models_dir``;
* its sha256 equals the one recorded in ``models_dir/manifest.json`` (written by
  ``scripts/build_models.py``);
* onnxruntime can load it.

Any failure raises :class:`ModelError` with one line naming the file, what is wrong and how to
rebuild the models.  Sessions use one intra-op and one inter-op thread with spinning switched
off, so that inference leaves the second core to the browser; parallelism comes from running
several sessions in a small thread pool (``session.run`` releases the GIL).
"""

from __future__ import annotations

import json
import platform
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnxruntime as ort

from ..filehash import sha256_file

__all__ = [
    "ModelError",
    "ModelSpec",
    "LoadedModel",
    "REBUILD_HINT",
    "model_filename",
    "read_manifest",
    "check_model_file",
    "load_model",
    "session_options",
    "int8_saturates",
    "usable_precision",
]

REBUILD_HINT = "rebuild with: .venv/bin/python scripts/build_models.py"

# kind -> file stem; the file is f"{stem}.{precision}.onnx"
STEMS = {
    "detector": "retinaface_mnet025",
    # the detector without its stride-8 level, for the live pipeline's windows (detector.py)
    "detector_near": "retinaface_mnet025_near",
    "emotion": "emotion_faceapi",
    "age_gender": "age_gender_faceapi",
    "mask": "mask_mobilenetv2",
}


class ModelError(RuntimeError):
    """A model file is missing, damaged or unloadable (message is one line, for a technician)."""


def model_filename(kind: str, precision: str) -> str:
    try:
        stem = STEMS[kind]
    except KeyError:
        raise ModelError(f"unknown model kind {kind!r} (known: {', '.join(STEMS)})") from None
    if precision not in ("fp32", "int8"):
        raise ModelError(f"{stem}: unknown precision {precision!r} (use fp32 or int8)")
    return f"{stem}.{precision}.onnx"


def int8_saturates() -> bool:
    """True on an x86 CPU without VNNI. There onnxruntime runs our int8 models (int8 weights,
    uint8 activations) with AVX2's 16-bit multiply-add, which saturates: measured on an AMD EPYC
    (AVX2, no VNNI), the int8 age model was 2.6 years off fp32 on average and up to 8 years on
    one face. With VNNI (32-bit accumulation) and on the Pi's arm64 it follows fp32."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return False
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False  # cannot tell: trust the configuration
    return re.search(r"\b(avx512_vnni|avx_vnni)\b", cpuinfo) is None


def usable_precision(kind: str, precision: str) -> str:
    """The precision to load for `kind`: the configured one, except int8 age/gender on a CPU
    where int8 saturates (measured off by years there), which loads fp32 instead."""
    if kind == "age_gender" and precision == "int8" and int8_saturates():
        return "fp32"
    return precision


@dataclass(frozen=True)
class ModelSpec:
    """What the manifest says about one file (all fields but sha256 optional)."""

    file: str
    sha256: str
    kind: str = ""
    precision: str = ""
    inputs: Any = None
    outputs: Any = None
    labels: Any = None
    extra: dict = field(default_factory=dict)


def _entries(raw: Any) -> list[tuple[str, dict]]:
    """Accept the manifest as {file: {...}}, {"files"|"models": {file: {...}} | [{...}]} or [{...}]."""
    if isinstance(raw, dict):
        for key in ("files", "models"):
            if key in raw and isinstance(raw[key], (dict, list)):
                return _entries(raw[key])
        return [(k, v) for k, v in raw.items() if isinstance(v, dict) and k.endswith(".onnx")]
    if isinstance(raw, list):
        out = []
        for item in raw:
            if isinstance(item, dict):
                name = item.get("file") or item.get("name") or item.get("path")
                if isinstance(name, str):
                    out.append((Path(name).name, item))
        return out
    return []


def read_manifest(models_dir: Path) -> dict[str, ModelSpec]:
    path = Path(models_dir) / "manifest.json"
    if not path.is_file():
        raise ModelError(f"{path}: missing (the model manifest); {REBUILD_HINT}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: not readable JSON ({exc.__class__.__name__}); {REBUILD_HINT}") from None
    specs: dict[str, ModelSpec] = {}
    for name, item in _entries(raw):
        sha = item.get("sha256")
        if not isinstance(sha, str):
            continue
        known = {"sha256", "kind", "precision", "inputs", "outputs", "labels", "file", "name", "path"}
        specs[name] = ModelSpec(
            file=name,
            sha256=sha.lower(),
            kind=str(item.get("kind", "")),
            precision=str(item.get("precision", "")),
            inputs=item.get("inputs"),
            outputs=item.get("outputs"),
            labels=item.get("labels"),
            extra={k: v for k, v in item.items() if k not in known},
        )
    return specs


def session_options() -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.log_severity_level = 3
    return so


def check_model_file(models_dir: Path, filename: str, manifest: dict[str, ModelSpec] | None = None) -> ModelSpec:
    """Check presence and sha256 of one file; return its manifest entry. Raises ModelError."""
    models_dir = Path(models_dir)
    path = models_dir / filename
    if not path.is_file():
        raise ModelError(f"model file {path}: missing; {REBUILD_HINT}")
    if manifest is None:
        manifest = read_manifest(models_dir)
    spec = manifest.get(filename)
    if spec is None:
        raise ModelError(f"model file {path}: not listed in {models_dir / 'manifest.json'}; {REBUILD_HINT}")
    actual = sha256_file(path)
    if actual != spec.sha256:
        raise ModelError(
            f"model file {path}: sha256 mismatch (expected {spec.sha256[:12]}..., "
            f"found {actual[:12]}...); {REBUILD_HINT}"
        )
    return spec


@dataclass
class LoadedModel:
    """One checked model and its (single, shared) onnxruntime session."""

    path: Path
    spec: ModelSpec
    session: ort.InferenceSession
    input_name: str
    output_names: list[str]
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run(self, x: Any) -> dict[str, Any]:
        """Run on one input array; returns {output name: array}.

        onnxruntime sessions are thread-safe, but a session with one intra-op thread gains
        nothing from concurrent calls, so calls to the same session are serialised.
        """
        with self.lock:
            outs = self.session.run(self.output_names, {self.input_name: x})
        return dict(zip(self.output_names, outs))


def load_model(
    models_dir: Path, kind: str, precision: str, manifest: dict[str, ModelSpec] | None = None
) -> LoadedModel:
    """Check and load one model. Raises ModelError naming the file and the fix."""
    filename = model_filename(kind, precision)
    spec = check_model_file(models_dir, filename, manifest)
    path = Path(models_dir) / filename
    try:
        sess = ort.InferenceSession(str(path), sess_options=session_options(), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several exception types
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else exc.__class__.__name__
        raise ModelError(f"model file {path}: not loadable by onnxruntime ({first}); {REBUILD_HINT}") from None
    inputs = sess.get_inputs()
    if len(inputs) != 1:
        raise ModelError(f"model file {path}: expected one input, found {len(inputs)}; {REBUILD_HINT}")
    return LoadedModel(
        path=path, spec=spec, session=sess, input_name=inputs[0].name, output_names=[o.name for o in sess.get_outputs()]
    )
