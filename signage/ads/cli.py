"""CLI: `python -m signage ads validate|sync|list` and `python -m signage report`.

Every command returns an exit status; a bad ad.toml prints its problems (file, key, what is
wrong) and exits 1, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from ..commands import signage_command

__all__ = ["register"]


def register(subparsers: Any) -> None:
    ads = subparsers.add_parser("ads", help="the ad inventory: validate, sync into the database, list")
    ads_sub = ads.add_subparsers(dest="ads_command", metavar="ACTION", required=True)
    v = ads_sub.add_parser("validate", help="check every assets/ads/<slug>/ad.toml and its media")
    v.set_defaults(func=cmd_validate)
    s = ads_sub.add_parser("sync", help="validate, then write the valid ads into the database")
    s.set_defaults(func=cmd_sync)
    ls = ads_sub.add_parser("list", help="ads in the database with budget, spend and status")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=cmd_list)

    rep = subparsers.add_parser(
        "report",
        help="per-ad delivery: plays, impressions (OTS), watchers, reach, frequency, dwell, attention, spend, CPM",
    )
    rep.add_argument(
        "--since", default="24h", help="start: 24h, 7d, today, yesterday, all, 2026-11-01[T08:00] (default 24h)"
    )
    rep.add_argument("--until", default=None, help="end (same forms; default now)")
    rep.add_argument("--json", action="store_true", help="print JSON")
    rep.set_defaults(func=cmd_report)


def _print_problems(invalid: list) -> None:
    for exc in invalid:
        for line in exc.lines():
            print(f"error: {line}", file=sys.stderr)


def cmd_validate(args: argparse.Namespace, config: Any) -> int:
    from .inventory import scan

    specs, invalid = scan(config.ads.dir)
    for spec in specs:
        print(
            f"ok: {spec.slug}: {spec.title} ({spec.media_type}, {spec.duration_s:g} s, "
            f"CPM {spec.cpm:g}, budget {spec.budget:g})"
        )
    _print_problems(invalid)
    print(f"{len(specs)} valid, {len(invalid)} invalid in {config.ads.dir}")
    return 1 if invalid else 0


async def _with_store(config: Any, fn: Any) -> Any:
    from ..store import with_store

    return await with_store(config.db_path, config.storage.flush_seconds, fn)


def _run(config: Any, fn: Any) -> Any:
    from ..store import StoreError

    try:
        return asyncio.run(_with_store(config, fn))
    except StoreError as exc:
        print(f"signage: {exc}", file=sys.stderr)
        return None


def cmd_sync(args: argparse.Namespace, config: Any) -> int:
    from .inventory import sync

    result = _run(config, lambda store: sync(store, config.ads.dir, time.time()))
    if result is None:
        return 1
    _print_problems(result.invalid)
    for label, slugs in (("added", result.added), ("updated", result.updated), ("removed", result.removed)):
        for slug in slugs:
            print(f"{label}: {slug}")
    print(f"synced {config.ads.dir} into {config.db_path}: {result.summary()}")
    return 1 if result.invalid else 0


def cmd_list(args: argparse.Namespace, config: Any) -> int:
    from .inventory import load_ads

    records = _run(config, lambda store: load_ads(store, include_deleted=True))
    if records is None:
        return 1
    if args.json:
        out = []
        for r in records:
            s = r.state
            out.append(
                {
                    "slug": s.slug,
                    "title": s.title,
                    "advertiser": r.advertiser,
                    "status": s.status,
                    "problem": s.problem,
                    "media": r.media,
                    "media_type": r.media_type,
                    "duration_s": s.duration_s,
                    "cpm": s.cpm,
                    "budget": s.budget,
                    "spent": round(s.spent, 4),
                    "impressions": s.impressions,
                    "moods": s.moods,
                    "age_groups": s.age_groups,
                    "genders": s.genders,
                    "age_restricted": s.age_restricted,
                    "uplifting": s.uplifting,
                    "flight": [str(s.start_date), str(s.end_date)],
                    "dayparts": [dp.label() for dp in s.dayparts],
                    "frequency_cap": s.freq_cap,
                    "priority": s.priority,
                }
            )
        print(json.dumps(out, indent=2))
        return 0
    if not records:
        print(f"no ads in {config.db_path}; run `{signage_command('ads', 'sync', config_file=config.source_file)}`")
        return 0
    print(f"{'slug':<22} {'status':<8} {'CPM':>6} {'budget':>9} {'spent':>9} {'impr':>6}  targeting")
    for r in records:
        s = r.state
        target = (
            " ".join(
                filter(
                    None,
                    [
                        "/".join(s.moods),
                        "/".join(s.age_groups),
                        "/".join(s.genders),
                        "18+" if s.age_restricted else "",
                        "uplifting" if s.uplifting else "",
                    ],
                )
            )
            or "anyone"
        )
        status = "invalid" if s.problem else s.status
        print(f"{s.slug:<22} {status:<8} {s.cpm:>6.2f} {s.budget:>9.2f} {s.spent:>9.2f} {s.impressions:>6}  {target}")
        if s.problem:
            print(f"{'':<22} problem: {s.problem}")
    return 0


def cmd_report(args: argparse.Namespace, config: Any) -> int:
    from ..reports.delivery import ad_report, audience_report, format_ad_report, parse_since

    try:
        since = parse_since(args.since)
        until = parse_since(args.until) if args.until else None
    except ValueError as exc:
        print(f"signage report: {exc}", file=sys.stderr)
        return 2

    async def build(store: Any) -> tuple[list, dict]:
        kw = {"min_exposure_s": config.audience.min_exposure_s, "watcher_s": config.audience.watcher_s}
        ads = await ad_report(store, since, until, **kw)
        aud = await audience_report(store, since, until, watcher_s=config.audience.watcher_s)
        return ads, aud

    result = _run(config, build)
    if result is None:
        return 1
    ads, aud = result
    if args.json:
        print(
            json.dumps(
                {
                    "since": since,
                    "until": until,
                    "ads": ads,
                    "audience": aud,
                    "notes": {
                        "reach": "unique anonymous sessions, not people",
                        "impressions": f"OTS: sessions present >= {config.audience.min_exposure_s:g} s during a play",
                    },
                },
                indent=2,
            )
        )
    else:
        print(format_ad_report(ads, since, until, aud))
    return 0
