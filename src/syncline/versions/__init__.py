"""Versions: every change a run makes to a versioned table, kept in history tables laid out
as SQLAlchemy-Continuum lays them out (docs/versions.md)."""
