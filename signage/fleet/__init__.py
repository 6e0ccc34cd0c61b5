"""Fleet mode (docs/fleet.md): many screens, one set of numbers, on existing engines.

* billing plane: the store's transactional outbox (store/schema.py, step 4) -> `shipper` ->
  central PostgreSQL, whose schema, roles, policies and views live in `sql/` and are applied
  by `central` (`python -m signage fleet init-db` / `add-screen`);
* operations plane: `export` writes Prometheus (file-based discovery, alert rules) and Grafana
  provisioning files;
* content plane: `content` publishes content-addressed bundles and pulls them on a screen.

Device side entry point: `FleetLink` (link.py), built by the appliance only when `[fleet]`
has a database_url or a content_url. psycopg is imported only where PostgreSQL is spoken, so a
lone screen never needs the optional `signage[fleet]` extra.
"""
