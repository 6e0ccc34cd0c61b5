# shellcheck shell=bash
# Shared set-up for scripts/run and scripts/test (sourced, not run).
# Creates .venv if missing and installs the project into it when pyproject.toml changed.
# Idempotent: a second call with nothing changed takes about a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"

die() { echo "signage set-up: $*" >&2; exit 1; }

find_python() {
    for py in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$py" ] || continue
        if command -v "$py" >/dev/null 2>&1 &&
           "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$py"; return 0
        fi
    done
    return 1
}

setup_venv() {  # $1 = extras ("" or "test")
    local extras="$1"
    if [ ! -x "$VENV/bin/python" ]; then
        local py
        py="$(find_python)" || die "Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)."
        local flags=()
        # On a Raspberry Pi, picamera2 comes from Debian (python3-picamera2): let the venv see it.
        # scripts/install-pi asks for it explicitly (SIGNAGE_SYSTEM_SITE_PACKAGES=1), so the venv is
        # made the Pi way even when picamera2 is installed later (and in scripts/check-arm64).
        if [ "${SIGNAGE_SYSTEM_SITE_PACKAGES:-}" = 1 ] || [ -d /usr/lib/python3/dist-packages/picamera2 ]; then
            flags+=(--system-site-packages)
        fi
        echo "signage set-up: creating $VENV with $py ${flags[*]:-}"
        "$py" -m venv "${flags[@]}" "$VENV" || die "could not create the virtual environment (on Debian: apt-get install python3-venv)"
    fi
    local spec="."
    [ -n "$extras" ] && spec=".[$extras]"
    local stamp="$VENV/.signage-installed-$extras"
    local want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "signage set-up: installing $spec into .venv"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null ||
            die "pip could not upgrade itself (is the network to PyPI reachable?)"
        "$VENV/bin/python" -m pip install --quiet -e "$spec" ||
            die "pip install -e '$spec' failed (see the messages above)"
        echo "$want" > "$stamp"
    fi
}
