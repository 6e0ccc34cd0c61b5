"""Static QDQ int8 quantization (per-channel s8 weights, u8 activations, MinMax)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np
import onnx


class _Reader:
    def __init__(self, name: str, batches: Iterable[np.ndarray]) -> None:
        self._it = iter([{name: np.ascontiguousarray(b, np.float32)} for b in batches])

    def get_next(self):  # onnxruntime.quantization.CalibrationDataReader protocol
        return next(self._it, None)

    def rewind(self) -> None:  # pragma: no cover - not used by MinMax
        pass


def quantize(model: onnx.ModelProto, input_name: str, batches: list[np.ndarray], doc: str,
             preprocess: bool = True) -> onnx.ModelProto:
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
            str(pre), str(dst), _Reader(input_name, batches),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"CalibTensorRangeSymmetric": False},
        )
        out = onnx.load(str(dst))
    out.producer_name = "signage scripts/build_models.py"
    out.producer_version = "1"
    out.doc_string = doc
    onnx.checker.check_model(out)
    return out
