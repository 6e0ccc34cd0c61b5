#!/usr/bin/env bash
# Open the panel fullscreen once the local server answers; reopen it if Chromium exits.
BROWSER="${1:-chromium}"
URL="${2:-http://localhost:8080/panel}"
until curl -fsS "${URL%/panel}/healthz" >/dev/null 2>&1; do sleep 1; done
command -v unclutter >/dev/null && unclutter -idle 0.5 -root &
while true; do
    "$BROWSER" --kiosk --noerrdialogs --disable-infobars --incognito --check-for-update-interval=31536000 \
        --autoplay-policy=no-user-gesture-required --disable-session-crashed-bubble "$URL"
    sleep 2
done
