"""scripts/soak itself: a short run against the real appliance prints its table and a verdict.

Only that it works is checked here (the figures depend on the machine; the 10-minute run and its
output are in the closing notes): one line per interval with RSS, open files, loop lag and the
request counts, no 5xx, and a verdict that compares the two halves of the run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from apprun import ROOT


def test_a_short_soak_prints_figures_and_a_verdict():
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "soak.py"), "--minutes", "0.6", "--phones", "6", "--panels", "1"]
        # 9 intervals: on a machine starved of CPU one interval once took 32 s instead of 6
        + ["--every", "4"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    out = r.stdout
    kept = re.search(r"^soak: kept (\S+)", out, re.M)  # a FAIL keeps its folder for a look
    if kept and kept.group(1).startswith(tempfile.gettempdir()):
        # the appliance's warnings and errors, for the message should a check below fail
        log = Path(kept.group(1)) / "appliance.log"
        if log.exists():
            out += "\n".join(
                ["", "appliance.log (warnings and errors):"]
                + [
                    line
                    for line in log.read_text(errors="replace").splitlines()
                    if " WARNING " in line or " ERROR " in line
                ][-20:]
            )
        shutil.rmtree(kept.group(1), ignore_errors=True)
    assert r.returncode in (0, 1), r.stdout + r.stderr  # 2 = the appliance did not start
    rows = [line.split() for line in out.splitlines() if re.match(r"^\s+\d+s\s", line)]
    assert len(rows) >= 5, out
    header = next(line.split() for line in out.splitlines() if line.lstrip().startswith("t "))
    assert header[:6] == ["t", "rss_mb", "fds", "lag_p50", "lag_p99", "requests"] and header[-1] == "load1"
    last = dict(zip(header, rows[-1], strict=True))
    assert float(last["rss_mb"]) > 50 and int(last["fds"]) > 5
    assert float(last["lag_p99"]) >= float(last["lag_p50"]) >= 0
    assert int(last["requests"]) > 20 and last["5xx"] == "0" and last["db_error"] == "no"
    assert re.search(r"^verdict: (flat|growing): RSS ", out, re.M), out
    assert re.search(r"^soak: (PASS|FAIL)$", out, re.M), out
