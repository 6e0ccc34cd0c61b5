-- Central report views, re-created by every `fleet init-db` (they hold no data).
-- The SAME metric definitions as the screen's own reports (signage/reports.py, docs/architecture.md):
--   impressions (OTS) = exposures with present_s >= min_exposure_s; watchers = of those,
--   watching_s >= watcher_s; spend = sum of the plays' spend.
--   reach = COUNT(DISTINCT (device_id, session_id)) over raw exposures: anonymous SESSIONS, not
--   people (a returning person is a new session; a session never spans two screens). Reach is
--   NOT additive: never sum it across ads, hours, days or screens -- query the period you want.

DROP VIEW IF EXISTS fleet.campaign_delivery, fleet.daily_delivery, fleet.screen_delivery,
    fleet.audience_segments;
DROP FUNCTION IF EXISTS fleet.campaign_report(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS fleet.setting(text);

CREATE FUNCTION fleet.setting(name text) RETURNS double precision
    LANGUAGE sql STABLE AS $$ SELECT value::double precision FROM fleet.settings WHERE key = name $$;

-- Per campaign (ad slug), for plays that started in [since, until).
CREATE FUNCTION fleet.campaign_report(since timestamptz, until timestamptz)
RETURNS TABLE (ad_slug text, screens bigint, plays bigint, completed bigint, spend double precision,
               impressions bigint, watchers bigint, reach_sessions bigint,
               dwell_total_s double precision, attention_total_s double precision,
               rating_up bigint, rating_down bigint, mobile_visits bigint)
LANGUAGE sql STABLE AS $$
WITH p AS (
    SELECT device_id, uuid, started_at, ad_slug, completed, spend FROM fleet.plays
    WHERE kind = 'ad' AND started_at >= since AND started_at < until
),
e AS (
    SELECT p.ad_slug, x.device_id, x.session_id, x.present_s, x.watching_s
    FROM fleet.exposures x
    JOIN p ON p.device_id = x.device_id AND p.uuid = x.play_uuid AND p.started_at = x.play_started_at
    WHERE x.present_s >= fleet.setting('min_exposure_s') - 1e-9
),
pa AS (
    SELECT ad_slug, COUNT(DISTINCT device_id) AS screens, COUNT(*) AS plays,
           COUNT(*) FILTER (WHERE completed) AS completed, SUM(spend) AS spend
    FROM p GROUP BY ad_slug
),
ea AS (
    SELECT ad_slug, COUNT(*) AS impressions,
           COUNT(*) FILTER (WHERE watching_s >= fleet.setting('watcher_s') - 1e-9) AS watchers,
           COUNT(DISTINCT (device_id, session_id)) AS reach_sessions,
           SUM(present_s) AS dwell_total_s, SUM(watching_s) AS attention_total_s
    FROM e GROUP BY ad_slug
),
ra AS (
    SELECT p.ad_slug, COUNT(*) FILTER (WHERE r.value > 0) AS up, COUNT(*) FILTER (WHERE r.value < 0) AS down
    FROM fleet.ratings r JOIN p ON p.device_id = r.device_id AND p.uuid = r.play_uuid GROUP BY p.ad_slug
),
mv AS (
    SELECT p.ad_slug, COUNT(*) AS visits
    FROM fleet.mobile_visits v JOIN p ON p.device_id = v.device_id AND p.uuid = v.play_uuid GROUP BY p.ad_slug
)
SELECT pa.ad_slug, pa.screens, pa.plays, pa.completed, pa.spend,
       COALESCE(ea.impressions, 0), COALESCE(ea.watchers, 0), COALESCE(ea.reach_sessions, 0),
       COALESCE(ea.dwell_total_s, 0), COALESCE(ea.attention_total_s, 0),
       COALESCE(ra.up, 0), COALESCE(ra.down, 0), COALESCE(mv.visits, 0)
FROM pa
LEFT JOIN ea ON ea.ad_slug IS NOT DISTINCT FROM pa.ad_slug
LEFT JOIN ra ON ra.ad_slug IS NOT DISTINCT FROM pa.ad_slug
LEFT JOIN mv ON mv.ad_slug IS NOT DISTINCT FROM pa.ad_slug
ORDER BY pa.spend DESC, 6 DESC, pa.ad_slug
$$;

-- Per campaign over all time.
CREATE VIEW fleet.campaign_delivery AS
    SELECT * FROM fleet.campaign_report('-infinity', 'infinity');

-- Per UTC day, screen and campaign. reach_sessions here is per (day, screen, campaign): do not sum it.
CREATE VIEW fleet.daily_delivery AS
WITH p AS (
    SELECT device_id, uuid, started_at, ad_slug, completed, spend,
           (started_at AT TIME ZONE 'UTC')::date AS day
    FROM fleet.plays WHERE kind = 'ad'
),
x AS (
    SELECT p.day, p.device_id, p.ad_slug, e.session_id, e.present_s, e.watching_s
    FROM fleet.exposures e
    JOIN p ON p.device_id = e.device_id AND p.uuid = e.play_uuid AND p.started_at = e.play_started_at
    WHERE e.present_s >= fleet.setting('min_exposure_s') - 1e-9
),
pa AS (
    SELECT day, device_id, ad_slug, COUNT(*) AS plays, COUNT(*) FILTER (WHERE completed) AS completed,
           SUM(spend) AS spend
    FROM p GROUP BY 1, 2, 3
),
xa AS (
    SELECT day, device_id, ad_slug, COUNT(*) AS impressions,
           COUNT(*) FILTER (WHERE watching_s >= fleet.setting('watcher_s') - 1e-9) AS watchers,
           COUNT(DISTINCT session_id) AS reach_sessions,
           SUM(present_s) AS dwell_total_s, SUM(watching_s) AS attention_total_s
    FROM x GROUP BY 1, 2, 3
)
SELECT pa.day, pa.device_id, pa.ad_slug, pa.plays, pa.completed, pa.spend,
       COALESCE(xa.impressions, 0) AS impressions, COALESCE(xa.watchers, 0) AS watchers,
       COALESCE(xa.reach_sessions, 0) AS reach_sessions,
       COALESCE(xa.dwell_total_s, 0) AS dwell_total_s, COALESCE(xa.attention_total_s, 0) AS attention_total_s
FROM pa LEFT JOIN xa ON xa.day = pa.day AND xa.device_id = pa.device_id
                    AND xa.ad_slug IS NOT DISTINCT FROM pa.ad_slug;

-- Per screen: what it delivered and when the centre last heard from it.
CREATE VIEW fleet.screen_delivery AS
SELECT s.device_id, s.added_at,
       (SELECT COUNT(*) FROM fleet.plays p WHERE p.device_id = s.device_id) AS plays,
       (SELECT COUNT(*) FROM fleet.plays p WHERE p.device_id = s.device_id AND p.kind = 'ad') AS ad_plays,
       (SELECT COALESCE(SUM(p.impressions), 0) FROM fleet.plays p WHERE p.device_id = s.device_id) AS impressions,
       (SELECT COALESCE(SUM(p.spend), 0) FROM fleet.plays p WHERE p.device_id = s.device_id) AS spend,
       (SELECT COUNT(*) FROM fleet.sessions x WHERE x.device_id = s.device_id) AS sessions,
       (SELECT MAX(p.ended_at) FROM fleet.plays p WHERE p.device_id = s.device_id) AS last_play_at,
       (SELECT MAX(p.received_at) FROM fleet.plays p WHERE p.device_id = s.device_id) AS last_received_at,
       (SELECT COUNT(*) FROM fleet.plays p WHERE p.device_id = s.device_id AND p.clock_synced IS NOT TRUE)
           AS plays_clock_unsynced
FROM fleet.screens s;

-- Audience mix per UTC day, screen and segment (labelled sessions, not people).
CREATE VIEW fleet.audience_segments AS
SELECT (started_at AT TIME ZONE 'UTC')::date AS day, device_id,
       COALESCE(age_group, 'unknown') AS age_group, COALESCE(gender, 'unknown') AS gender,
       COALESCE(mood, 'unknown') AS mood,
       COUNT(*) AS sessions,
       COUNT(*) FILTER (WHERE attention_s >= fleet.setting('watcher_s') - 1e-9) AS watchers,
       SUM(dwell_s) AS dwell_total_s, SUM(attention_s) AS attention_total_s
FROM fleet.sessions GROUP BY 1, 2, 3, 4, 5;

GRANT SELECT ON fleet.campaign_delivery, fleet.daily_delivery, fleet.screen_delivery,
    fleet.audience_segments TO fleet_reader;
