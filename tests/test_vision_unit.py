"""Unit tests of the vision building blocks with made-up data (no models, fast)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from signage.vision.classifiers import (
    AGE_GROUPS,
    EMOTIONS,
    FACEAPI_EMOTIONS,
    _label_map,
    age_group,
    age_group_probs,
    age_sigma,
)
from signage.vision.detector import MEAN_BGR, Detection, decode, iou, make_priors, nms, prepare_input, to_blob
from signage.vision.geometry import CLIP, EYE_MOUTH, NOSE_DEPTH, NOSE_FRACTION, head_pose, square_crop

# -- priors / decoding / NMS -------------------------------------------------------------------


def test_prior_count_and_layout_match_retinaface():
    pri = make_priors(480, 640)
    # 80x60 + 40x30 + 20x15 cells, two anchors each
    assert pri.shape == (12600, 4)
    # first cell of stride 8: centre (4, 4), anchors 16 then 32
    np.testing.assert_allclose(pri[0], [4, 4, 16, 16])
    np.testing.assert_allclose(pri[1], [4, 4, 32, 32])
    # second cell moves along x
    np.testing.assert_allclose(pri[2], [12, 4, 16, 16])
    # first anchor of stride 16 comes after all 9600 stride-8 anchors
    np.testing.assert_allclose(pri[9600], [8, 8, 64, 64])
    np.testing.assert_allclose(pri[-1], [640 - 16, 480 - 16, 512, 512])


def test_decode_zero_offsets_gives_prior_boxes():
    pri = np.array([[100, 50, 20, 40]], np.float32)
    boxes, lms = decode(np.zeros((1, 4), np.float32), np.zeros((1, 10), np.float32), pri)
    np.testing.assert_allclose(boxes[0], [90, 30, 110, 70])
    np.testing.assert_allclose(lms[0], np.tile([100, 50], (5, 1)))


def test_decode_applies_variances():
    pri = np.array([[100, 100, 10, 10]], np.float32)
    loc = np.array([[1.0, -2.0, math.log(2) / 0.2, 0.0]], np.float32)
    lm = np.array([[1, 0, 0, 1, -1, 0, 0, -1, 2, 2]], np.float32)
    boxes, lms = decode(loc, lm, pri)
    # centre moves 0.1 * 10 * offset; width doubles (exp(log2)), height unchanged
    np.testing.assert_allclose(boxes[0], [101 - 10, 98 - 5, 101 + 10, 98 + 5], atol=1e-4)
    np.testing.assert_allclose(lms[0], [[101, 100], [100, 101], [99, 100], [100, 99], [102, 102]], atol=1e-4)


def test_iou_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(iou(a, b)[0], [1.0, 50 / 150, 0.0])


def test_nms_keeps_best_of_overlapping_and_separate_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 9]], np.float32)
    scores = np.array([0.8, 0.9, 0.7, 0.6])
    keep = nms(boxes, scores, 0.4)
    assert keep == [1, 2]
    # a looser threshold keeps the moderately overlapping one
    assert nms(boxes, scores, 0.99) == [1, 0, 2, 3]


def test_nms_is_the_greedy_rule_on_random_boxes():
    """nms is OpenCV's NMSBoxes; the rule written out here: best score first (equal scores: the
    lower index), a box goes when its IoU with a box already kept is above the threshold."""

    def greedy(boxes, scores, threshold):
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        kept: list[int] = []
        for i in order:
            if all(iou(boxes[i], boxes[k])[0, 0] <= threshold for k in kept):
                kept.append(i)
        return kept

    rng = np.random.default_rng(7)
    for case in range(300):
        n = int(rng.integers(1, 25))
        corner = rng.uniform(0, 200, (n, 2))
        boxes = np.concatenate([corner, corner + rng.uniform(5, 60, (n, 2))], axis=1).astype(np.float32)
        # every other case with many equal scores, as a network's outputs can have
        scores = rng.choice([0.55, 0.7, 0.9], n) if case % 2 else rng.uniform(0.5, 1.0, n)
        threshold = float(rng.choice([0.3, 0.4, 0.5]))
        assert nms(boxes, scores, threshold) == greedy(boxes, list(scores), threshold)


def test_to_blob_is_the_mean_subtracted_picture_channels_first():
    """to_blob replaced cv2.dnn.blobFromImage (7-8 ms for 640x480 in OpenCV 5): the same numbers,
    and a border of the mean colour is zero."""
    rng = np.random.default_rng(3)
    for h, w in [(480, 640), (96, 288), (37, 53)]:
        img = rng.integers(0, 256, (h, w, 3), np.uint8)
        ours = to_blob(img)
        theirs = cv2.dnn.blobFromImage(img, 1.0, (w, h), MEAN_BGR, swapRB=False, crop=False)
        assert ours.shape == (1, 3, h, w) and ours.dtype == np.float32
        assert np.array_equal(ours, theirs)
    img = rng.integers(0, 256, (40, 50, 3), np.uint8)
    framed = to_blob(img, 64, 96, (7, 11))
    assert framed.shape == (1, 3, 64, 96)
    assert np.array_equal(framed[:, :, 11:51, 7:57], to_blob(img))
    inside = np.zeros((64, 96), bool)
    inside[11:51, 7:57] = True
    assert not framed[0][:, ~inside].any()


def test_prepare_input_pads_to_32_and_maps_back():
    img = np.full((480, 640, 3), 200, np.uint8)
    p = prepare_input(img, 640)
    assert p.blob.shape == (1, 3, 480, 640) and p.scale == 1.0 and p.offset == (0.0, 0.0)
    big = np.zeros((1080, 1920, 3), np.uint8)
    p = prepare_input(big, 640)
    assert p.blob.shape[2] % 32 == 0 and p.blob.shape[3] == 640
    assert p.scale == pytest.approx(640 / 1920)
    # padding area is zero after mean subtraction
    assert np.all(p.blob[0, :, -1, :] == 0)


def test_small_image_is_upscaled_and_padded():
    crop = np.full((48, 48, 3), 255, np.uint8)
    p = prepare_input(crop, 640, small_pad=0.25)
    # padded picture (1.5 x 48) scaled to 640: the crop itself becomes ~427 px, centred
    assert p.scale == pytest.approx(640 / 72)
    ox, oy = p.offset
    assert ox == oy == pytest.approx(round(12 * 640 / 72))
    inside = p.blob[0, 0, int(oy) + 5, int(ox) + 5]
    assert inside == pytest.approx(255 - 104)
    assert p.blob[0, 0, 2, 2] == 0
    # image pixel (x=24, y=24) maps to input (ox + 24 s, oy + 24 s) and back
    x_in = ox + 24 * p.scale
    assert (x_in - ox) / p.scale == pytest.approx(24)


def test_portrait_smaller_than_long_side_is_padded_too():
    # a 350 px portrait whose face fills it: padded like a crop, so the face stays inside the
    # anchors' range instead of being enlarged to the whole 640 px canvas
    p = prepare_input(np.full((350, 350, 3), 90, np.uint8), 640, small_pad=0.25)
    assert p.scale == pytest.approx(640 / 525)
    assert p.offset[0] == pytest.approx(round(87.5 * 640 / 525))
    # a camera frame at long_side is not padded
    assert prepare_input(np.zeros((480, 640, 3), np.uint8), 640).offset == (0.0, 0.0)


def test_eval_table_flags_figures_more_than_a_point_below_the_reference():
    from signage.vision.evaluate import format_table, table_rows

    reports = [
        {"folder": "x/ckplus48", "emotion": {"7": {"mean_recall": 0.855}, "7_sequence": {"mean_recall": 0.89}}},
        {"folder": "x/utkface_crop", "gender": {"accuracy": 0.95}, "age": {"mae": 5.0}},
        {"folder": "x/other", "gender": {"accuracy": 0.5}},
    ]
    rows = {(r["set"], r["figure"]): r for r in table_rows(reports)}
    assert rows[("ckplus48", "emotion 7-class macro recall %")]["loss"]  # 85.5 < 87.3 - 1
    assert not rows[("ckplus48", "emotion per sequence %")]["loss"]
    assert rows[("utkface_crop", "age MAE years")]["loss"]  # lower is better
    assert not rows[("utkface_crop", "gender %")]["loss"]
    assert rows[("other", "gender %")]["reference"] is None and not rows[("other", "gender %")]["loss"]
    text = format_table(list(rows.values()))
    assert "2 figure(s) more than a point below the reference" in text and "LOSS" in text


def test_simulated_camera_views_uncover_black_not_streaks():
    # the age gate's simulated track frames: what a shift or shrink uncovers must be the black the
    # age crop puts past an image edge, never replicated border pixels (streaks the age net reads
    # as years); the photo itself only moves, scales and changes brightness
    from signage.vision.evaluate import camera_view

    photo = np.full((400, 400, 3), 255, np.uint8)
    photo[[0, -1], :] = photo[:, [0, -1]] = (0, 0, 255)  # a red frame: replicating it smears red bands
    rng = np.random.default_rng(3)
    black = 0
    for _ in range(40):
        view = camera_view(photo, rng)
        assert view.shape == photo.shape and view.dtype == np.uint8
        red = (view[:, :, 2] >= 150) & (view[:, :, 1] <= 60)
        assert red.sum() < 4 * 400 * 3  # the 1-px frame, blended over at most 3 px
        black += int(np.all(view <= 20, axis=2).sum())
    assert black > 40 * 400  # shifts and shrinks uncover black bands


def test_enlarged_crops_keep_edges():
    # a sharp black/white edge enlarged 48 -> 112 px stays sharper than a bilinear enlargement
    img = np.zeros((48, 48, 3), np.uint8)
    img[:, 24:] = 255
    crop = square_crop(img, (0, 0, 48, 48), 1.0, 112, None)[56, :, 0].astype(float)
    bilinear = cv2.resize(img, (112, 112), interpolation=cv2.INTER_LINEAR)[56, :, 0].astype(float)
    assert np.abs(np.diff(crop)).max() > np.abs(np.diff(bilinear)).max()


def test_mild_enlargement_is_bicubic_and_large_one_lanczos():
    """Lanczos (8x8 taps, ~1.8 ms a crop in OpenCV's warp) only where it pays: an enlargement of
    more than LANCZOS_ABOVE; a milder one is bicubic, close to Lanczos but several times cheaper."""
    from signage.vision.geometry import LANCZOS_ABOVE

    rng = np.random.default_rng(3)
    img = cv2.GaussianBlur(rng.integers(0, 256, (240, 240, 3), dtype=np.uint8), (0, 0), 1.5)
    box = (60.0, 50.0, 160.0, 150.0)  # a 100 px face: 1.12x to 112 px
    mild = square_crop(img, box, 1.0, 112, None).astype(float)
    side = 112 / LANCZOS_ABOVE - 4  # a face enlarged more than LANCZOS_ABOVE
    big = square_crop(img, (60.0, 50.0, 60.0 + side, 50.0 + side), 1.0, 112, None)

    def warp(box, flags):
        x1, y1, x2, y2 = box
        m = 112 / (x2 - x1)
        M = np.array([[m, 0.0, -(x1 - 0.5) * m - 0.5], [0.0, m, -(y1 - 0.5) * m - 0.5]])
        return cv2.warpAffine(img, M, (112, 112), flags=flags, borderMode=cv2.BORDER_REPLICATE)

    assert np.abs(mild - warp(box, cv2.INTER_CUBIC)).max() <= 1
    assert np.abs(mild - warp(box, cv2.INTER_LANCZOS4)).mean() < 1.0  # and close to Lanczos
    lz = warp((60.0, 50.0, 60.0 + side, 50.0 + side), cv2.INTER_LANCZOS4)
    assert np.abs(big.astype(float) - lz).max() <= 1


def test_quick_shrink_is_an_area_average_up_to_a_grey_level():
    from signage.vision.detector import quick_shrink

    rng = np.random.default_rng(5)
    img = cv2.GaussianBlur(rng.integers(0, 256, (1280, 1920, 3), dtype=np.uint8), (0, 0), 3)
    for nw, nh in ((427, 285), (187, 125), (960, 640), (1000, 667)):
        out = quick_shrink(img, nw, nh)
        assert out.shape == (nh, nw, 3)
        exact = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
        assert np.abs(out.astype(float) - exact).mean() < 2.0, (nw, nh)
    # an odd size: the cut edge (fewer pixels than the factor) does not shift the picture
    odd = img[:1279, :1917]
    out = quick_shrink(odd, 479, 320)
    exact = cv2.resize(odd, (479, 320), interpolation=cv2.INTER_AREA)
    assert np.abs(out.astype(float) - exact)[:, :-2].mean() < 2.0


# -- crops -------------------------------------------------------------------------------------


def _gradient(h=100, w=120):
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 0] = np.arange(w)[None, :] % 256
    img[:, :, 1] = np.arange(h)[:, None] % 256
    return img


def test_square_crop_centre_and_size():
    img = _gradient()
    box = (40, 30, 60, 70)  # w 20, h 40 -> side = factor * 40
    crop = square_crop(img, box, 1.0, 40)
    assert crop.shape == (40, 40, 3)
    # 1:1 scale, so the crop is the exact window x 30..70, y 30..70
    np.testing.assert_array_equal(crop, img[30:70, 30:70])
    crop9 = square_crop(img, box, 0.9, 36)
    np.testing.assert_array_equal(crop9, img[32:68, 32:68])


def test_square_crop_fills_outside_with_grey():
    img = _gradient()
    crop = square_crop(img, (-10, -10, 10, 10), 1.0, 20)
    assert crop.shape == (20, 20, 3)
    assert np.all(crop[:, :10] == 128) and np.all(crop[:10, :] == 128)
    np.testing.assert_array_equal(crop[10:, 10:], img[0:10, 0:10])
    # a box far outside the image still gives the requested size, all grey
    far = square_crop(img, (500, 500, 540, 540), 1.0, 112)
    assert far.shape == (112, 112, 3) and np.all(far == 128)


def test_square_crop_subpixel_and_downscale():
    img = np.zeros((400, 400, 3), np.uint8)
    img[100:300, 100:300] = 255  # a white square face
    crop = square_crop(img, (100, 100, 300, 300), 1.0, 50)  # 4x downscale, exact fit
    assert crop.shape == (50, 50, 3)
    assert crop[2:-2, 2:-2].min() >= 250  # all white inside
    # half a pixel shift at 1:1 blends the edge column
    c = square_crop(img, (100.5, 100, 110.5, 110), 1.0, 10)
    assert c[5, -1, 0] == pytest.approx(255, abs=1)
    c = square_crop(img, (99.5, 100, 109.5, 110), 1.0, 10)
    assert 100 < c[5, 0, 0] < 160  # half black, half white
    # a grey image stays grey through the crop
    gimg = np.full((60, 80), 77, np.uint8)
    assert np.all(square_crop(gimg, (20, 10, 60, 50), 0.9, 16) == 77)


def test_square_crop_clip_mode_is_faceapi_clip_and_pad():
    img = _gradient()  # 160 x 120
    # wholly inside the image: the same pixels as any other fill
    box = (40, 30, 60, 70)
    np.testing.assert_array_equal(square_crop(img, box, 1.0, 40, CLIP), square_crop(img, box, 1.0, 40))
    # a 40 x 40 square reaching 10 px past the top edge: clipped to 40 wide x 30 tall, centred
    # in a 40 x 40 square with 5 black rows above and below (face-api.js padToSquare), 1:1 scale
    crop = square_crop(img, (20, -10, 60, 30), 1.0, 40, CLIP)
    assert crop.shape == (40, 40, 3)
    assert np.all(crop[:5] == 0) and np.all(crop[35:] == 0)
    np.testing.assert_array_equal(crop[5:35], img[0:30, 20:60])
    # a square past the left edge: black columns on both sides, the visible part fills the height
    crop = square_crop(img, (-20, 40, 20, 80), 1.0, 40, CLIP)
    assert np.all(crop[:, :10] == 0) and np.all(crop[:, 30:] == 0)
    np.testing.assert_array_equal(crop[:, 10:30], img[40:80, 0:20])
    # past two edges: the visible corner is centred and scaled up to fill the input
    crop = square_crop(img, (-10, -10, 10, 10), 1.0, 20, CLIP)
    up = cv2.resize(img[0:10, 0:10], (20, 20), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(crop[1:-1, 1:-1].astype(int), up[1:-1, 1:-1].astype(int), atol=1)
    # a box wholly outside: all black, requested size
    far = square_crop(img, (500, 500, 540, 540), 1.0, 112, CLIP)
    assert far.shape == (112, 112, 3) and np.all(far == 0)


# -- head pose -------------------------------------------------------------------------------


def _face_points(yaw=0.0, pitch=0.0, roll=0.0, D=60.0, centre=(300.0, 200.0)):
    """Project the documented 3D face model (orthographic) at the given angles."""
    L = EYE_MOUTH * D
    pts = np.array(
        [
            [-D / 2, 0, 0],
            [D / 2, 0, 0],
            [0, NOSE_FRACTION * L, NOSE_DEPTH * D],
            [-0.35 * D, L, 0],
            [0.35 * D, L, 0],
        ]
    )
    ya, pa, ra = (math.radians(a) for a in (yaw, pitch, roll))
    ry = np.array([[math.cos(ya), 0, math.sin(ya)], [0, 1, 0], [-math.sin(ya), 0, math.cos(ya)]])
    rx = np.array([[1, 0, 0], [0, math.cos(pa), -math.sin(pa)], [0, math.sin(pa), math.cos(pa)]])
    p = pts @ ry.T @ rx.T
    rz = np.array([[math.cos(ra), -math.sin(ra)], [math.sin(ra), math.cos(ra)]])
    return p[:, :2] @ rz.T + np.array(centre)


@pytest.mark.parametrize("yaw", [-40, -20, -5, 0, 10, 30])
def test_head_pose_recovers_yaw(yaw):
    y, p, _ = head_pose(_face_points(yaw=yaw))
    assert y == pytest.approx(yaw, abs=1.0)
    assert abs(p) < 1.0


@pytest.mark.parametrize("pitch", [-30, -15, 0, 15, 30])
def test_head_pose_recovers_pitch(pitch):
    y, p, _ = head_pose(_face_points(pitch=pitch))
    assert p == pytest.approx(pitch, abs=1.5)
    assert abs(y) < 1.0


def test_head_pose_is_roll_invariant_and_reports_roll():
    y0, p0, r0 = head_pose(_face_points(yaw=25, pitch=-10))
    y1, p1, r1 = head_pose(_face_points(yaw=25, pitch=-10, roll=30))
    assert (y1, p1) == pytest.approx((y0, p0), abs=0.01)
    assert r1 - r0 == pytest.approx(30, abs=0.01)
    assert head_pose(_face_points(roll=-15))[2] == pytest.approx(-15, abs=0.01)


def test_head_pose_signs_and_frontal():
    assert head_pose(_face_points(yaw=35))[0] > 20  # turned to the image's right
    assert head_pose(_face_points(yaw=-35))[0] < -20
    assert head_pose(_face_points(pitch=35))[1] > 20  # looking up
    y, p, _ = head_pose(_face_points(yaw=5, pitch=5))
    assert abs(y) < 20 and abs(p) < 20


# -- age groups / labels ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "age,group",
    [
        (0, "child"),
        (12.9, "child"),
        (13, "teen"),
        (19.5, "teen"),
        (20, "20-39"),
        (39.9, "20-39"),
        (40, "40-59"),
        (59, "40-59"),
        (60, "60+"),
        (95, "60+"),
    ],
)
def test_age_group_bins(age, group):
    assert age_group(age) == group


def test_age_group_probs_are_a_calibrated_distribution():
    for age in (3, 12, 16, 25, 39, 45, 70):
        p = age_group_probs(age)
        assert list(p) == list(AGE_GROUPS)
        assert sum(p.values()) == pytest.approx(1.0)
        assert all(v >= 0 for v in p.values())
    # a clear adult estimate is almost surely not a child
    assert age_group_probs(30)["child"] < 0.01
    assert max(age_group_probs(30), key=age_group_probs(30).get) == "20-39"
    # near a boundary the two neighbouring groups share the mass
    p = age_group_probs(20.0)
    assert 0.3 < p["teen"] < 0.6 and 0.4 < p["20-39"] < 0.7
    # spread grows with age
    assert age_sigma(60) > age_sigma(30) > age_sigma(5)
    # a 17-year-old estimate leaves substantial probability of being an adult and of being a minor
    p17 = age_group_probs(17)
    assert p17["teen"] > 0.4 and p17["20-39"] > 0.15


def test_emotion_label_map_from_faceapi_order():
    idx = _label_map(list(FACEAPI_EMOTIONS), FACEAPI_EMOTIONS, EMOTIONS)
    scores = np.arange(7)  # model order neutral=0, happy=1, ...
    mapped = dict(zip(EMOTIONS, scores[idx], strict=True))
    assert mapped == {"angry": 3, "disgust": 5, "fear": 4, "happy": 1, "neutral": 0, "sad": 2, "surprise": 6}


def test_detection_xywh():
    d = Detection(box=np.array([10, 20, 40, 80], np.float32), score=0.9)
    assert d.xywh == (10, 20, 30, 60) and d.area == 1800


def test_a_first_pass_fills_its_canvas():
    """The network runs on a canvas of multiples of 32: a first pass's long side drops to the
    multiple of 32 below it when that costs at most 15 % of its resolution, never more."""
    from signage.vision.detector import snug_long_side

    assert snug_long_side(213) == 192  # a 512 px photo: 192x192 instead of 224x224 (-9.9 %)
    assert snug_long_side(320) == 320  # already a multiple of 32
    assert snug_long_side(250) == 224  # -10.4 %
    assert snug_long_side(190) == 190  # 160 would be -15.8 %
    assert snug_long_side(40) == 40  # 32 would be -20 %
