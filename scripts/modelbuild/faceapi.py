"""face-api.js FaceExpressionNet and AgeGenderNet rebuilt as ONNX graphs with onnx.helper.

Weights: tfjs weights manifest + .bin from npm @vladmandic/face-api (uint8-quantized tensors are
dequantized as tfjs does: ``float32(q * scale + min)``).  Architectures follow face-api.js:

* FaceExpressionNet: four "dense blocks" (first conv 3x3/2 or depthwise-separable 3x3/2, then three
  depthwise-separable 3x3 convs with dense residual sums and ReLUs), 7x7 average pool, FC 256->7,
  softmax.  Input normalisation ``(x - mean_rgb) / 255``.
* AgeGenderNet: TinyXception (conv 3x3/2, two reduction blocks, two main blocks, exit reduction
  block, separable conv 256->512, ReLU), 7x7 average pool, FC 512->1 (age) and FC 512->2 (gender,
  softmax).  Input normalisation ``(x - mean_rgb) / 256`` (original face-api.js; the fork's /255
  does not match the weights).

TF "same" padding puts the odd extra pixel at the bottom/right; it is written as explicit pads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from signage.registry import read_member

from . import onnxutil, sources

MEAN_RGB = (122.782, 117.001, 104.298)
SIZE = 112
EXPRESSION_LABELS = ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]
GENDER_LABELS = ["male", "female"]


def load_tfjs_weights(manifest: bytes, shards: dict[str, bytes]) -> dict[str, np.ndarray]:
    """Parse a tfjs weights manifest and its binary shard(s) into float32 arrays (tfjs layout)."""
    groups = json.loads(manifest.decode("utf-8"))
    out: dict[str, np.ndarray] = {}
    for group in groups:
        buf = b"".join(shards[p] for p in group["paths"])
        off = 0
        for w in group["weights"]:
            shape = [int(d) for d in w["shape"]]
            n = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q is not None:
                qdtype = {"uint8": np.uint8, "uint16": np.uint16}[q["dtype"]]
                raw = np.frombuffer(buf, qdtype, n, off)
                off += n * np.dtype(qdtype).itemsize
                vals = (raw.astype(np.float64) * float(q["scale"]) + float(q["min"])).astype(np.float32)
            else:
                if w["dtype"] != "float32":
                    raise ValueError(f"unsupported tfjs dtype {w['dtype']} for {w['name']}")
                vals = np.frombuffer(buf, np.float32, n, off).copy()
                off += n * 4
            out[w["name"]] = vals.reshape(shape)
        if off != len(buf):
            raise ValueError(f"tfjs weights: used {off} of {len(buf)} bytes")
    return out


def _same_pads(size: int, k: int, s: int) -> tuple[int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


@dataclass
class _G:
    """Tiny NCHW graph builder that tracks the spatial size (square inputs only)."""

    w: dict[str, np.ndarray]
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)
    n: int = 0

    def uid(self, base: str) -> str:
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def op(self, op: str, inputs: list[str], name: str, **attrs) -> str:
        out = self.uid(name)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(
        self, x: str, size: int, wt: np.ndarray, bias: np.ndarray | None, stride: int, name: str, group: int = 1
    ) -> tuple[str, int]:
        k = wt.shape[2]
        p0, p1 = _same_pads(size, k, stride)
        ins = [x, self.const(f"{name}.weight", wt)]
        if bias is not None:
            ins.append(self.const(f"{name}.bias", bias))
        y = self.op(
            "Conv",
            ins,
            name,
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[p0, p0, p1, p1],
            group=group,
            dilations=[1, 1],
        )
        return y, -(-size // stride)

    def tf_conv(self, x: str, size: int, prefix: str, stride: int) -> tuple[str, int]:
        f = self.w[f"{prefix}/filters"].transpose(3, 2, 0, 1)  # HWIO -> OIHW
        return self.conv(x, size, f, self.w[f"{prefix}/bias"], stride, prefix)

    def sep_conv(self, x: str, size: int, prefix: str, stride: int) -> tuple[str, int]:
        dw = self.w[f"{prefix}/depthwise_filter"]  # [kh, kw, C, 1]
        pw = self.w[f"{prefix}/pointwise_filter"]  # [1, 1, Cin, Cout]
        c = dw.shape[2]
        y, size = self.conv(x, size, dw.transpose(2, 3, 0, 1), None, stride, f"{prefix}/depthwise", group=c)
        y, size = self.conv(y, size, pw.transpose(3, 2, 0, 1), self.w[f"{prefix}/bias"], 1, f"{prefix}/pointwise")
        return y, size

    def relu(self, x: str) -> str:
        return self.op("Relu", [x], "relu")

    def add(self, a: str, b: str) -> str:
        return self.op("Add", [a, b], "add")

    def normalize(self, x: str, divisor: float) -> str:
        mean = self.const("mean_rgb", np.array(MEAN_RGB, np.float32).reshape(1, 3, 1, 1))
        div = self.const("divisor", np.array(divisor, np.float32))
        return self.op("Div", [self.op("Sub", [x, mean], "sub_mean"), div], "normalize")

    def fc(self, x: str, prefix: str) -> str:
        return self.op(
            "Gemm",
            [
                x,
                self.const(f"{prefix}/weights", self.w[f"{prefix}/weights"]),
                self.const(f"{prefix}/bias", self.w[f"{prefix}/bias"]),
            ],
            prefix,
        )

    def model(self, outputs: list[onnx.ValueInfoProto], doc: str, graph_name: str) -> onnx.ModelProto:
        inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])
        graph = helper.make_graph(self.nodes, graph_name, [inp], outputs, initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", onnxutil.TARGET_OPSET)], ir_version=8)
        return onnxutil.finalize(model, doc)


def _rename_last(g: _G, new: str) -> None:
    node = g.nodes[-1]
    old = node.output[0]
    node.output[0] = new
    for n in g.nodes[:-1]:
        for i, v in enumerate(n.input):
            if v == old:
                n.input[i] = new


def _dense_block4(g: _G, x: str, size: int, prefix: str, first: bool) -> tuple[str, int]:
    if first:
        c0, size = g.tf_conv(x, size, f"{prefix}/conv0", 2)
    else:
        c0, size = g.sep_conv(x, size, f"{prefix}/conv0", 2)
    out1 = g.relu(c0)
    out2, _ = g.sep_conv(out1, size, f"{prefix}/conv1", 1)
    in3 = g.relu(g.add(out1, out2))
    out3, _ = g.sep_conv(in3, size, f"{prefix}/conv2", 1)
    in4 = g.relu(g.add(out1, g.add(out2, out3)))
    out4, _ = g.sep_conv(in4, size, f"{prefix}/conv3", 1)
    return g.relu(g.add(out1, g.add(out2, g.add(out3, out4)))), size


EXPRESSION_DOC = (
    "face-api.js FaceExpressionNet (npm @vladmandic/face-api@1.7.15 model/face_expression_model.bin), "
    "rebuilt as ONNX. Input NCHW RGB 0..255 112x112 (graph: (x - (122.782,117.001,104.298)) / 255). "
    "Output 'scores' softmax [neutral, happy, sad, angry, fearful, disgusted, surprised]. MIT."
)
AGE_GENDER_DOC = (
    "face-api.js AgeGenderNet / TinyXception (npm @vladmandic/face-api@1.7.15 model/age_gender_model.bin), "
    "rebuilt as ONNX. Input NCHW RGB 0..255 112x112 (graph: (x - (122.782,117.001,104.298)) / 256). "
    "Outputs 'age' [N] years, 'gender' [N,2] softmax [male, female]. MIT."
)


def build_expression(w: dict[str, np.ndarray]) -> onnx.ModelProto:
    g = _G(w)
    x, size = g.normalize("input", 255.0), SIZE
    for i in range(4):
        x, size = _dense_block4(g, x, size, f"dense{i}", first=(i == 0))
    assert size == 7, size
    x = g.op("GlobalAveragePool", [x], "avgpool")
    x = g.op("Flatten", [x], "flatten", axis=1)
    x = g.fc(x, "fc")
    g.op("Softmax", [x], "softmax", axis=1)
    _rename_last(g, "scores")
    out = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", len(EXPRESSION_LABELS)])
    return g.model([out], EXPRESSION_DOC, "face_expression_net")


def _reduction_block(g: _G, x: str, size: int, prefix: str, activate_input: bool) -> tuple[str, int]:
    out = g.relu(x) if activate_input else x
    out, _ = g.sep_conv(out, size, f"{prefix}/separable_conv0", 1)
    out, _ = g.sep_conv(g.relu(out), size, f"{prefix}/separable_conv1", 1)
    p0, p1 = _same_pads(size, 3, 2)
    out = g.op("MaxPool", [out], f"{prefix}/maxpool", kernel_shape=[3, 3], strides=[2, 2], pads=[p0, p0, p1, p1])
    exp, new_size = g.tf_conv(x, size, f"{prefix}/expansion_conv", 2)
    return g.add(out, exp), new_size


def _main_block(g: _G, x: str, size: int, prefix: str) -> str:
    out, _ = g.sep_conv(g.relu(x), size, f"{prefix}/separable_conv0", 1)
    out, _ = g.sep_conv(g.relu(out), size, f"{prefix}/separable_conv1", 1)
    out, _ = g.sep_conv(g.relu(out), size, f"{prefix}/separable_conv2", 1)
    return g.add(out, x)


def build_age_gender(w: dict[str, np.ndarray]) -> onnx.ModelProto:
    g = _G(w)
    x, size = g.normalize("input", 256.0), SIZE
    x, size = g.tf_conv(x, size, "entry_flow/conv_in", 2)
    x = g.relu(x)
    x, size = _reduction_block(g, x, size, "entry_flow/reduction_block_0", activate_input=False)
    x, size = _reduction_block(g, x, size, "entry_flow/reduction_block_1", activate_input=True)
    for i in range(2):
        x = _main_block(g, x, size, f"middle_flow/main_block_{i}")
    x, size = _reduction_block(g, x, size, "exit_flow/reduction_block", activate_input=True)
    x, size = g.sep_conv(x, size, "exit_flow/separable_conv", 1)
    x = g.relu(x)
    assert size == 7, size
    x = g.op("GlobalAveragePool", [x], "avgpool")
    x = g.op("Flatten", [x], "flatten", axis=1)
    age = g.fc(x, "fc/age")
    g.op("Squeeze", [age, g.const("squeeze_axes", np.array([1], np.int64))], "squeeze")
    _rename_last(g, "age")
    gen = g.fc(x, "fc/gender")
    g.op("Softmax", [gen], "softmax", axis=1)
    _rename_last(g, "gender")
    outs = [
        helper.make_tensor_value_info("age", TensorProto.FLOAT, ["batch"]),
        helper.make_tensor_value_info("gender", TensorProto.FLOAT, ["batch", 2]),
    ]
    return g.model(outs, AGE_GENDER_DOC, "age_gender_net")


def load_weights(kind: str, cache_dir: Path) -> dict[str, np.ndarray]:
    if kind == "emotion":
        bin_m, man_m = sources.EXPRESSION_BIN, sources.EXPRESSION_MANIFEST
    else:
        bin_m, man_m = sources.AGE_GENDER_BIN, sources.AGE_GENDER_MANIFEST
    manifest = read_member(man_m.source, man_m.path, cache_dir, sha256=man_m.sha256)
    shard = read_member(bin_m.source, bin_m.path, cache_dir, sha256=bin_m.sha256)
    return load_tfjs_weights(manifest, {Path(bin_m.path).name: shard})


def build(kind: str, cache_dir: Path) -> onnx.ModelProto:
    w = load_weights(kind, cache_dir)
    return build_expression(w) if kind == "emotion" else build_age_gender(w)
