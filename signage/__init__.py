"""signage: a privacy-first, audience-aware digital-signage appliance."""

__version__ = "0.1.0"
