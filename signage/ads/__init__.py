"""The ad inventory (ad.toml folders synced into SQLite), selection and the `ads`/`report` CLI."""
