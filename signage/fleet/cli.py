"""CLI: `python -m signage fleet init-db|add-screen|ship|status|export-config|publish`
(docs/fleet.md). Every command returns an exit status and prints one clear line on error,
never a traceback and never a password."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from ..config import default_config

__all__ = ["register"]


def register(subparsers: Any) -> None:
    fleet = subparsers.add_parser(
        "fleet", help="many screens: central PostgreSQL, Prometheus/Grafana files, published ad bundles (docs/fleet.md)"
    )
    sub = fleet.add_subparsers(dest="fleet_command", metavar="ACTION", required=True)

    init = sub.add_parser(
        "init-db",
        help="create or upgrade the central schema, views, partitions and "
        "policies, and apply central retention (idempotent; run daily)",
    )
    init.add_argument("--database-url", required=True, metavar="URL", help="an administrator's URL")
    # the screens' own defaults (one definition, in signage.config): the centre applies the same
    # retention and the same impression and watcher thresholds unless told otherwise
    screen = default_config()
    init.add_argument(
        "--retention-days",
        type=int,
        default=screen.privacy.retention_days,
        help="delete per-session records older than this, as privacy.retention_days (%(default)s)",
    )
    init.add_argument(
        "--min-exposure-s",
        type=float,
        default=screen.audience.min_exposure_s,
        help="as audience.min_exposure_s (%(default)s)",
    )
    init.add_argument(
        "--watcher-s", type=float, default=screen.audience.watcher_s, help="as audience.watcher_s (%(default)s)"
    )
    init.set_defaults(func=cmd_init_db, needs_config=False)

    add = sub.add_parser("add-screen", help="create a screen's login role; prints its database URL")
    add.add_argument("device_id", metavar="DEVICE_ID", help="the screen's [device].id")
    add.add_argument("--database-url", required=True, metavar="URL", help="an administrator's URL")
    add.add_argument("--host", help="host name the screen reaches the database at (default: the URL's)")
    add.set_defaults(func=cmd_add_screen, needs_config=False)

    ship = sub.add_parser("ship", help="ship everything pending in the outbox now, then exit")
    ship.add_argument("--config", dest="config_path", default=argparse.SUPPRESS, metavar="PATH")
    ship.add_argument("--data-dir", type=Path, help="folder of the database (overrides storage.data_dir)")
    ship.set_defaults(func=cmd_ship)

    status = sub.add_parser("status", help="outbox depth, last ship, last error, content version")
    status.add_argument("--config", dest="config_path", default=argparse.SUPPRESS, metavar="PATH")
    status.add_argument("--data-dir", type=Path, help="folder of the database (overrides storage.data_dir)")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=cmd_status)

    export = sub.add_parser(
        "export-config", help="write Prometheus (discovery, alert rules) and Grafana (data sources, dashboards) files"
    )
    export.add_argument("dir", type=Path, metavar="DIR")
    export.add_argument(
        "--no-upload-hours", type=float, default=6.0, help="alert when a screen has not shipped for this long (6)"
    )
    export.set_defaults(func=cmd_export_config, needs_config=False)

    pub = sub.add_parser(
        "publish", help="turn a fleet inventory into content-addressed files and one manifest per screen group"
    )
    pub.add_argument(
        "inventory", type=Path, metavar="INVENTORY_DIR", help="folder with ads/<slug>/ad.toml folders and groups.toml"
    )
    pub.add_argument("out", type=Path, metavar="OUT_DIR", help="folder served by a static web server")
    pub.add_argument(
        "--promote", action="store_true", help="make the version the canary group runs live for every group"
    )
    pub.set_defaults(func=cmd_publish, needs_config=False)


def _fail(message: str, code: int = 1) -> int:
    print(f"signage fleet: {message}", file=sys.stderr)
    return code


def cmd_init_db(args: argparse.Namespace, config: Any) -> int:
    from .central import CentralError, init_db

    if not 1 <= args.retention_days <= 3650:
        return _fail("--retention-days must be between 1 and 3650", 2)
    try:
        r = init_db(
            args.database_url,
            retention_days=args.retention_days,
            min_exposure_s=args.min_exposure_s,
            watcher_s=args.watcher_s,
        )
    except CentralError as exc:
        return _fail(str(exc))
    print(
        f"central schema version {r.version} (was {r.previous_version}); {r.partitions_created} partitions "
        f"created; retention {args.retention_days} days deleted {r.sessions_deleted} sessions and "
        f"{r.exposures_deleted} exposures"
    )
    return 0


def cmd_add_screen(args: argparse.Namespace, config: Any) -> int:
    from .central import CentralError, add_screen

    try:
        url = add_screen(args.database_url, args.device_id, host=args.host)
    except CentralError as exc:
        return _fail(str(exc))
    print(url)  # the only line on stdout: `... add-screen X > url.txt` works
    print(
        f"write it as [fleet] database_url in the screen's config.toml (readable by the service user "
        f"only); [device].id must be {args.device_id!r}",
        file=sys.stderr,
    )
    return 0


async def _with_store(config: Any, fn: Any) -> Any:
    from ..store import with_store

    return await with_store(config.db_path, config.storage.flush_seconds, fn)


def cmd_ship(args: argparse.Namespace, config: Any) -> int:
    from ..store import StoreError
    from .shipper import ShipError, Shipper

    if not config.fleet.shipping:
        return _fail("fleet.database_url is empty in the config: nothing to ship to", 2)

    async def ship(store: Any) -> tuple[int, int]:
        shipper = Shipper(store, config.fleet)
        try:
            n = await shipper.ship_pending()
        finally:
            await shipper.stop()
        left = await store.scalar("SELECT COUNT(*) FROM outbox")
        return n, left

    try:
        shipped, left = asyncio.run(_with_store(config, ship))
    except ShipError as exc:
        return _fail(f"shipping failed, the outbox is intact: {exc}")
    except StoreError as exc:
        return _fail(f"database error: {exc}")
    print(f"shipped {shipped} rows; {left} left in the outbox")
    return 0


def cmd_status(args: argparse.Namespace, config: Any) -> int:
    from ..store import StoreError
    from . import outbox
    from .urls import redact

    async def read(store: Any) -> dict[str, Any]:
        meta = await outbox.meta_values(store)
        depth = await outbox.depth(store)
        return {
            "shipping": config.fleet.shipping,
            "database": redact(config.fleet.database_url) if config.fleet.shipping else None,
            "outbox_rows": depth["rows"],
            "outbox_max_rows": config.fleet.outbox_max_rows,
            "outbox_oldest_at": depth["oldest_created_at"],
            "outbox_dropped": int(meta.get("fleet.outbox_dropped") or 0),
            "last_ship_at": float(meta["fleet.last_ship_at"]) if meta.get("fleet.last_ship_at") else None,
            "last_error": meta.get("fleet.last_error") or None,
            "content_url": config.fleet.content_url or None,
            "group": config.fleet.group,
            "content_version": meta.get("fleet.content_version") or None,
        }

    try:
        st = asyncio.run(_with_store(config, read))
    except StoreError as exc:
        return _fail(f"database error: {exc}")
    if args.json:
        print(json.dumps(st, indent=2))
        return 0

    def when(t: float | None) -> str:
        return (
            "never"
            if t is None
            else f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(t))} ({time.time() - t:.0f} s ago)"
        )

    print(f"shipping:        {'to ' + st['database'] if st['shipping'] else 'off (fleet.database_url is empty)'}")
    print(
        f"outbox:          {st['outbox_rows']} rows of at most {st['outbox_max_rows']}"
        + (f"; oldest written {when(st['outbox_oldest_at'])}" if st["outbox_oldest_at"] else "")
    )
    if st["outbox_dropped"]:
        print(f"DROPPED:         {st['outbox_dropped']} rows were not recorded for shipping (outbox full)")
    print(f"last ship:       {when(st['last_ship_at'])}")
    print(f"last error:      {st['last_error'] or 'none'}")
    print(
        f"content:         {st['content_version'] or 'none pulled'} (group {st['group']}"
        f"{', from ' + st['content_url'] if st['content_url'] else ', pulling off'})"
    )
    return 0


def cmd_export_config(args: argparse.Namespace, config: Any) -> int:
    from .export import export_config

    try:
        written = export_config(args.dir, no_upload_hours=args.no_upload_hours)
    except OSError as exc:
        return _fail(f"{args.dir}: cannot write ({exc.strerror})")
    for path in written:
        print(path)
    return 0


def cmd_publish(args: argparse.Namespace, config: Any) -> int:
    from .content import PublishError, publish

    try:
        result = publish(args.inventory, args.out, promote=args.promote)
    except PublishError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 1
    for group, state in sorted(result.items()):
        print(f"{group}: {state}")
    return 0
