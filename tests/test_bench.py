"""Smoke tests of the benchmark harness (scripts/bench).  They check behaviour, never timings."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from signage import bench


def test_percentile_and_summary():
    assert bench.percentile([], 50) is None
    assert bench.percentile([3.0], 99) == 3.0
    assert bench.percentile([1, 2, 3, 4], 50) == 2.5
    s = bench.summary([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s["median"] == 3.0 and s["n"] == 5 and s["max"] == 100.0
    assert s["p90"] > s["median"]


def test_loop_lag_probe_records_overshoot():
    async def main():
        probe = bench.LoopLagProbe(interval=0.005)
        probe.start()
        await asyncio.sleep(0.1)
        # block the loop once: the probe must see it as lag
        import time

        time.sleep(0.05)
        await asyncio.sleep(0.05)
        return await probe.stop()

    lag = asyncio.run(main())
    assert lag["samples"] >= 5
    assert lag["max_ms"] >= 30.0  # the 50 ms block shows up
    assert lag["p50_ms"] <= lag["p99_ms"] <= lag["max_ms"]


def test_letterbox_and_rss():
    img = np.full((512, 512, 3), 200, np.uint8)
    out = bench.letterbox(img)
    assert out.shape == (480, 640, 3)
    assert out[240, 320].tolist() == [200, 200, 200] and out[240, 0].tolist() == [0, 0, 0]
    assert bench.peak_rss_mb() > 10


def test_fer_venv_without_python_gives_a_reason(tmp_path, monkeypatch):
    peer = bench.load_fer_peer()  # scripts/bench_fer.py: repository tooling, not the runtime
    monkeypatch.setattr(peer, "_fer_python_candidates", lambda: [])
    py, why = peer.ensure_fer_venv(tmp_path / "fer-venv", log=lambda m: None)
    assert py is None and "Python" in why


def test_render_survives_missing_parts():
    text = bench.render(
        {
            "meta": {},
            "stages": {"1": {"error": "boom"}},
            "live": {"video": {"error": "no camera"}},
            "fer": {"available": False, "note": "no venv"},
            "notes": ["hello"],
        }
    )
    assert "no venv" in text and "boom" in text and "hello" in text


@pytest.mark.slow  # the benchmark's smoke run: real models for a while (about 25 s)
def test_quick_run_writes_valid_json(tmp_path, monkeypatch, photo_cache):
    """One tiny round of everything but fer (whose venv is made unavailable): exit 0, valid JSON,
    the 1-, 3- and 8-face frames verified by the detector, a note saying why fer was skipped."""
    peer = bench.load_fer_peer()
    monkeypatch.setattr(bench, "load_fer_peer", lambda: peer)
    monkeypatch.setattr(peer, "ensure_fer_venv", lambda **kw: (None, "test: no fer venv"))
    out = tmp_path / "bench.json"
    rc = bench.main(
        [
            "--quick",
            "--seconds",
            "1",
            "--reps",
            "2",
            "--json-out",
            str(out),
            "--cache-dir",
            str(photo_cache),
            "--eval-dir",
            str(tmp_path / "no-dev-sets"),
        ]
    )
    assert rc == 0
    report = json.loads(out.read_text())
    for n in ("1", "3", "8"):
        stage = report["stages"][n]
        assert stage["faces"] == int(n), stage
        for key in ("detect", "crop", "emotion", "age_gender", "end_to_end"):
            assert stage[key]["n"] == 2 and stage[key]["median"] > 0
    assert set(report["precision"]["models"]) and "chain_3_faces" in report["precision"]
    assert report["fer"]["available"] is False
    assert any("test: no fer venv" in n for n in report["notes"])
    assert any("no dev sets" in n for n in report["notes"]) and report["accuracy"] == {}
    assert report["peak_rss_mb"] > 0
    assert {"video", "photos", bench.FULL_EVERY_FRAME} <= set(report["live"])
    # the frame-cost saving is measured against full-size detection of the same clip, same run
    base = report["live"][bench.FULL_EVERY_FRAME]
    assert base["pipeline_stats"]["frames_reduced_detection"] == 0 < base["frames_analysed"]
    assert any(t["name"].strip().startswith("the same against full-size") for t in report["targets"])
    # the CPU per frame, split by part of the appliance, adds up to the whole; the lag probe ran
    # in a window of its own (its wakeups are not the pipeline's CPU)
    video = report["live"]["video"]
    parts = video["cpu_ms_per_frame_by_part"]
    assert set(parts) == {"vision", "event loop", bench.REST_PART} and parts["vision"] > 0
    assert sum(parts.values()) == pytest.approx(video["cpu_s_per_frame"] * 1000, abs=0.05)
    assert video["loop_lag"]["samples"] > 0


def test_register_adds_the_bench_command():
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    bench.register(sub)
    args = parser.parse_args(["bench", "--quick", "--no-fer", "--seconds", "2", "--json-out", "x.json"])
    assert args.func is bench.cmd_bench
    assert args.quick and args.no_fer and args.seconds == 2.0 and args.json_out == "x.json"


def test_other_load_is_measured():
    with bench.OtherLoad() as load:
        sum(range(200_000))
    assert load.cores is None or load.cores >= 0.0
    assert load.wall > 0


def test_speed_figures_come_with_their_accuracy():
    acc = {
        "step": 3,
        "ferplus_test_balanced": {"emotion 7-class macro recall %": 70.1},
        "utkface_crop": {"gender %": 93.9, "age MAE years": 4.85},
        "dlib_faces": {"faces found": 43, "false positives": 0},
    }
    line = bench.accuracy_text(acc)
    assert "FER+ 70.1" in line and "UTK gender 93.9 MAE 4.85" in line and "dlib 43 found 0 FP" in line
    assert "(1 image in 3)" in line
    text = bench.render(
        {
            "meta": {},
            "accuracy": {"configured": acc, "all int8": {"error": "no model"}},
            "precision": {
                "models": {},
                "chain_3_faces": {
                    "configured": {
                        "detector_precision": "fp32",
                        "emotion_precision": "fp32",
                        "age_gender_precision": "fp32",
                        "detect_reduced_long_side": 320,
                        "ms": {"median": 9.0, "p90": 10.0},
                        "photo_ms": {"median": 5.5, "p90": 6.0},
                    },
                    "full-size detection only": {
                        "detector_precision": "fp32",
                        "emotion_precision": "fp32",
                        "age_gender_precision": "fp32",
                        "detect_reduced_long_side": 0,
                        "ms": {"median": 12.0, "p90": 13.0},
                        "photo_ms": {"median": 14.0, "p90": 15.0},
                    },
                    "all int8": {
                        "detector_precision": "int8",
                        "emotion_precision": "int8",
                        "age_gender_precision": "int8",
                        "ms": {"median": 7.0, "p90": 8.0},
                    },
                },
            },
            "notes": [],
        }
    )
    assert "FER+ 70.1" in text and "no model" in text
    assert "320 px first pass" in text and "full size only" in text and "5.50 / 6.00" in text
    assert bench.accuracy_text(None) == "n/a"


def test_chain_settings_compare_the_photo_fast_path():
    from signage.config import default_config

    config = default_config()
    settings = bench.chain_settings(config)
    assert settings["configured"]["detect_reduced_long_side"] == config.vision.detect_reduced_long_side > 0
    assert settings["full-size detection only"]["detect_reduced_long_side"] == 0
    assert {k for k, v in settings.items() if v["detector_precision"] == "int8"} == {"all int8"}
    # each setting is a valid change of the vision config (the accuracy and speed runs build it)
    for changes in settings.values():
        assert bench.vision_config(config, **changes).detect_reduced_long_side == changes["detect_reduced_long_side"]


def test_fer_table_shows_each_setting_with_its_ratio_and_accuracy():
    acc = {"step": 3, "ferplus_test_balanced": {"emotion 7-class macro recall %": 70.1}}
    slow = {"step": 3, "ferplus_test_balanced": {"emotion 7-class macro recall %": 70.3}}
    summ = {"median": 6.0, "p90": 7.0}
    text = bench.render(
        {
            "meta": {},
            "accuracy": {"configured": acc, "full-size detection only": slow},
            "fer": {
                "available": True,
                "photo": "astronaut.png",
                "image_shape": [512, 512, 3],
                "rounds": 2,
                "images_per_round": 3,
                "ours": {"ms": summ, "cpu_ms_per_image": 5.0, "faces": 1, "emotion": "happy"},
                "fer": {"ms": {"median": 60.0, "p90": 70.0}, "cpu_ms_per_image": 55.0, "faces": 1, "emotion": "happy"},
                "variants": {
                    "full-size detection only": {
                        "ms": {"median": 15.0, "p90": 16.0},
                        "cpu_ms_per_image": 14.0,
                        "ratio_median": 4.0,
                        "cpu_ratio": 3.9,
                    }
                },
                "per_round": [{"ratio": 10.0}, {"ratio": 9.0}],
                "ratio_median": 9.5,
                "ratio_min": 9.0,
                "ratio_max": 10.0,
                "cpu_ratio": 11.0,
            },
            "notes": [],
        }
    )
    assert "9.50x" in text and "11.00x" in text and "4.00x" in text and "3.90x" in text
    assert "FER+ 70.1" in text and "FER+ 70.3" in text
