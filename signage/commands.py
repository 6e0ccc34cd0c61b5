"""The command lines we suggest to people, written so they can be pasted as shown.

`python -m signage set-password` fails as typed on an appliance: the system `python` has none of
the dependencies (they live in the project's `.venv`). Every hint in a message, a page or a log
line is built here, from the interpreter that runs this very process, so it names the one that
works: `.venv/bin/python -m signage set-password` when run from the project folder, the full
path otherwise. Stdlib only: `signage/config.py` uses it for its own messages.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

__all__ = ["python_command", "signage_command"]


def python_command(cwd: Path | None = None) -> str:
    """This process's interpreter, relative to `cwd` when it lives below it (`.venv/bin/python`)."""
    exe = Path(sys.executable or "python3")
    here = Path(cwd or os.getcwd())
    try:
        shown = str(exe.relative_to(here)) if exe.is_absolute() else str(exe)
    except ValueError:
        shown = str(exe)
    return shlex.quote(shown)


def signage_command(*args: str, config_file: Path | None = None, cwd: Path | None = None, with_cd: bool = False) -> str:
    """`<python> -m signage [--config FILE] ARGS...`, quoted for a POSIX shell.

    `config_file` is added only when it is not `./config.toml` (the default). With `with_cd`, the
    line starts with `cd <folder> &&` so it works from any folder (for web pages, where the
    reader's shell is not in the project folder)."""
    here = Path(cwd or os.getcwd()).resolve()
    parts = [python_command(here), "-m", "signage"]
    if config_file is not None:
        cf = Path(config_file)
        resolved = (here / cf).resolve() if not cf.is_absolute() else cf
        if resolved != here / "config.toml":
            try:
                shown = str(resolved.relative_to(here))
            except ValueError:
                shown = str(resolved)
            parts += ["--config", shlex.quote(shown)]
    parts += [shlex.quote(a) for a in args]
    line = " ".join(parts)
    return f"cd {shlex.quote(str(here))} && {line}" if with_cd else line
