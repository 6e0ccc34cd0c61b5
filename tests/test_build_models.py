"""The committed models/ match their manifest and I/O contract, and behave on real photos.

The full rebuild (``scripts/build_models.py --check``) needs the registry and node; it is not run
here. These tests need only onnxruntime, numpy and OpenCV (plus onnx for the builder unit tests).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
sys.path.insert(0, str(ROOT / "scripts"))

EXPECTED = {
    "retinaface_mnet025.fp32.onnx": ("detector", "fp32"),
    "retinaface_mnet025.int8.onnx": ("detector", "int8"),
    "retinaface_mnet025_near.fp32.onnx": ("detector_near", "fp32"),
    "emotion_faceapi.fp32.onnx": ("emotion", "fp32"),
    "emotion_faceapi.int8.onnx": ("emotion", "int8"),
    "age_gender_faceapi.fp32.onnx": ("age_gender", "fp32"),
    "age_gender_faceapi.int8.onnx": ("age_gender", "int8"),
    "mask_mobilenetv2.fp32.onnx": ("mask", "fp32"),
}


def _manifest() -> dict:
    return json.loads((MODELS / "manifest.json").read_text())["files"]


def _session(name: str):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(MODELS / name), so, providers=["CPUExecutionProvider"])


def test_manifest_lists_every_file_with_its_sha256() -> None:
    files = _manifest()
    assert set(EXPECTED) <= set(files)
    for name, entry in files.items():
        data = (MODELS / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert entry["bytes"] == len(data)
        assert (entry["kind"], entry["precision"]) == EXPECTED[name]
        assert entry["licence"]["spdx"] == "MIT" and entry["licence"]["evidence"]
        src = entry["source"]
        assert src["registry"] in ("PyPI", "npm", "Debian") and len(src["sha256"]) == 64 and src["version"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_io_contract_matches_manifest(name: str) -> None:
    entry = _manifest()[name]
    sess = _session(name)

    def norm(shape):
        return [d if isinstance(d, int) else "dyn" for d in shape]

    assert [(i.name, norm(i.shape)) for i in sess.get_inputs()] == [
        (i["name"], norm(i["shape"])) for i in entry["inputs"]
    ]
    assert [(o.name, norm(o.shape)) for o in sess.get_outputs()] == [
        (o["name"], norm(o["shape"])) for o in entry["outputs"]
    ]


def test_labels_in_contract_order() -> None:
    files = _manifest()
    assert files["emotion_faceapi.fp32.onnx"]["labels"]["scores"] == [
        "neutral",
        "happy",
        "sad",
        "angry",
        "fearful",
        "disgusted",
        "surprised",
    ]
    assert files["age_gender_faceapi.fp32.onnx"]["labels"]["gender"] == ["male", "female"]
    assert files["retinaface_mnet025.fp32.onnx"]["labels"]["conf"] == ["background", "face"]
    assert files["age_gender_faceapi.fp32.onnx"].get("default") is True


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_shapes_and_dynamic_batch(precision: str) -> None:
    rng = np.random.default_rng(0)
    det = _session(f"retinaface_mnet025.{precision}.onnx")
    for (h, w), anchors in (((480, 640), 12600), ((240, 320), 3160)):
        loc, conf, lm = det.run(None, {"input": rng.normal(0, 40, (2, 3, h, w)).astype(np.float32)})
        assert loc.shape == (2, anchors, 4) and conf.shape == (2, anchors, 2) and lm.shape == (2, anchors, 10)
        np.testing.assert_allclose(conf.sum(-1), 1.0, atol=2e-2)
    x = rng.uniform(0, 255, (3, 3, 112, 112)).astype(np.float32)
    (scores,) = _session(f"emotion_faceapi.{precision}.onnx").run(None, {"input": x})
    assert scores.shape == (3, 7)
    np.testing.assert_allclose(scores.sum(1), 1.0, atol=2e-2)
    age, gender = _session(f"age_gender_faceapi.{precision}.onnx").run(None, {"input": x})
    assert age.shape == (3,) and gender.shape == (3, 2)
    np.testing.assert_allclose(gender.sum(1), 1.0, atol=2e-2)


def test_real_face_astronaut(photos) -> None:
    """The astronaut photo: one face, smiling woman (happy; female; adult)."""
    import cv2
    from modelbuild import photos as ph  # build helper: detector decoding and crops (numpy + cv2)

    img = cv2.imread(str(photos("astronaut")))
    for precision in ("fp32", "int8"):
        faces = ph.detect(_session(f"retinaface_mnet025.{precision}.onnx"), img, "astronaut")
        assert len(faces) == 1, precision
        x1, y1, x2, y2 = faces[0].box
        assert 140 < x1 < 200 and 50 < y1 < 110 and 230 < x2 < 290 and 150 < y2 < 220, faces[0].box
        emo = _session(f"emotion_faceapi.{precision}.onnx").run(None, {"input": ph.crops([(img, faces[0])], 0.9)})[0]
        assert emo[0].argmax() == 1, emo  # happy
        age, gender = _session(f"age_gender_faceapi.{precision}.onnx").run(
            None, {"input": ph.crops([(img, faces[0])], 1.0)}
        )
        assert gender[0].argmax() == 1, gender  # female
        assert 20 < age[0] < 60, age


def test_tfjs_weight_loader_dequantizes_like_tfjs() -> None:
    from modelbuild.faceapi import _same_pads, load_tfjs_weights

    manifest = json.dumps(
        [
            {
                "paths": ["a.bin"],
                "weights": [
                    {
                        "name": "q",
                        "shape": [2, 2],
                        "dtype": "float32",
                        "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0},
                    },
                    {"name": "f", "shape": [3], "dtype": "float32"},
                ],
            }
        ]
    ).encode()
    shard = bytes([0, 1, 2, 255]) + np.array([1.5, -2.0, 3.25], np.float32).tobytes()
    w = load_tfjs_weights(manifest, {"a.bin": shard})
    np.testing.assert_array_equal(w["q"], np.array([[-1.0, -0.5], [0.0, 126.5]], np.float32))
    np.testing.assert_array_equal(w["f"], np.array([1.5, -2.0, 3.25], np.float32))
    with pytest.raises(ValueError):
        load_tfjs_weights(manifest, {"a.bin": shard + b"\0\0\0\0"})
    # TF "same": odd extra pixel at the end
    assert _same_pads(112, 3, 2) == (0, 1) and _same_pads(56, 1, 2) == (0, 0) and _same_pads(7, 3, 1) == (1, 1)


def test_readme_has_accuracy_section() -> None:
    text = (MODELS / "README.md").read_text()
    assert "## Accuracy on the dev sets" in text
    for name in EXPECTED:
        assert name in text


def test_int8_output_heads_stay_float() -> None:
    """quant.output_head_nodes finds the layers between the last weighted layer and each output,
    and the committed int8 age/gender net computes its age in float (no QuantizeLinear on it):
    a quantized age output was capped at its calibration range (35.3 years)."""
    onnx = pytest.importorskip("onnx")
    from modelbuild.quant import output_head_nodes
    from onnx import TensorProto, helper, numpy_helper

    w1 = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w1")
    w2 = numpy_helper.from_array(np.ones((5, 4), np.float32), "w2")
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c"], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w2"], ["g"], name="fc", transB=0),
        helper.make_node("Softmax", ["g"], ["y"], name="softmax"),
        helper.make_node("Identity", ["r"], ["z"], name="side"),
    ]
    graph = helper.make_graph(
        nodes,
        "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, None),
        ],
        [w1, w2],
    )
    assert output_head_nodes(helper.make_model(graph)) == ["conv", "fc", "relu", "side", "softmax"]

    model = onnx.load(str(MODELS / "age_gender_faceapi.int8.onnx"))
    producer = {o: n for n in model.graph.node for o in n.output}
    for out in ("age", "gender"):
        node, hops = producer[out], 0
        while node.op_type != "Gemm" and hops < 5:
            assert node.op_type not in ("QuantizeLinear", "DequantizeLinear"), f"{out} is quantized"
            node, hops = producer[node.input[0]], hops + 1
        assert node.op_type == "Gemm"
        # the Gemm's own output is float too: not followed by a QuantizeLinear
        assert not any(n.op_type == "QuantizeLinear" and node.output[0] in n.input for n in model.graph.node)


def test_near_detector_is_the_whole_detector_without_its_stride_8_level(photos) -> None:
    """The near model (the live pipeline's windows around tracked faces) gives exactly the whole
    model's stride-16 and stride-32 outputs, on real photos and on strips of windows; and
    the build derives the committed file from the committed fp32 model byte for byte."""
    import cv2
    import onnx
    from modelbuild import photos as ph
    from modelbuild import retinaface

    whole, near = _session("retinaface_mnet025.fp32.onnx"), _session("retinaface_mnet025_near.fp32.onnx")
    for name in ("t1", "astronaut"):
        x, _ = ph.detector_input(cv2.imread(str(photos(name))))
        for inp in (x, np.ascontiguousarray(x[:, :, 96:192, 160:448])):  # a 640x480 frame, a 288x96 strip
            h, w = inp.shape[2:]
            level0 = (h // 8) * (w // 8) * 2  # the stride-8 level's anchors, first in every output
            got, want = near.run(None, {"input": inp}), whole.run(None, {"input": inp})
            for g, full in zip(got, want, strict=True):
                assert g.shape[1] == full.shape[1] - level0 > 0
                np.testing.assert_allclose(g, full[:, level0:], atol=1e-5)
    rebuilt = retinaface.near_model(onnx.load(str(MODELS / "retinaface_mnet025.fp32.onnx")))
    assert (
        hashlib.sha256(rebuilt.SerializeToString(deterministic=True)).hexdigest()
        == (_manifest()["retinaface_mnet025_near.fp32.onnx"]["sha256"])
    )


def test_int8_age_follows_fp32_on_real_faces(photos) -> None:
    """int8 age/gender follows fp32 over the whole age range (the capped build said 35.3 years for
    everyone older): every face the fp32 detector finds in three real photos."""
    import dataclasses

    import cv2

    from signage.config import default_config
    from signage.vision.analyzer import FaceAnalyzer
    from signage.vision.models import int8_saturates

    vision = dataclasses.replace(default_config().vision, models_dir=MODELS)
    fp32 = FaceAnalyzer(vision)
    int8 = FaceAnalyzer(dataclasses.replace(vision, age_gender_precision="int8"))
    if int8_saturates():  # x86 without VNNI: measured years off, so the analyzer loads fp32
        assert int8.age_gender_precision == "fp32"
        assert "age_gender_faceapi.fp32.onnx" in FaceAnalyzer.model_files(int8.config)
    else:
        assert int8.age_gender_precision == "int8"
    a32, a8 = [], []
    try:
        for path in photos("t1", "bald_guys", "astronaut"):
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            dets = fp32.detect(img)
            a32 += [f.age for f in fp32.results(img, dets)]
            a8 += [f.age for f in int8.results(img, dets)]
    finally:
        fp32.close()
        int8.close()
    a32, a8 = np.array(a32), np.array(a8)
    assert len(a32) >= 10
    assert a32.max() > 40, "these photos hold faces fp32 puts above 40"
    assert np.abs(a32 - a8).mean() < 1.5 and np.abs(a32 - a8).max() < 8, np.c_[a32, a8]
    assert a8.max() > 38, "int8 ages are capped"
