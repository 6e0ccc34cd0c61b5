"""Reports: the one package that holds the SQL of what the appliance reports.

* `delivery` -- per-ad delivery (plays, impressions/OTS, watchers, reach, dwell, attention,
  spend) and audience totals, for `signage ads report` and the admin report;
* `admin_report` -- the admin report (per day, hour, segment, pacing, proof of play) and its
  CSV tables;
* `public` -- what the panel, the phone pages, `/metrics` and the admin's ad list read.

Request handlers call these named functions; they hold no SQL themselves.
"""
