-- Central schema, step 1 (applied once by `python -m signage fleet init-db`; never edit a step
-- that has shipped: add 002_*.sql). Every row carries the screen's device_id and whether the
-- screen's clock was NTP-synchronised when the row was written. Keys are (device_id, uuid) or
-- (device_id, session_id): unique across the fleet and across an SD card re-imaged.
-- Times are timestamptz (the screens send Unix seconds).

CREATE TABLE fleet.settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- One row per screen added with `fleet add-screen`: the login role that may write its rows.
CREATE TABLE fleet.screens (
    device_id  text PRIMARY KEY,
    role_name  name NOT NULL UNIQUE,
    added_at   timestamptz NOT NULL DEFAULT now()
);

-- Proof of play: one row per finished play (an ad or a healing scene).
CREATE TABLE fleet.plays (
    device_id     text NOT NULL,
    uuid          uuid NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('ad', 'healing')),
    ad_slug       text,
    ad_sha256     text,
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    completed     boolean NOT NULL,
    impressions   integer NOT NULL,
    watchers      integer NOT NULL,
    spend         double precision NOT NULL,
    audience      jsonb NOT NULL DEFAULT '{}',
    clock_synced  boolean,
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, uuid, started_at)
) PARTITION BY RANGE (started_at);

-- A session's exposure to a play (an impression when present_s >= audience.min_exposure_s).
CREATE TABLE fleet.exposures (
    device_id        text NOT NULL,
    play_uuid        uuid NOT NULL,
    session_id       text NOT NULL,
    play_started_at  timestamptz NOT NULL,
    present_s        double precision NOT NULL,
    watching_s       double precision NOT NULL,
    clock_synced     boolean,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, play_uuid, session_id, play_started_at)
) PARTITION BY RANGE (play_started_at);

-- Anonymous audience sessions (one confirmed face track each): sessions, not people.
CREATE TABLE fleet.sessions (
    device_id     text NOT NULL,
    session_id    text NOT NULL,
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz NOT NULL,
    dwell_s       double precision NOT NULL,
    attention_s   double precision NOT NULL,
    age_group     text,
    gender        text,
    mood          text,
    age_group_p   jsonb NOT NULL DEFAULT '{}',
    gender_p      jsonb NOT NULL DEFAULT '{}',
    mood_p        jsonb NOT NULL DEFAULT '{}',
    mask_p        double precision,
    clock_synced  boolean,
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, session_id, started_at)
) PARTITION BY RANGE (started_at);

-- Votes (+1/-1) from the panel or a phone; the phone's identifier stays on the screen.
CREATE TABLE fleet.ratings (
    device_id     text NOT NULL,
    uuid          uuid NOT NULL,
    play_uuid     uuid NOT NULL,
    value         smallint NOT NULL CHECK (value IN (-1, 1)),
    source        text NOT NULL CHECK (source IN ('panel', 'mobile')),
    created_at    timestamptz NOT NULL,
    clock_synced  boolean,
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, uuid)
);

CREATE TABLE fleet.mobile_visits (
    device_id     text NOT NULL,
    uuid          uuid NOT NULL,
    play_uuid     uuid NOT NULL,
    created_at    timestamptz NOT NULL,
    clock_synced  boolean,
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, uuid)
);

CREATE INDEX plays_slug_time ON fleet.plays (ad_slug, started_at);
CREATE INDEX plays_received ON fleet.plays (device_id, received_at);
CREATE INDEX exposures_play ON fleet.exposures (device_id, play_uuid);
CREATE INDEX ratings_play ON fleet.ratings (device_id, play_uuid);
CREATE INDEX mobile_visits_play ON fleet.mobile_visits (device_id, play_uuid);

-- Rows whose time falls outside every monthly partition (a screen whose clock was not yet
-- synchronised may say 1970) land here instead of being refused.
CREATE TABLE fleet.plays_default PARTITION OF fleet.plays DEFAULT;
CREATE TABLE fleet.exposures_default PARTITION OF fleet.exposures DEFAULT;
CREATE TABLE fleet.sessions_default PARTITION OF fleet.sessions DEFAULT;

