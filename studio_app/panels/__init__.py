"""Dock panels: palette, properties (with field widgets), services, log, problems."""
