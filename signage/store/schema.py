"""Schema migrations, applied in order by `Store.open` and recorded in `PRAGMA user_version`.

Never edit a step that has shipped: add a new one. Times are Unix seconds (UTC, REAL);
lists and probability maps are JSON text. No table holds an image, a crop, an embedding
or anything else that identifies a person (privacy rules in docs/architecture.md).
"""


def _fleet_step() -> str:
    """Step 4's SQL (built here once so the five outbox triggers share one definition)."""
    uuid4 = (
        "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || "
        "substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || "
        "substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))"
    )
    fleet_on = "EXISTS (SELECT 1 FROM meta WHERE key = 'fleet.device_id')"
    # The span of live sequence numbers: two indexed look-ups, not a COUNT(*) per row written.
    room = (
        "COALESCE((SELECT MAX(seq) FROM outbox) - (SELECT MIN(seq) FROM outbox) + 1, 0) < "
        "COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'fleet.outbox_max'), 0)"
    )
    clock = "(SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'clock.synced')"

    def outbox(kind: str, payload: str) -> str:
        # Count a drop first, then insert: both test the same "room" before the row goes in.
        return f"""
    UPDATE meta SET value = CAST(value AS INTEGER) + 1
    WHERE key = 'fleet.outbox_dropped' AND {fleet_on} AND NOT ({room});
    INSERT INTO outbox (kind, device_id, clock_synced, created_at, payload)
    SELECT '{kind}', (SELECT value FROM meta WHERE key = 'fleet.device_id'), {clock},
           (julianday('now') - 2440587.5) * 86400.0, json_object({payload})
    WHERE {fleet_on} AND {room};"""

    play_uuid = "(SELECT uuid FROM plays WHERE id = NEW.play_id)"

    def js(expr: str) -> str:
        # Never let a malformed JSON column make the trigger (and so the data write) fail.
        return f"CASE WHEN json_valid({expr}) THEN json({expr}) END"

    def at(expr: str) -> str:
        # Times as text with microseconds: SQLite's JSON writes a REAL with 15 significant
        # digits, which would round a Unix time to 10 microseconds.
        return f"printf('%.6f', {expr})"

    play = outbox(
        "play",
        "'uuid', NEW.uuid, 'kind', NEW.kind, 'ad_slug', NEW.ad_slug, "
        f"'ad_sha256', NEW.ad_sha256, 'started_at', {at('NEW.started_at')}, "
        f"'ended_at', {at('NEW.ended_at')}, 'completed', NEW.completed, "
        "'impressions', NEW.impressions, 'watchers', NEW.watchers, 'spend', NEW.spend, "
        f"'audience', {js('NEW.audience')}",
    )
    exposure = outbox(
        "exposure",
        f"'play_uuid', {play_uuid}, 'play_started_at', "
        f"{at('(SELECT started_at FROM plays WHERE id = NEW.play_id)')}, "
        "'session_id', NEW.session_id, 'present_s', NEW.present_s, 'watching_s', NEW.watching_s",
    )
    session = outbox(
        "session",
        f"'session_id', NEW.id, 'started_at', {at('NEW.started_at')}, "
        f"'ended_at', {at('NEW.ended_at')}, 'dwell_s', NEW.dwell_s, 'attention_s', NEW.attention_s, "
        "'age_group', NEW.age_group, 'gender', NEW.gender, 'mood', NEW.mood, "
        f"'age_group_p', {js('NEW.age_group_p')}, 'gender_p', {js('NEW.gender_p')}, "
        f"'mood_p', {js('NEW.mood_p')}, 'mask_p', NEW.mask_p",
    )
    rating = outbox(
        "rating",
        f"'uuid', (SELECT uuid FROM ratings WHERE id = NEW.id), 'play_uuid', {play_uuid}, "
        f"'value', NEW.value, 'source', NEW.source, 'created_at', {at('NEW.created_at')}",
    )
    visit = outbox(
        "mobile_visit",
        f"'uuid', (SELECT uuid FROM mobile_visits WHERE id = NEW.id), "
        f"'play_uuid', {play_uuid}, 'created_at', {at('NEW.created_at')}",
    )
    return f"""
ALTER TABLE plays ADD COLUMN uuid TEXT;
ALTER TABLE plays ADD COLUMN ad_slug TEXT;
ALTER TABLE plays ADD COLUMN ad_sha256 TEXT;
ALTER TABLE plays ADD COLUMN clock_synced INTEGER;
ALTER TABLE sessions ADD COLUMN clock_synced INTEGER;
ALTER TABLE ratings ADD COLUMN uuid TEXT;
ALTER TABLE mobile_visits ADD COLUMN uuid TEXT;
UPDATE plays SET uuid = {uuid4},
    ad_slug = (SELECT slug FROM ads WHERE ads.id = plays.ad_id),
    ad_sha256 = (SELECT source_sha256 FROM ads WHERE ads.id = plays.ad_id);
UPDATE ratings SET uuid = {uuid4};
UPDATE mobile_visits SET uuid = {uuid4};
CREATE UNIQUE INDEX plays_uuid ON plays(uuid);
CREATE UNIQUE INDEX ratings_uuid ON ratings(uuid);
CREATE UNIQUE INDEX mobile_visits_uuid ON mobile_visits(uuid);

-- What must reach the fleet's central database, oldest first; deleted only after the central
-- COMMIT. `payload` is the row as it was written (JSON), so retention or a later edit of the
-- data row cannot change what is shipped.
CREATE TABLE outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL CHECK (kind IN ('play', 'exposure', 'session', 'rating', 'mobile_visit')),
    device_id     TEXT NOT NULL,
    clock_synced  INTEGER,
    created_at    REAL NOT NULL,
    payload       TEXT NOT NULL,
    -- why the centre refused this row's data (kept for the operator, no longer sent); NULL = to ship
    refused       TEXT
);

CREATE TRIGGER plays_keys AFTER INSERT ON plays WHEN NEW.uuid IS NULL
BEGIN
    UPDATE plays SET uuid = {uuid4},
        ad_slug = (SELECT slug FROM ads WHERE ads.id = NEW.ad_id),
        ad_sha256 = (SELECT source_sha256 FROM ads WHERE ads.id = NEW.ad_id),
        clock_synced = {clock}
    WHERE id = NEW.id;
END;

-- A play is shipped once it has ended (proof of play is a finished play).
CREATE TRIGGER plays_outbox AFTER UPDATE OF ended_at ON plays
WHEN OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL
BEGIN{play}
END;

CREATE TRIGGER exposures_outbox AFTER INSERT ON exposures
BEGIN{exposure}
END;

CREATE TRIGGER sessions_keys AFTER INSERT ON sessions
BEGIN
    UPDATE sessions SET clock_synced = {clock} WHERE id = NEW.id;{session}
END;

-- The phone's identifier (`device`) stays on the screen: the centre needs the vote, not the phone.
CREATE TRIGGER ratings_keys AFTER INSERT ON ratings
BEGIN
    UPDATE ratings SET uuid = COALESCE(NEW.uuid, {uuid4}) WHERE id = NEW.id;{rating}
END;

CREATE TRIGGER mobile_visits_keys AFTER INSERT ON mobile_visits
BEGIN
    UPDATE mobile_visits SET uuid = COALESCE(NEW.uuid, {uuid4}) WHERE id = NEW.id;{visit}
END;
"""


MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The ad inventory, synced from assets/ads/<slug>/ad.toml (the folders are the source of truth).
CREATE TABLE ads (
    id             INTEGER PRIMARY KEY,
    slug           TEXT NOT NULL UNIQUE,
    title          TEXT NOT NULL,
    advertiser     TEXT NOT NULL DEFAULT '',
    media          TEXT NOT NULL,
    media_type     TEXT NOT NULL CHECK (media_type IN ('image', 'video', 'html')),
    duration_s     REAL NOT NULL,
    moods          TEXT NOT NULL DEFAULT '[]',
    age_groups     TEXT NOT NULL DEFAULT '[]',
    genders        TEXT NOT NULL DEFAULT '[]',
    age_restricted INTEGER NOT NULL DEFAULT 0,
    cpm            REAL NOT NULL DEFAULT 0,
    budget         REAL NOT NULL DEFAULT 0,
    start_date     TEXT,
    end_date       TEXT,
    dayparts       TEXT NOT NULL DEFAULT '[]',
    freq_cap       INTEGER NOT NULL DEFAULT 0,
    priority       INTEGER NOT NULL DEFAULT 0,
    details        TEXT NOT NULL DEFAULT '{}',
    status         TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'deleted')),
    source_sha256  TEXT NOT NULL DEFAULT '',
    updated_at     REAL NOT NULL
);

