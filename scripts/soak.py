"""Soak: the real appliance on loopback under simulated phones and panels (see scripts/soak).

The appliance runs as its own process (`python -m signage run`) on the photos camera source
with real face photos, a fresh data folder and the real models. Panels load /panel, keep
/ws/panel open, fetch each ad's media and tap like now and then; phones follow the QR link of
the current play, open the ad page, vote once, and browse /rankings, /today and /privacy.
Every interval one line: RSS and open files of the appliance (from /proc), event-loop lag
p50/p99 (its own figure, /api/status), requests and errors since start. The verdict compares
the second half of the run with the first (after a warm-up): "flat" or "growing".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signage.demo_photos import ensure_demo_photos  # noqa: E402

PHOTOS = ["astronaut", "sample1", "t1"]


class Load:
    def __init__(self, base: str) -> None:
        self.base = base
        self.counts: Counter[str] = Counter()
        self.token: str | None = None
        self.stop = asyncio.Event()

    def note(self, status: int | str) -> None:
        if isinstance(status, int):
            self.counts["requests"] += 1
            if status >= 500:
                self.counts["5xx"] += 1
            elif status >= 400:
                self.counts["4xx"] += 1
        else:
            self.counts[status] += 1

    async def get(self, http: aiohttp.ClientSession, path: str) -> tuple[int, bytes]:
        try:
            async with http.get(self.base + path, allow_redirects=False) as r:
                body = await r.read()
                self.note(r.status)
                return r.status, body
        except (TimeoutError, aiohttp.ClientError):
            self.note("connection_errors")
            return 0, b""

    async def panel(self, n: int) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while not self.stop.is_set():
                status, page = await self.get(http, "/panel")
                m = re.search(rb'"panelKey":\s*"([^"]+)"', page)
                headers = {"X-Panel-Key": m.group(1).decode()} if m else {}
                try:
                    async with http.ws_connect(
                        self.base.replace("http", "ws", 1) + "/ws/panel" + (f"?key={m.group(1).decode()}" if m else ""),
                        heartbeat=20,
                    ) as ws:
                        self.counts["panel_sockets"] += 1
                        rated: set[int] = set()
                        async for msg in ws:
                            if self.stop.is_set():
                                break
                            if msg.type != aiohttp.WSMsgType.TEXT:
                                continue
                            ev = json.loads(msg.data)
                            if ev.get("type") != "state":
                                continue
                            st = ev["data"]
                            if st.get("token"):
                                self.token = st["token"]
                            media = (st.get("ad") or st.get("scene") or {}).get("media_url")
                            if media and st.get("state") in ("ad", "healing"):
                                await self.get(http, media)
                            if st.get("state") == "rating" and st.get("play_id") not in rated and random.random() < 0.3:
                                rated.add(st["play_id"])
                                try:
                                    async with http.post(
                                        self.base + "/api/panel/rate",
                                        headers=headers,
                                        json={"play_id": st["play_id"], "value": "like"},
                                    ) as r:
                                        await r.read()
                                        self.note(r.status)
                                except aiohttp.ClientError:
                                    self.note("connection_errors")
                except (TimeoutError, aiohttp.ClientError):
                    self.note("connection_errors")
                self.counts["panel_reconnects"] += 1
                await asyncio.sleep(1.0)

    async def phone(self, n: int) -> None:
        await asyncio.sleep(random.uniform(0, 5))
        while not self.stop.is_set():
            # a new visitor: own cookie jar, like a phone that scans the QR code
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
                for _ in range(random.randint(2, 6)):
                    if self.stop.is_set():
                        return
                    token = self.token
                    if token:
                        status, _ = await self.get(http, f"/m/{token}")
                        if status == 200 and random.random() < 0.5:
                            try:
                                async with http.post(
                                    f"{self.base}/m/{token}/rate",
                                    data={"value": random.choice(["like", "dislike"])},
                                    headers={"Origin": self.base},
                                    allow_redirects=False,
                                ) as r:
                                    await r.read()
                                    self.note(r.status)
                            except aiohttp.ClientError:
                                self.note("connection_errors")
                        await self.get(http, f"/m/{token}/emoticon.svg")
                    await self.get(
                        http, random.choice(["/rankings", "/today", "/privacy", "/healthz", "/emoticon/happy.svg"])
                    )
                    await asyncio.sleep(random.uniform(1.0, 4.0))


def proc_figures(pid: int) -> tuple[float, int]:
    rss_kb = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    return rss_kb / 1024.0, len(os.listdir(f"/proc/{pid}/fd"))


def slope(values: list[float]) -> float:
    """Least-squares slope per sample."""
    n = len(values)
    if n < 2:
        return 0.0
    mx = (n - 1) / 2
    my = sum(values) / n
    num = sum((i - mx) * (v - my) for i, v in enumerate(values))
    den = sum((i - mx) ** 2 for i in range(n))
    return num / den


def verdict(rows: list[dict]) -> tuple[bool, str]:
    """Flat when the second half's RSS and fds are not above the first half's beyond noise and
    the trend over the second half is near zero."""
    rows = rows[max(1, len(rows) // 5) :]  # skip the warm-up (models load, caches fill)
    if len(rows) < 4:
        return True, "too short to judge (need at least 5 intervals)"
    half = len(rows) // 2
    a, b = rows[:half], rows[half:]
    rss_a = sum(r["rss_mb"] for r in a) / len(a)
    rss_b = sum(r["rss_mb"] for r in b) / len(b)
    fds_a = max(r["fds"] for r in a)
    fds_b = max(r["fds"] for r in b)
    rss_growth = rss_b - rss_a
    rss_trend = slope([r["rss_mb"] for r in b]) * len(b)
    growing = rss_growth > max(15.0, 0.05 * rss_a) or rss_trend > max(15.0, 0.05 * rss_a) or fds_b > fds_a + 8
    text = (
        f"RSS {rss_a:.1f} -> {rss_b:.1f} MB (second-half trend {rss_trend:+.1f} MB), open files max {fds_a} -> {fds_b}"
    )
    return not growing, ("growing: " if growing else "flat: ") + text


async def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="signage-soak-"))
    photos_dir = work / "photos"
    photos_dir.mkdir()
    cache = Path(os.environ.get("SIGNAGE_TEST_CACHE") or Path.home() / ".cache" / "signage-test")
    for p in ensure_demo_photos(cache, PHOTOS):
        shutil.copy(p, photos_dir / p.name)
    cfg = work / "config.toml"
    cfg.write_text(
        f'[camera]\nsource = "photos"\nphotos_dir = "{photos_dir}"\nphoto_seconds = 20.0\nfps = 10.0\n'
        f'[vision]\nmodels_dir = "{ROOT / "models"}"\n'
        f'[ads]\ndir = "{ROOT / "assets" / "ads"}"\nhealing_dir = "{ROOT / "assets" / "healing"}"\n'
        f"[player]\nrating_seconds = 12.0\nhealing_min_seconds = 4.0\n"
    )
    log_path = work / "appliance.log"
    log_file = open(log_path, "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "signage",
            "--config",
            str(cfg),
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            str(work / "data"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log_file,
        text=True,
    )
    base = None
    deadline = time.time() + 180
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"panel:\s+(http://\S+)/panel", line)
        if m:
            base = m.group(1)
            break
    if base is None:
        proc.kill()
        print("the appliance did not start; its log:\n" + log_path.read_text(), file=sys.stderr)
        return 2
    print(
        f"soak: appliance pid {proc.pid} at {base}; {args.phones} phones, {args.panels} panels, "
        f"{args.seconds / 60:.0f} min, a line every {args.every:.0f} s; work folder {work}",
        flush=True,
    )
    load = Load(base)
    tasks = [asyncio.create_task(load.panel(i)) for i in range(args.panels)]
    tasks += [asyncio.create_task(load.phone(i)) for i in range(args.phones)]
    rows: list[dict] = []
    t0 = time.time()
    print(
        f"{'t':>7} {'rss_mb':>7} {'fds':>5} {'lag_p50':>8} {'lag_p99':>8} {'requests':>9} {'4xx':>5} "
        f"{'5xx':>4} {'conn_err':>8} {'plays':>6} {'db_pending':>10} {'db_error':>8} {'load1':>6}",
        flush=True,
    )
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        while time.time() - t0 < args.seconds and proc.poll() is None:
            await asyncio.sleep(min(args.every, max(0.0, args.seconds - (time.time() - t0))))
            if proc.poll() is not None:
                break
            rss, fds = proc_figures(proc.pid)
            try:
                async with http.get(base + "/api/status") as r:
                    status = await r.json()
            except (TimeoutError, aiohttp.ClientError, ValueError):
                load.note("connection_errors")
                status = {}
            lag = status.get("loop_lag", {})
            db = status.get("database", {})
            row = {
                "t": round(time.time() - t0),
                "rss_mb": round(rss, 1),
                "fds": fds,
                "lag_p50_ms": lag.get("p50_ms"),
                "lag_p99_ms": lag.get("p99_ms"),
                **{k: load.counts[k] for k in ("requests", "4xx", "5xx", "connection_errors")},
                "plays": status.get("player", {}).get("plays"),
                "db_pending": db.get("pending_writes"),
                "db_error": bool(db.get("error")),
                # the machine's 1-minute load average: lag figures mean little on a busy machine
                "load1": round(os.getloadavg()[0], 2),
            }
            rows.append(row)
            print(
                f"{row['t']:>6}s {row['rss_mb']:>7.1f} {fds:>5} {row['lag_p50_ms']!s:>8} "
                f"{row['lag_p99_ms']!s:>8} {row['requests']:>9} {row['4xx']:>5} {row['5xx']:>4} "
                f"{row['connection_errors']:>8} {row['plays']!s:>6} {row['db_pending']!s:>10} "
                f"{'yes' if row['db_error'] else 'no':>8} {row['load1']:>6.2f}",
                flush=True,
            )
    load.stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    died = proc.poll() is not None
    if not died:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = -9
    else:
        code = proc.returncode
    log_file.close()
    errors = sum(
        1 for line in log_path.read_text(errors="replace").splitlines() if " ERROR " in line or "Traceback" in line
    )
    flat, why = verdict(rows)
    lag_p99 = max((r["lag_p99_ms"] or 0.0) for r in rows) if rows else None
    ok = flat and not died and load.counts["5xx"] == 0 and code == 0 and lag_p99 is not None and lag_p99 < 10.0
    print(f"verdict: {why}")
    print(
        f"requests {load.counts['requests']}, 4xx {load.counts['4xx']}, 5xx {load.counts['5xx']}, "
        f"connection errors {load.counts['connection_errors']}, panel sockets opened "
        f"{load.counts['panel_sockets']}; worst loop lag p99 {lag_p99} ms; "
        f"ERROR lines in the appliance log {errors}; exit status {code}"
        f"{' (it died during the soak)' if died else ''}"
    )
    print("soak: PASS" if ok else "soak: FAIL", flush=True)
    if ok and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"soak: kept {work} (appliance.log)")
    return 0 if ok else 1


def main() -> int:
    p = argparse.ArgumentParser(prog="scripts/soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=None, help="how long (default 10)")
    p.add_argument("--hours", type=float, default=None, help="how long, in hours (e.g. 24)")
    p.add_argument("--phones", type=int, default=50)
    p.add_argument("--panels", type=int, default=5)
    p.add_argument(
        "--every",
        type=float,
        default=None,
        help="seconds between two lines (default: 30, or 600 for runs of 2 h and more)",
    )
    p.add_argument("--keep", action="store_true", help="keep the work folder (data, log)")
    args = p.parse_args()
    args.seconds = args.hours * 3600 if args.hours else (args.minutes or 10.0) * 60
    if args.every is None:
        args.every = 600.0 if args.seconds >= 7200 else 30.0
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
