"""Report pages: `/admin/reports` (tables + SVG charts), `/admin/reports.csv?table=...`,
`/admin/plays` (proof of play, paged) and `/admin/plays.csv`; and the same report as JSON for
other systems, `GET /api/report?since=YYYY-MM-DD&until=YYYY-MM-DD` (admin login required: it
holds prices, spend and budgets)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from ...reports.admin_report import CSV_TABLES, SEGMENTS, Period, build_report, json_dumps, plays_page, table_rows
from ..keys import APPLIANCE
from . import charts
from .core import admin_route, refuse, render


def _period(request: web.Request) -> Period:
    return Period.from_query(request.query)


def _charts(report: dict[str, Any]) -> dict[str, Any]:
    per_day = report["per_day"]
    day_labels = [d["day"][5:] for d in per_day]
    out = {
        "per_day": charts.bar_chart(
            "Impressions (OTS) per day",
            day_labels,
            [d["impressions"] for d in per_day],
            chart_id="chart-per-day",
            every=max(1, len(per_day) // 14),
        ),
        "per_hour": charts.bar_chart(
            "Impressions (OTS) per hour of day",
            [f"{h['hour']:02d}" for h in report["per_hour"]],
            [h["impressions"] for h in report["per_hour"]],
            chart_id="chart-per-hour",
            every=2,
            colour=charts.PALETTE[1],
        ),
    }
    aud = report["audience"]
    n = aud.get("sessions", 0)
    out["age"] = charts.share_bars(
        "Audience by age group (sessions)",
        aud.get("age_group_mix", {}),
        chart_id="chart-age",
        note=f"{n} sessions in the period",
    )
    out["gender"] = charts.share_bars(
        "Audience by gender (sessions)",
        aud.get("gender_mix", {}),
        chart_id="chart-gender",
        note=f"{n} sessions in the period",
    )
    out["mood"] = charts.share_bars(
        "Mood mix (sessions, dominant mood)",
        aud.get("mood_mix", {}),
        chart_id="chart-mood",
        colours=charts.MOOD_COLOURS,
        note=f"{n} sessions in the period",
    )
    return out


@admin_route
async def reports_page(request: web.Request) -> web.Response:
    appliance = request.app[APPLIANCE]
    try:
        period = _period(request)
    except ValueError as exc:
        return refuse(request, 400, str(exc))
    report = await build_report(appliance.store, appliance.config, period)
    return render(
        request,
        "reports.html",
        report=report,
        period=period,
        charts=_charts(report),
        segments=list(SEGMENTS),
        csv_tables=list(CSV_TABLES),
        currency=appliance.config.ads.currency,
    )


def _csv_response(
    rows: Iterable[Mapping[str, Any]], columns: tuple[str, ...], filename: str, currency: str
) -> web.Response:
    """A plain CSV: the header is the first line (spreadsheets and `csv` readers need nothing
    else); what the file covers is in its name (device, table, period) and the currency is a
    column of its own."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([currency if c == "currency" else _csv_cell(r.get(c)) for c in columns])
    return web.Response(
        body=buf.getvalue().encode("utf-8"),
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


def _csv_cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v  # no formula injection when the file is opened in a spreadsheet
    return v


@admin_route
async def reports_csv(request: web.Request) -> web.Response:
    appliance = request.app[APPLIANCE]
    table = request.query.get("table", "ads")
    if table not in CSV_TABLES or table == "plays":
        return refuse(
            request, 400, f"table={table!r}: unknown; choose one of {', '.join(t for t in CSV_TABLES if t != 'plays')}"
        )
    try:
        period = _period(request)
    except ValueError as exc:
        return refuse(request, 400, str(exc))
    report = await build_report(appliance.store, appliance.config, period)
    dev = appliance.config.device
    name = f"signage-{dev.id}-{table}-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    return _csv_response(
        table_rows(report, table), CSV_TABLES[table], _safe_filename(name), appliance.config.ads.currency
    )


def _safe_filename(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


@admin_route
async def plays_view(request: web.Request) -> web.Response:
    appliance = request.app[APPLIANCE]
    try:
        period = _period(request)
        page = int(request.query.get("page", "1") or 1)
    except ValueError as exc:
        return refuse(request, 400, str(exc) if "date" in str(exc) else "page must be a whole number")
    kind = request.query.get("kind", "ad")
    data = await plays_page(
        appliance.store, period, page=page, kind=kind, min_exposure_s=appliance.config.audience.min_exposure_s
    )
    return render(request, "plays.html", plays=data, period=period, kind=kind, currency=appliance.config.ads.currency)


@admin_route
async def plays_csv(request: web.Request) -> web.Response:
    appliance = request.app[APPLIANCE]
    try:
        period = _period(request)
    except ValueError as exc:
        return refuse(request, 400, str(exc))
    kind = request.query.get("kind", "ad")
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        data = await plays_page(
            appliance.store,
            period,
            page=page,
            per_page=1000,
            kind=kind,
            min_exposure_s=appliance.config.audience.min_exposure_s,
        )
        rows.extend(data["rows"])
        if page >= data["pages"]:
            break
        page += 1
    for r in rows:
        for k in ("started_at", "ended_at"):
            if r.get(k):
                r[k] = datetime.fromtimestamp(r[k]).isoformat(timespec="seconds")
    dev = appliance.config.device
    name = f"signage-{dev.id}-proof-of-play-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    return _csv_response(rows, CSV_TABLES["plays"], _safe_filename(name), appliance.config.ads.currency)


@admin_route
async def report_json(request: web.Request) -> web.StreamResponse:
    appliance = request.app[APPLIANCE]
    try:
        period = Period.from_query(request.query)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    report = await build_report(appliance.store, appliance.config, period)
    return web.json_response(report, dumps=json_dumps)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/report", report_json)
    app.router.add_get("/admin/reports", reports_page)
    app.router.add_get("/admin/reports.csv", reports_csv)
    app.router.add_get("/admin/plays", plays_view)
    app.router.add_get("/admin/plays.csv", plays_csv)