-- Proof of play: one row per ad or healing scene shown.
CREATE TABLE plays (
    id           INTEGER PRIMARY KEY,
    ad_id        INTEGER REFERENCES ads(id),
    kind         TEXT NOT NULL CHECK (kind IN ('ad', 'healing')),
    token        TEXT UNIQUE,
    started_at   REAL NOT NULL,
    ended_at     REAL,
    completed    INTEGER NOT NULL DEFAULT 0,
    impressions  INTEGER NOT NULL DEFAULT 0,
    watchers     INTEGER NOT NULL DEFAULT 0,
    spend        REAL NOT NULL DEFAULT 0,
    audience     TEXT NOT NULL DEFAULT '{}',
    decision     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX plays_ad_time ON plays(ad_id, started_at);
CREATE INDEX plays_time ON plays(started_at);

-- Anonymous audience sessions (one confirmed face track each).
CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    started_at    REAL NOT NULL,
    ended_at      REAL NOT NULL,
    dwell_s       REAL NOT NULL,
    attention_s   REAL NOT NULL,
    age_group     TEXT,
    gender        TEXT,
    mood          TEXT,
    age_group_p   TEXT NOT NULL DEFAULT '{}',
    gender_p      TEXT NOT NULL DEFAULT '{}',
    mood_p        TEXT NOT NULL DEFAULT '{}',
    CHECK (attention_s <= dwell_s + 1e-6)
);
CREATE INDEX sessions_time ON sessions(started_at);

-- A session's exposure to a play (written when >= audience.min_exposure_s).
CREATE TABLE exposures (
    play_id     INTEGER NOT NULL REFERENCES plays(id) ON DELETE CASCADE,
    session_id  TEXT NOT NULL,
    present_s   REAL NOT NULL,
    watching_s  REAL NOT NULL,
    PRIMARY KEY (play_id, session_id)
);
CREATE INDEX exposures_session ON exposures(session_id);

CREATE TABLE ratings (
    id          INTEGER PRIMARY KEY,
    play_id     INTEGER NOT NULL REFERENCES plays(id) ON DELETE CASCADE,
    value       INTEGER NOT NULL CHECK (value IN (-1, 1)),
    source      TEXT NOT NULL CHECK (source IN ('panel', 'mobile')),
    device      TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL,
    UNIQUE (play_id, source, device)
);

CREATE TABLE mobile_visits (
    id          INTEGER PRIMARY KEY,
    play_id     INTEGER NOT NULL REFERENCES plays(id) ON DELETE CASCADE,
    created_at  REAL NOT NULL
);
""",
    ),
    # 2 (ads engineer): an ad can be marked uplifting (allowed by the 'uplifting' mood rule),
    # and an ad whose folder no longer validates keeps its row (plays refer to it) with the
    # problem recorded, so it is not played and the admin page can say why.
    (
        2,
        """
ALTER TABLE ads ADD COLUMN uplifting INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ads ADD COLUMN problem TEXT NOT NULL DEFAULT '';
""",
    ),
    # 3 (web/audience engineer): the optional face-mask estimate (vision.mask) of a session, a
    # smoothed probability (NULL when mask estimation is off). A number, never an image.
    (
        3,
        """
ALTER TABLE sessions ADD COLUMN mask_p REAL CHECK (mask_p IS NULL OR (mask_p >= 0 AND mask_p <= 1));
""",
    ),
    # 4 (fleet engineer, docs/fleet.md): keys that are unique across a fleet and across an SD
    # card re-imaged (a random UUID per play, rating and mobile visit; the ad by slug and content
    # hash; whether the clock was NTP-synchronised when the row was written: a Pi has no RTC),
    # and the transactional outbox. Triggers write the outbox row in the SAME transaction as the
    # data row, so a crash can neither ship an unsaved row nor save a row that is never shipped.
    # The outbox is written only while `meta['fleet.device_id']` is set (a screen with
    # `[fleet] database_url`); a lone screen writes nothing to it. It is bounded by
    # `meta['fleet.outbox_max']`: past that, rows are counted in `meta['fleet.outbox_dropped']`
    # (loud in /api/status and /metrics) instead of growing the file until the SD card fills.
    (4, _fleet_step()),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]
