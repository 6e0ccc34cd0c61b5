#!/usr/bin/env python3
"""Rewrite config.toml from the declarations in signage/config.py (the single source of
every key's default and meaning). A test fails when the two drift apart."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signage.config import render_config_template  # noqa: E402

(ROOT / "config.toml").write_text(render_config_template(), encoding="utf-8")
print("wrote config.toml")
