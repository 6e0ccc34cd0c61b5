"""Helpers for ``scripts/build_models.py`` (build time only; never imported by the appliance)."""
