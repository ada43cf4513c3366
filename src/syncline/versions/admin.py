"""Turning versions on (``syncline versions enable``) and looking at them (``status``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from syncline.errors import ConfigError
from syncline.targets import history
from syncline.targets.sql import SqlTarget


@dataclass(frozen=True)
class TableVersions:
    """One versioned table: its rows, its version rows, and the version table's columns
    the live table lacks or has more of (both empty when they agree)."""

    table: str
    rows: int
    versions: int
    missing: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"table": self.table, "rows": self.rows, "versions": self.versions,
                "missing_columns": list(self.missing)}


def enable(url: str | sa.Engine, tables: Sequence[str]) -> list[str]:
    """Create what versions of ``tables`` need and is missing: ``transaction``,
    ``transaction_meta``, each ``<table>_version`` with Continuum's indexes. Idempotent;
    returns the names of the tables created. A table without a primary key, or one that is
    itself a version table, is refused before anything is created."""
    target = SqlTarget(url)
    try:
        target.require_database()
        with target.engine.begin() as conn:
            inspector = sa.inspect(conn)
            existing = set(inspector.get_table_names())
            metadata = sa.MetaData()
            wanted: list[sa.Table] = []
            for name in tables:
                if name not in existing:
                    raise ConfigError(f"versions enable: no table {name} in the target",
                                      model=name)
                if name.endswith(history.SUFFIX) or name in (history.TRANSACTION,
                                                             history.META):
                    raise ConfigError(f"versions enable: {name} is a table of versions itself",
                                      model=name)
                live = sa.Table(name, sa.MetaData(), autoload_with=conn)
                if not live.primary_key.columns:
                    raise ConfigError(f"versions enable: table {name} has no primary key;"
                                      " versions are kept by it (add one first)", model=name)
                longest = conn.dialect.max_identifier_length
                if len(history.version_name(name)) > longest:
                    raise ConfigError(
                        f"versions enable: table {name}'s version table name"
                        f" {history.version_name(name)} is longer than the {longest}"
                        f" characters {conn.dialect.name} allows (rename the table)",
                        model=name)
                if history.version_name(name) not in existing:
                    wanted.append(history.version_table(live, metadata))
            for name, needed in ((history.TRANSACTION, ("id", "issued_at")),
                                 (history.META, (history.TX, "key", "value"))):
                if name in existing:
                    _require_layout(conn, name, needed)
            if history.TRANSACTION not in existing:
                wanted.insert(0, history.transaction_table(metadata))
            if history.META not in existing:
                wanted.insert(1 if history.TRANSACTION not in existing else 0,
                              history.meta_table(metadata))
            for table in wanted:
                table.create(conn, checkfirst=True)  # and its sequence, unless there
            return [t.name for t in wanted]
    finally:
        target.close()


def _require_layout(conn: sa.Connection, name: str, needed: Sequence[str]) -> None:
    """An existing ``transaction`` or ``transaction_meta`` table must be Continuum's: a
    table of another system with that name (a point of sale's sales) is never written to."""
    have = {c["name"] for c in sa.inspect(conn).get_columns(name)}
    lacking = [c for c in needed if c not in have]
    if lacking:
        raise ConfigError(
            f"versions enable: the target has a table {name} that is not a version"
            f" transaction table (it lacks {', '.join(lacking)}, which SQLAlchemy-Continuum's"
            f" {name} has): versions cannot be kept in this database schema while another"
            " table holds that name; nothing was created")


def status(url: str | sa.Engine) -> list[TableVersions]:
    """Every versioned table of the target (one with a ``<table>_version`` sibling)."""
    target = SqlTarget(url)
    try:
        target.require_database()
        with target.engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            found = []
            for name in sorted(names):
                if history.version_name(name) not in names:
                    continue
                live = sa.Table(name, sa.MetaData(), autoload_with=conn)
                versions = sa.Table(history.version_name(name), sa.MetaData(),
                                    autoload_with=conn)
                found.append(TableVersions(
                    name, conn.execute(sa.select(sa.func.count()).select_from(live)).scalar_one(),
                    conn.execute(sa.select(sa.func.count()).select_from(versions)).scalar_one(),
                    missing_columns(live, versions)))
            return found
    finally:
        target.close()


def missing_columns(live: sa.Table, versions: sa.Table) -> tuple[str, ...]:
    """Columns of the live table its version table lacks (the version rows could not hold
    the record): after a migration added them, add them to the version table too."""
    return tuple(c for c in live.c.keys() if c not in versions.c)
