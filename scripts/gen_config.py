#!/usr/bin/env python3
"""Rewrite config.toml and the README's configuration reference from the declarations in
signage/config.py (the single source of every key's default and meaning). A test fails
when they drift apart."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signage.config import render_config_reference, render_config_template  # noqa: E402

START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"

(ROOT / "config.toml").write_text(render_config_template(), encoding="utf-8")
readme = ROOT / "README.md"
text = readme.read_text(encoding="utf-8")
block = f"{START}\n{render_config_reference()}{END}"
text, n = re.subn(re.escape(START) + r".*?" + re.escape(END), lambda m: block, text, flags=re.S)
if n != 1:
    sys.exit("README.md has no config-reference markers")
readme.write_text(text, encoding="utf-8")
print("wrote config.toml and the README's configuration reference")