-- Which screen the connected role is: the row-level-security policies compare device_id with it.
-- SECURITY DEFINER so a screen's role needs no right to read fleet.screens.
CREATE FUNCTION fleet.my_device_id() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = fleet, pg_temp
    AS $$ SELECT device_id FROM fleet.screens WHERE role_name = session_user $$;

-- Screens may only INSERT, and only rows carrying their own device_id.
GRANT USAGE ON SCHEMA fleet TO fleet_screen;
GRANT INSERT ON fleet.plays, fleet.exposures, fleet.sessions, fleet.ratings, fleet.mobile_visits
    TO fleet_screen;
GRANT EXECUTE ON FUNCTION fleet.my_device_id() TO fleet_screen;
-- Readers (Grafana, analysts) see everything and change nothing.
GRANT USAGE ON SCHEMA fleet TO fleet_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA fleet TO fleet_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA fleet GRANT SELECT ON TABLES TO fleet_reader;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['plays', 'exposures', 'sessions', 'ratings', 'mobile_visits'] LOOP
        EXECUTE format('ALTER TABLE fleet.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY screen_inserts_own_rows ON fleet.%I FOR INSERT TO fleet_screen '
                       'WITH CHECK (device_id = fleet.my_device_id())', t);
        EXECUTE format('CREATE POLICY readers_see_all ON fleet.%I FOR SELECT TO fleet_reader USING (true)', t);
    END LOOP;
END $$;

-- Monthly partitions from `months_back` before to `months_ahead` after this month (idempotent;
-- `fleet init-db` runs it every time, so run that daily from cron or a systemd timer).
CREATE FUNCTION fleet.ensure_partitions(months_back integer, months_ahead integer) RETURNS integer
    LANGUAGE plpgsql SET search_path = fleet, pg_temp AS $$
DECLARE
    t text;
    m date;
    created integer := 0;
    part text;
BEGIN
    FOREACH t IN ARRAY ARRAY['plays', 'exposures', 'sessions'] LOOP
        FOR i IN -months_back..months_ahead LOOP
            m := (date_trunc('month', now()) + make_interval(months => i))::date;
            part := format('%s_%s', t, to_char(m, 'YYYY_MM'));
            CONTINUE WHEN to_regclass('fleet.' || part) IS NOT NULL;
            BEGIN
                EXECUTE format('CREATE TABLE fleet.%I PARTITION OF fleet.%I FOR VALUES FROM (%L) TO (%L)',
                               part, t, m, (m + interval '1 month')::date);
                created := created + 1;
            EXCEPTION WHEN check_violation THEN
                -- rows for that month already sit in the default partition: leave them there
                RAISE NOTICE 'partition % not created: the default partition holds rows for it', part;
            END;
        END LOOP;
    END LOOP;
    RETURN created;
END $$;

-- The privacy promise holds in the centre as on the screen: per-session records older than
-- privacy.retention_days (fleet.settings) are deleted; plays (anonymous aggregates), votes and
-- visits are kept, exactly as on the screen.
CREATE FUNCTION fleet.apply_retention() RETURNS TABLE (sessions_deleted bigint, exposures_deleted bigint)
    LANGUAGE plpgsql SET search_path = fleet, pg_temp AS $$
DECLARE
    cutoff timestamptz := now() - make_interval(days => (SELECT value::integer FROM fleet.settings
                                                          WHERE key = 'retention_days'));
BEGIN
    DELETE FROM fleet.exposures WHERE play_started_at < cutoff;
    GET DIAGNOSTICS exposures_deleted = ROW_COUNT;
    DELETE FROM fleet.sessions WHERE ended_at < cutoff;
    GET DIAGNOSTICS sessions_deleted = ROW_COUNT;
    RETURN NEXT;
END $$;
