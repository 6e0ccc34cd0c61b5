"""Static QDQ int8 quantization (per-channel s8 weights, u8 activations, MinMax), output heads in float.

Why the output heads stay float: a quantized tensor can only hold values inside the range seen
during calibration. The age output of the first int8 age/gender build was calibrated on 30 adult
faces and could not say anything above 35.3 years (every older face came out as 35.3; UTKFace
age MAE 12.9 instead of 4.7) -- on x86 and arm64 alike. The same would hold for box and landmark
offsets of the detector. So every node between the last weighted layer (Conv/Gemm) feeding a
graph output and that output, that layer included, runs in float: a few tiny 1x1 convs / FC
layers, no measurable cost.

Why u8 activations x s8 weights and no reduced range: ONNX Runtime computes these products
exactly on arm64 (NEON and dot-product kernels) and on x86 with AVX-VNNI/AVX512-VNNI: there the
int8 results are bit-identical (measured, see models/README.md). Only x86 CPUs with AVX2 but no
VNNI add pairs of u8 x s8 products in saturating 16-bit registers (vpmaddubsw); that is a
development machine, not the Pi, and its deviation is reported, not designed around.

Calibration: MinMax for every model. Percentile (99.999) and entropy calibration were measured
too; on the dev sets they moved the int8 emotion net's recall by less than the noise of the sets
(+-1 point), so the simplest one stays.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np
import onnx

#: ops that hold weights: the walk back from an output stops at (and includes) the first of them
WEIGHTED_OPS = ("Conv", "Gemm", "MatMul")


class _Reader:
    def __init__(self, name: str, batches: Iterable[np.ndarray]) -> None:
        self._feeds = [{name: np.ascontiguousarray(b, np.float32)} for b in batches]
        self._it = iter(self._feeds)

    def get_next(self):  # onnxruntime.quantization.CalibrationDataReader protocol
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self._feeds)


def output_head_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes from each graph output back to (and including) the last weighted layer.

    Shape bookkeeping (Shape/Gather/Unsqueeze/Constant feeding a Reshape) is walked too; it is
    never quantized anyway.  Nodes without a name cannot be excluded and are skipped.
    """
    producer = {out: n for n in model.graph.node for out in n.output}
    heads: list[str] = []
    seen: set[int] = set()
    stack = [o.name for o in model.graph.output]
    while stack:
        node = producer.get(stack.pop())
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node.name:
            heads.append(node.name)
        if node.op_type not in WEIGHTED_OPS:
            stack.extend(node.input)
    return sorted(heads)


def quantize(
    model: onnx.ModelProto, input_name: str, batches: list[np.ndarray], doc: str, preprocess: bool = True
) -> onnx.ModelProto:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="quant-") as tmpd:
        src = Path(tmpd) / "fp32.onnx"
        pre = Path(tmpd) / "pre.onnx"
        dst = Path(tmpd) / "int8.onnx"
        src.write_bytes(model.SerializeToString(deterministic=True))
        if preprocess:
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        else:
            pre = src
        quantize_static(
            str(pre),
            str(dst),
            _Reader(input_name, batches),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=output_head_nodes(onnx.load(str(pre))),
            extra_options={"CalibTensorRangeSymmetric": False},
        )
        out = onnx.load(str(dst))
    out.producer_name = "signage scripts/build_models.py"
    out.producer_version = "1"
    out.doc_string = doc
    onnx.checker.check_model(out)
    return out
