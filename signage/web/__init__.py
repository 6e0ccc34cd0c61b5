"""The web layer: one aiohttp application serving the panel, mobile pages, admin and APIs."""
