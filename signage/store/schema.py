"""Schema migrations, applied in order by `Store.open` and recorded in `PRAGMA user_version`.

Never edit a step that has shipped: add a new one. Times are Unix seconds (UTC, REAL);
lists and probability maps are JSON text. No table holds an image, a crop, an embedding
or anything else that identifies a person (privacy rules in docs/architecture.md).
"""

MIGRATIONS: list[tuple[int, str]] = [
    (1, """
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
"""),
    # 2 (ads engineer): an ad can be marked uplifting (allowed by the 'uplifting' mood rule),
    # and an ad whose folder no longer validates keeps its row (plays refer to it) with the
    # problem recorded, so it is not played and the admin page can say why.
    (2, """
ALTER TABLE ads ADD COLUMN uplifting INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ads ADD COLUMN problem TEXT NOT NULL DEFAULT '';
"""),
    # 3 (web/audience engineer): the optional face-mask estimate (vision.mask) of a session, a
    # smoothed probability (NULL when mask estimation is off). A number, never an image.
    (3, """
ALTER TABLE sessions ADD COLUMN mask_p REAL CHECK (mask_p IS NULL OR (mask_p >= 0 AND mask_p <= 1));
"""),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]
