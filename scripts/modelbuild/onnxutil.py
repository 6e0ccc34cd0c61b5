"""Small ONNX helpers shared by the model builders."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
from onnx import version_converter

TARGET_OPSET = 13


def upgrade_opset(model: onnx.ModelProto, opset: int = TARGET_OPSET) -> onnx.ModelProto:
    cur = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if cur >= opset:
        return model
    out = version_converter.convert_version(model, opset)
    onnx.checker.check_model(out)
    return out


def set_dims(vi: onnx.ValueInfoProto, dims: Sequence[int | str]) -> None:
    shape = vi.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        else:
            dim.dim_value = int(d)


def dims_of(vi: onnx.ValueInfoProto) -> list[int | str]:
    out: list[int | str] = []
    for d in vi.type.tensor_type.shape.dim:
        out.append(d.dim_param if d.HasField("dim_param") else int(d.dim_value))
    return out


def io_spec(model: onnx.ModelProto) -> dict[str, list[dict[str, object]]]:
    init = {i.name for i in model.graph.initializer}

    def one(vi: onnx.ValueInfoProto) -> dict[str, object]:
        return {
            "name": vi.name,
            "shape": dims_of(vi),
            "dtype": onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type).name,
        }

    return {
        "inputs": [one(v) for v in model.graph.input if v.name not in init],
        "outputs": [one(v) for v in model.graph.output],
    }


def finalize(model: onnx.ModelProto, doc: str) -> onnx.ModelProto:
    """Stable metadata so that rebuilding gives the same bytes."""
    model.producer_name = "signage scripts/build_models.py"
    model.producer_version = "1"
    model.doc_string = doc
    model.graph.doc_string = ""
    onnx.checker.check_model(model)
    return model


def save(model: onnx.ModelProto, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString(deterministic=True))


def session(path_or_bytes: Path | bytes, threads: int = 1):  # -> onnxruntime.InferenceSession
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    src = str(path_or_bytes) if isinstance(path_or_bytes, Path) else path_or_bytes
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def max_abs_diff(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    return float(max(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))) for x, y in zip(a, b)))
