"""Config: the shipped file is valid and complete; every kind of mistake gets one clear line."""

import subprocess
import sys
from pathlib import Path

import pytest

from signage.config import (
    ConfigError,
    config_from_dict,
    documented_keys,
    load_config,
    render_config_reference,
    render_config_template,
)

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_config_is_valid_and_documents_every_key():
    cfg = load_config(ROOT / "config.toml")
    assert cfg.web.port == 8080
    text = (ROOT / "config.toml").read_text()
    assert text == render_config_template(), "config.toml drifted: run python scripts/gen_config.py"
    assert render_config_reference() in (ROOT / "README.md").read_text(), (
        "README's config reference drifted: run python scripts/gen_config.py"
    )
    for key, _default, doc in documented_keys():
        section, name = key.split(".")
        assert f"\n{name} = " in text and doc, key


def test_relative_paths_are_relative_to_the_config_file(tmp_path):
    (tmp_path / "c.toml").write_text('[storage]\ndata_dir = "d"\n')
    cfg = load_config(tmp_path / "c.toml")
    assert cfg.storage.data_dir == tmp_path / "d"
    assert cfg.db_path == tmp_path / "d" / "signage.db"


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"camera": {"sorce": "photos"}}, 'camera.sorce: unknown key (did you mean "source"?)'),
        (
            {"camera": {"source": "webcam"}},
            'camera.source = "webcam": must be one of "auto", "picamera2", "opencv", "video", "photos"',
        ),
        ({"vison": {}}, '[vison]: unknown section (did you mean "vision"?)'),
        ({"web": {"port": 70000}}, "web.port = 70000: must be between 1 and 65535"),
        ({"web": {"port": "80"}}, 'web.port = "80": must be a whole number'),
        ({"vision": {"mask": "yes"}}, 'vision.mask = "yes": must be true or false'),
        ({"vision": {"detect_score": 2}}, "vision.detect_score = 2.0: must be between 0.05 and 0.99"),
        ({"admin": {"password_hash": "hunter2"}}, "admin.password_hash: looks like a plain-text password"),
        ({"ads": {"mood_rules": {"sadd": "healing"}}}, 'ads.mood_rules.sadd: unknown mood (did you mean "sad"?)'),
        ({"ads": {"mood_rules": {"sad": "cry"}}}, 'ads.mood_rules.sad = "cry": must be one of'),
        ({"camera": {"source": "video"}}, 'camera.video_path = "": the "video" source needs a video file path'),
        ({"logging": "debug"}, "[logging] must be a table"),
    ],
)
def test_bad_values_are_named_with_what_is_allowed(raw, message):
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_file_level_errors(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[camera\nsource = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def _cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "signage", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_check_config_cli_gives_one_line_and_no_traceback(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text('[camera]\nsource = "photos"\nphoto_second = 3\n')
    proc = _cli("check-config", str(bad))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert 'camera.photo_second: unknown key (did you mean "photo_seconds"?)' in lines[0]
    ok = _cli("check-config", str(ROOT / "config.toml"))
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout


def test_run_refuses_a_bad_config_before_starting(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text('[web]\nport = "eighty"\n')
    proc = _cli("--config", str(bad), "run")
    assert proc.returncode == 2
    assert 'web.port = "eighty": must be a whole number' in proc.stderr
    assert "Traceback" not in proc.stderr
