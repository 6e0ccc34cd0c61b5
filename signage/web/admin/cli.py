"""`.venv/bin/python -m signage set-password`: write a salted admin password hash into config.toml.

Only the `password_hash` line of `[admin]` changes (it is added when missing, and `[admin]`
too); comments, order and every other key stay as they were. The new file is checked with
the real config loader before it replaces the old one (atomically, same permissions).

This command must work when the current file is refused (a plain-text password) or does not
exist yet, so `signage/__main__.py` runs it without loading the config first
(`set_defaults(needs_config=False)`); `func(args, config)` then gets `config=None`.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from .auth import DEFAULT_ITERATIONS, hash_password

__all__ = ["register", "set_password_in_text", "write_password_hash", "password_problem", "MIN_LENGTH"]

MIN_LENGTH = 10

_TABLE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_ARRAY_TABLE = re.compile(r"^\s*\[\[.*\]\]\s*(#.*)?$")
_KEY = re.compile(r"^(\s*)password_hash(\s*)=")
_DOTTED_ROOT_KEY = re.compile(r"^(\s*)admin\s*\.\s*password_hash(\s*)=")


def _toml_string(value: str) -> str:
    # our hashes are base64 and '$': a basic string needs no escapes, but be safe anyway
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def set_password_in_text(text: str, password_hash: str) -> str:
    """`text` (a config.toml) with `admin.password_hash` set to `password_hash`, all else kept."""
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    value = f"password_hash = {_toml_string(password_hash)}"
    table: str | None = None  # None = root
    admin_header_at: int | None = None
    admin_last_key_at: int | None = None
    for i, line in enumerate(lines):
        stripped = line.rstrip("\r\n")
        if _ARRAY_TABLE.match(stripped):
            table = "[[array]]"
            continue
        m = _TABLE.match(stripped)
        if m:
            table = m.group(1).strip().strip('"')
            if table == "admin":
                admin_header_at = i
            continue
        if table == "admin":
            km = _KEY.match(stripped)
            if km:
                lines[i] = f"{km.group(1)}{value}{_line_end(line, newline)}"
                return "".join(lines)
            if stripped.strip() and not stripped.lstrip().startswith("#"):
                admin_last_key_at = i
        elif table is None:
            dm = _DOTTED_ROOT_KEY.match(stripped)
            if dm:
                lines[i] = f"{dm.group(1)}admin.{value}{_line_end(line, newline)}"
                return "".join(lines)
    if admin_header_at is not None:
        at = (admin_last_key_at if admin_last_key_at is not None else admin_header_at) + 1
        if at > 0 and not lines[at - 1].endswith(("\n", "\r")):
            lines[at - 1] += newline
        lines.insert(at, value + newline)
        return "".join(lines)
    out = "".join(lines)
    if out and not out.endswith("\n"):
        out += newline
    sep = newline if out.strip() else ""
    return (
        f"{out}{sep}[admin]{newline}"
        f"# Salted hash written by `python -m signage set-password`; empty = admin pages disabled.{newline}"
        f"{value}{newline}"
    )


def _line_end(line: str, default: str) -> str:
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith("\n"):
        return "\n"
    return ""


def write_password_hash(path: Path, password_hash: str) -> None:
    """Update (or create) the config file; refuse when the result would not load cleanly."""
    from ...config import ConfigError, config_from_dict

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        text, mode = "", 0o600
    new_text = set_password_in_text(text, password_hash)
    try:
        raw = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: is not valid TOML ({exc}); fix it first, nothing was changed") from None
    if raw.get("admin", {}).get("password_hash") != password_hash:
        raise ValueError(f"{path}: could not place admin.password_hash safely; nothing was changed")
    try:
        config_from_dict(raw, base_dir=path.parent)
    except ConfigError as exc:
        raise ValueError(f"{path}: {exc} (the password was not written)") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(new_text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def password_problem(password: str) -> str | None:
    """What is wrong with a new admin password (checked before it is asked a second time)."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters (this one has {len(password)})"
    if password.strip() != password:
        return "the password must not start or end with a space"
    return None


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        pw = sys.stdin.readline().rstrip("\r\n")
        problem = password_problem(pw)
        if problem:
            raise ValueError(f"{problem}; nothing was changed")
        return pw
    if not sys.stdin.isatty():
        raise ValueError("no terminal to ask for the password on; pipe it with --password-stdin")
    print(f"The admin password needs at least {MIN_LENGTH} characters.")
    for _ in range(3):  # rules first: nobody types a refused password twice
        first = getpass.getpass("New admin password: ")
        problem = password_problem(first)
        if problem is None:
            break
        print(f"  {problem}; try again.", file=sys.stderr)
    else:
        raise ValueError(f"{problem}; nothing was changed")
    second = getpass.getpass("Repeat it: ")
    if first != second:
        raise ValueError("the two passwords differ; nothing was changed")
    return first


def _cmd_set_password(args: argparse.Namespace, config: Any = None) -> int:
    path = Path(args.config_path)
    try:
        password = _read_password(args)
        encoded = hash_password(password, iterations=args.iterations)
        write_password_hash(path, encoded)
    except ValueError as exc:
        print(f"signage: set-password: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"signage: set-password: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return 2
    print(
        f"{path}: admin password set (salted PBKDF2-SHA256 hash). A running signage uses it from the next "
        f"login at /admin, without a restart; admins already logged in stay logged in."
    )
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "set-password",
        help="set the admin password (writes a salted hash into config.toml)",
        description="Ask for a new admin password and write its salted hash into the config file as "
        "admin.password_hash, keeping the rest of the file as it is.",
    )
    p.add_argument(
        "--config",
        dest="config_path",
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="config file to update (created when missing; default: ./config.toml)",
    )
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (for scripts)",
    )
    p.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS, help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_set_password, needs_config=False)


def main(argv: list[str] | None = None) -> int:
    """`python -m signage.web.admin.cli set-password ...`: the same command, for when the main CLI
    cannot load the config (it refuses a plain-text password before running any command)."""
    parser = argparse.ArgumentParser(prog="python -m signage.web.admin.cli")
    parser.add_argument("--config", dest="config_path", default="config.toml", metavar="PATH")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register(sub)
    args = parser.parse_args(argv)
    status: int = args.func(args, None)
    return status


if __name__ == "__main__":
    sys.exit(main())
