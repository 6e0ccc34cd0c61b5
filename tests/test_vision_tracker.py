"""Tracker and smoothing with made-up detections and timestamps (deterministic, no models)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from signage.vision.agegate import why_not_adult
from signage.vision.analyzer import Attributes
from signage.vision.classifiers import EMOTIONS
from signage.vision.detector import Detection
from signage.vision.geometry import EYE_MOUTH, NOSE_DEPTH, NOSE_FRACTION
from signage.vision.tracker import UNCERTAIN, Tracker


def face(x: float, y: float, size: float = 100.0, yaw: float = 0.0, score: float = 0.99) -> Detection:
    """A detection at (x, y) with landmarks of the documented face model turned by yaw."""
    D = 0.4 * size
    L = EYE_MOUTH * D
    ya = math.radians(yaw)
    pts3 = np.array(
        [[-D / 2, 0, 0], [D / 2, 0, 0], [0, NOSE_FRACTION * L, NOSE_DEPTH * D], [-0.35 * D, L, 0], [0.35 * D, L, 0]]
    )
    ry = np.array([[math.cos(ya), 0, math.sin(ya)], [0, 1, 0], [-math.sin(ya), 0, math.cos(ya)]])
    lm = (pts3 @ ry.T)[:, :2] + np.array([x + size / 2, y + 0.35 * size])
    return Detection(box=np.array([x, y, x + size, y + size], np.float32), score=score, landmarks=lm.astype(np.float32))


def tracker(**kw) -> Tracker:
    base = dict(
        confirm_hits=3,
        close_after_s=1.0,
        classify_every_s=1.0,
        smoothing_alpha=0.3,
        uncertain_below=0.4,
        frontal_yaw_deg=20.0,
        frontal_pitch_deg=20.0,
    )
    base.update(kw)
    return Tracker(**base)


def attrs(emotion: str = "happy", p: float = 0.9, age: float = 30.0, female: float = 0.9) -> Attributes:
    e = np.full(7, (1 - p) / 6)
    e[EMOTIONS.index(emotion)] = p
    return Attributes(emotion_probs=e, age=age, gender_probs=np.array([female, 1 - female]))


def test_confirmed_after_three_consecutive_hits_and_ids_stay():
    tr = tracker()
    for k in range(3):
        tr.update(k * 0.1, [face(100 + 5 * k, 100)])
        snaps = tr.snapshots()
        assert len(snaps) == 1 and snaps[0].id == 1
        assert snaps[0].confirmed is (k == 2)


def test_tentative_track_missing_a_frame_is_dropped_without_closing():
    tr = tracker()
    tr.update(0.0, [face(100, 100)])
    tr.update(0.1, [face(100, 100)])
    closed = tr.update(0.2, [])
    assert closed == [] and tr.snapshots() == []
    # the next detection starts a new track
    tr.update(0.3, [face(100, 100)])
    assert tr.snapshots()[0].id == 2


def test_confirmed_track_survives_short_gap_and_closes_after_close_after_s():
    tr = tracker(close_after_s=1.0)
    for k in range(5):
        tr.update(k * 0.1, [face(100, 100)])
    assert tr.update(0.5, []) == []
    assert tr.update(1.0, []) == []  # missing 0.6 s
    snap = tr.snapshots()[0]
    assert snap.confirmed and not snap.visible
    tr.update(1.2, [face(104, 100)])  # back: same track
    assert [s.id for s in tr.snapshots()] == [1]
    assert tr.snapshots()[0].dwell == pytest.approx(1.2)
    assert tr.update(2.1, []) == []  # missing 0.9 s
    closed = tr.update(2.2, [])  # missing 1.0 s -> closed once
    assert [c.id for c in closed] == [1]
    assert closed[0].dwell == pytest.approx(1.2)
    assert tr.snapshots() == [] and tr.update(2.3, []) == []


def test_a_starved_worker_closes_a_track_only_after_two_missed_frames():
    """Analysed frames 2.5 s apart (a vision worker starved of CPU): one frame that misses the
    face is not the person leaving; a second one in a row is."""
    tr = tracker(close_after_s=1.0)
    for k in range(3):
        tr.update(k * 2.5, [face(100, 100)])
    assert tr.update(7.5, []) == []  # missing 2.5 s, one frame: kept
    tr.update(10.0, [face(102, 100)])  # back: the same track, the same person
    assert [s.id for s in tr.snapshots()] == [1]
    assert tr.update(12.5, []) == []
    closed = tr.update(15.0, [])  # two frames in a row: gone
    assert [c.id for c in closed] == [1] and closed[0].dwell == pytest.approx(10.0)


def test_two_faces_keep_their_ids_when_moving():
    tr = tracker()
    for k in range(6):
        tr.update(k * 0.1, [face(500 - 10 * k, 100), face(100 + 10 * k, 120)])
    snaps = {s.id: s for s in tr.snapshots()}
    assert set(snaps) == {1, 2}
    assert snaps[1].box[0] == pytest.approx(450) and snaps[2].box[0] == pytest.approx(150)


def test_fast_move_matches_by_centre_distance():
    tr = tracker()
    tr.update(0.0, [face(100, 100)])
    tr.update(0.1, [face(140, 100)])  # IoU 0.43 -> match
    tr.update(0.2, [face(190, 100)])  # IoU 0.33 -> still a match
    tr.update(0.3, [face(250, 100)])  # IoU 0.25 < 0.3 but centre moved 60 < 75 px
    snaps = tr.snapshots()
    assert [s.id for s in snaps] == [1] and snaps[0].confirmed
    tr.update(0.4, [face(400, 100)])  # 150 px away: a new face, old track kept
    assert sorted(s.id for s in tr.snapshots()) == [1, 2]


def test_dwell_and_attention():
    tr = tracker()
    yaws = [0, 0, 40, 40, 0, 0, 0]  # frontal, frontal, away, away, frontal...
    for k, yaw in enumerate(yaws):
        tr.update(k * 0.5, [face(100, 100, yaw=yaw)])
    s = tr.snapshots()[0]
    assert s.dwell == pytest.approx(3.0)
    # frontal at both ends: intervals 0-1 (0.5 s), 4-5, 5-6 (1.0 s) -> 1.5 s
    assert s.attention == pytest.approx(1.5)
    assert s.attention <= s.dwell and s.frontal


def test_attention_never_exceeds_dwell_with_random_data():
    rng = np.random.default_rng(7)
    tr = tracker(close_after_s=0.5)
    ts = 0.0
    closed = []
    for _ in range(400):
        ts += float(rng.uniform(0.02, 0.3))
        dets = [face(100 + rng.normal(0, 3), 100, yaw=float(rng.uniform(-40, 40)))] if rng.random() < 0.8 else []
        closed += tr.update(ts, dets)
    closed += tr.close_all()
    assert closed
    for s in closed:
        assert 0 <= s.attention <= s.dwell + 1e-9


def test_classification_schedule_new_track_at_once_then_every_interval():
    tr = tracker(classify_every_s=1.0)
    tr.update(0.0, [face(100, 100)])
    due = tr.due_for_classification(0.0)
    assert len(due) == 1
    tr.apply(due[0], attrs(), 0.0)
    runs = 1
    for k in range(1, 26):  # 2.5 s at 10 fps
        ts = k * 0.1
        tr.update(ts, [face(100, 100)])
        for t in tr.due_for_classification(ts):
            tr.apply(t, attrs(), ts)
            runs += 1
    assert runs == 3  # at 0.0, 1.0, 2.0 s
    # a track not seen in this frame is not classified
    tr.update(2.6, [])
    assert tr.due_for_classification(3.5) == []


def test_each_classification_adds_an_age_gate_sample_with_face_size_and_pose():
    tr = tracker(classify_every_s=1.0)
    for k, (age, yaw) in enumerate([(30.0, 0.0), (31.0, 50.0), (29.0, 0.0), (33.0, 0.0)]):
        tr.update(float(k), [face(100, 100, size=80, yaw=yaw)])
        for t in tr.due_for_classification(float(k)):
            tr.apply(t, attrs(age=age), float(k))
    (snap,) = tr.snapshots()
    assert [s.age for s in snap.age_samples] == [30.0, 31.0, 29.0, 33.0]
    assert all(s.face_px == pytest.approx(80) for s in snap.age_samples)
    assert abs(snap.age_samples[1].yaw) > 35 > abs(snap.age_samples[0].yaw)
    # the turned frame does not count: 3 usable frames, median 30
    assert why_not_adult(snap.age_samples, 24) is None
    assert "median estimated age 30 < 31" in why_not_adult(snap.age_samples, 31)
    # a small face (30 px, far from the camera) gives no usable frame
    small = tracker()
    for k in range(4):
        small.update(float(k), [face(100, 100, size=30)])
        for t in small.due_for_classification(float(k)):
            small.apply(t, attrs(age=40.0), float(k))
    assert "0 of 3 usable frames" in why_not_adult(small.snapshots()[0].age_samples, 24)


def test_smoothing_and_uncertain_labels():
    tr = tracker(smoothing_alpha=0.3, uncertain_below=0.4)
    tr.update(0.0, [face(100, 100)])
    t = tr.tracks[0]
    tr.apply(t, attrs("happy", 0.9, female=0.9), 0.0)
    s = tr.snapshots()[0]
    assert s.emotion == "happy" and s.emotion_scores["happy"] == pytest.approx(0.9)
    assert s.gender == "female" and s.gender_score == pytest.approx(0.9)
    # one opposite result only moves the average by alpha
    tr.apply(t, attrs("sad", 0.9, female=0.1), 1.0)
    s = tr.snapshots()[0]
    assert s.emotion_scores["happy"] == pytest.approx(0.7 * 0.9 + 0.3 * 0.1 / 6)
    assert s.emotion == "happy"
    assert s.gender_scores["female"] == pytest.approx(0.7 * 0.9 + 0.3 * 0.1)
    # a flat emotion distribution is reported as uncertain, not guessed
    tr2 = tracker()
    tr2.update(0.0, [face(100, 100)])
    tr2.apply(
        tr2.tracks[0], Attributes(emotion_probs=np.full(7, 1 / 7), age=19.5, gender_probs=np.array([0.55, 0.45])), 0.0
    )
    s2 = tr2.snapshots()[0]
    assert s2.emotion == UNCERTAIN
    assert s2.gender == "female"  # 0.55 >= 0.4
    # an age right at a group boundary splits the mass
    assert s2.age_group in ("teen", "20-39", UNCERTAIN)
    assert sum(s2.age_group_scores.values()) == pytest.approx(1.0)
    tr3 = tracker(uncertain_below=0.6)
    tr3.update(0.0, [face(100, 100)])
    tr3.apply(
        tr3.tracks[0], Attributes(emotion_probs=np.full(7, 1 / 7), age=20.0, gender_probs=np.array([0.55, 0.45])), 0.0
    )
    s3 = tr3.snapshots()[0]
    assert s3.gender == UNCERTAIN and s3.age_group == UNCERTAIN


def test_unclassified_track_reports_no_labels_and_json_schema():
    tr = tracker()
    tr.update(0.0, [face(100, 100)])
    s = tr.snapshots()[0]
    assert not s.classified and s.emotion is None and s.gender is None and s.age is None
    j = s.to_json()
    assert set(j) == {
        "id",
        "confirmed",
        "box",
        "landmarks",
        "score",
        "yaw",
        "pitch",
        "frontal",
        "visible",
        "dwell",
        "attention",
        "classified",
        "emotion",
        "emotion_scores",
        "age",
        "age_group",
        "age_group_scores",
        "gender",
        "gender_scores",
        "mask",
    }
    assert j["box"] == [100, 100, 100, 100] and len(j["landmarks"]) == 5


def test_timestamps_must_not_go_back():
    tr = tracker()
    tr.update(1.0, [])
    with pytest.raises(ValueError):
        tr.update(0.5, [])
