"""The central PostgreSQL: create or upgrade its schema (`fleet init-db`) and add a screen's
login role (`fleet add-screen`). Run by an operator with an administrator's URL; the SQL
lives in `sql/` (numbered steps applied once, views re-created every time)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..commands import signage_command
from .urls import scrub, with_login

__all__ = ["CentralError", "SCHEMA_VERSION", "init_db", "add_screen", "role_name", "connect"]

#: Highest numbered step in sql/ (001_schema.sql ...).
SCHEMA_VERSION = 1
#: Months of partitions kept ready on each side of the current month.
PARTITION_MONTHS_BACK, PARTITION_MONTHS_AHEAD = 1, 3
_LOCK_KEY = 0x5167_6E61  # advisory lock: two init-db at once apply each step once


class CentralError(RuntimeError):
    """A central-database problem, worded for the operator (never holds a password)."""


def _sql(name: str) -> str:
    return resources.files(__package__).joinpath("sql", name).read_text(encoding="utf-8")


def _steps() -> list[tuple[int, str]]:
    files = sorted(
        p.name
        for p in resources.files(__package__).joinpath("sql").iterdir()
        if re.fullmatch(r"\d{3}_\w+\.sql", p.name)
    )
    return [(int(name[:3]), _sql(name)) for name in files]


def connect(url: str, *, timeout_s: float = 10.0) -> Any:
    try:
        import psycopg
    except ImportError:
        raise CentralError("the fleet commands need psycopg: pip install 'signage[fleet]'") from None
    try:
        return psycopg.connect(url, connect_timeout=max(1, int(timeout_s)))
    except psycopg.Error as exc:
        raise CentralError(f"cannot connect to the central database: {scrub(str(exc), url).strip()}") from None


@dataclass(frozen=True)
class InitResult:
    previous_version: int
    version: int
    partitions_created: int
    sessions_deleted: int
    exposures_deleted: int


def init_db(url: str, *, retention_days: int = 30, min_exposure_s: float = 1.0, watcher_s: float = 1.0) -> InitResult:
    """Create or upgrade the central schema, views, partitions and policies; apply retention.
    Idempotent. A database whose schema is newer than this release is refused untouched."""
    import psycopg

    with connect(url) as conn:
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                previous = _version(conn)
                if previous > SCHEMA_VERSION:
                    raise CentralError(
                        f"the central schema is version {previous}, newer than this signage release "
                        f"knows ({SCHEMA_VERSION}); upgrade signage. Nothing was changed."
                    )
                for role in ("fleet_screen", "fleet_reader"):
                    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
                        conn.execute(f"CREATE ROLE {role} NOLOGIN")
                conn.execute("CREATE SCHEMA IF NOT EXISTS fleet")
                conn.execute("CREATE TABLE IF NOT EXISTS fleet.schema_version (version integer NOT NULL)")
                for step, script in _steps():
                    if step > previous:
                        conn.execute(script)
                        conn.execute("DELETE FROM fleet.schema_version")
                        conn.execute("INSERT INTO fleet.schema_version VALUES (%s)", (step,))
                for key, value in (
                    ("retention_days", retention_days),
                    ("min_exposure_s", min_exposure_s),
                    ("watcher_s", watcher_s),
                ):
                    conn.execute(
                        "INSERT INTO fleet.settings VALUES (%s, %s) ON CONFLICT (key) "
                        "DO UPDATE SET value = excluded.value",
                        (key, str(value)),
                    )
                conn.execute(_sql("views.sql"))
                created = conn.execute(
                    "SELECT fleet.ensure_partitions(%s, %s)", (PARTITION_MONTHS_BACK, PARTITION_MONTHS_AHEAD)
                ).fetchone()[0]
                sessions, exposures = conn.execute("SELECT * FROM fleet.apply_retention()").fetchone()
        except psycopg.Error as exc:
            raise CentralError(f"init-db failed, nothing was changed: {scrub(str(exc), url).strip()}") from None
    return InitResult(previous, SCHEMA_VERSION, created, sessions, exposures)


def _version(conn: Any) -> int:
    if conn.execute("SELECT to_regclass('fleet.schema_version')").fetchone()[0] is None:
        return 0
    row = conn.execute("SELECT max(version) FROM fleet.schema_version").fetchone()
    return int(row[0] or 0)


def role_name(device_id: str) -> str:
    """A PostgreSQL role name for a device id: readable, and distinct for distinct ids."""
    slug = re.sub(r"[^a-z0-9_]+", "_", device_id.lower()).strip("_")[:40]
    if slug != device_id:  # lower-cased or replaced characters: add a hash so ids stay distinct
        import hashlib

        slug = f"{slug}_{hashlib.sha256(device_id.encode()).hexdigest()[:8]}"
    return f"screen_{slug}"


def add_screen(url: str, device_id: str, *, host: str | None = None) -> str:
    """Create (or, for a screen re-imaged, give a new password to) the screen's login role and
    return the URL the screen writes in `[fleet] database_url`."""
    import psycopg
    from psycopg import sql

    if not device_id or len(device_id) > 100 or not device_id.isprintable():
        raise CentralError(f"{device_id!r}: a device id is 1-100 printable characters ([device].id)")
    role = role_name(device_id)
    password = secrets.token_urlsafe(24)
    with connect(url) as conn:
        try:
            with conn.transaction():
                if _version(conn) == 0:
                    raise CentralError(
                        "the central schema does not exist yet: run `"
                        + signage_command("fleet", "init-db", "--database-url", "URL")
                        + "` first"
                    )
                owner = conn.execute("SELECT device_id FROM fleet.screens WHERE role_name = %s", (role,)).fetchone()
                if owner is not None and owner[0] != device_id:
                    raise CentralError(f"role {role} already belongs to screen {owner[0]!r}")
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
                verb = "ALTER" if exists else "CREATE"
                conn.execute(
                    sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                        sql.SQL(verb), sql.Identifier(role), sql.Literal(password)
                    )
                )
                conn.execute(sql.SQL("GRANT fleet_screen TO {}").format(sql.Identifier(role)))
                conn.execute(
                    "INSERT INTO fleet.screens (device_id, role_name) VALUES (%s, %s) "
                    "ON CONFLICT (device_id) DO NOTHING",
                    (device_id, role),
                )
        except psycopg.Error as exc:
            raise CentralError(
                f"add-screen failed: {scrub(scrub(str(exc), url), 'x://u:' + password + '@h')}".strip()
            ) from None
    return with_login(url, role, password, host=host)
