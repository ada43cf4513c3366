"""Targets: where a run writes. Today SQL databases through SQLAlchemy Core."""
