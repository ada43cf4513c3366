"""The version tables, laid out as SQLAlchemy-Continuum 2.x lays them out (docs/versions.md).

Continuum's defaults, validity strategy, with its TransactionMeta plugin:

- ``transaction``: ``id`` (BIGINT from the sequence ``transaction_id_seq`` where the
  database has sequences; INTEGER on SQLite, as Continuum compiles it), ``remote_addr``
  VARCHAR(50), ``issued_at`` (naive UTC), ``user_id``;
- ``transaction_meta``: ``transaction_id``, ``key`` VARCHAR(255), ``value`` TEXT, keyed by
  both (the comment is the ``comment`` key);
- ``<table>_version``: the table's columns (nullable but for the key, no defaults, no
  uniqueness), then ``transaction_id`` (part of the primary key), ``end_transaction_id``
  and ``operation_type`` (0 insert, 1 update, 2 delete), with Continuum's indexes.

Only tables are described here; :mod:`syncline.versions` writes and reads them.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa

from syncline.errors import ConfigError

TRANSACTION = "transaction"
META = "transaction_meta"
SUFFIX = "_version"
TX = "transaction_id"
END_TX = "end_transaction_id"
OP = "operation_type"
#: operation_type values
INSERT, UPDATE, DELETE = 0, 1, 2
#: the names a version table adds to the live table's columns
VERSION_COLUMNS = (TX, END_TX, OP)


def _id_type() -> sa.types.TypeEngine[int]:
    # SQLite: INTEGER, so that the key is the rowid and numbers itself (as Continuum has it)
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def version_name(table: str) -> str:
    return f"{table}{SUFFIX}"


def transaction_table(metadata: sa.MetaData, existing: sa.Table | None = None, *,
                      sequence: bool = True) -> sa.Table:
    """``transaction``, as Continuum's ``Transaction`` model with ``remote_addr`` and a
    ``user_id`` (a string, for ``--runas``). Given the ``existing`` table (reflected), only
    the columns it has, with its ``user_id`` type: the id still comes from the sequence
    where the database has sequences, as Continuum takes it — unless ``sequence`` is False
    (an existing table numbered by AUTO_INCREMENT or an identity, with no such sequence)."""
    numbering = [sa.Sequence("transaction_id_seq")] if sequence else []
    columns: list[sa.Column[Any]] = [
        sa.Column("id", _id_type(), *numbering, primary_key=True, autoincrement=True),
        sa.Column("remote_addr", sa.String(50)),
        sa.Column("issued_at", sa.DateTime),
        sa.Column("user_id", existing.c["user_id"].type
                  if existing is not None and "user_id" in existing.c else sa.String(255),
                  index=True),
    ]
    if existing is not None:
        columns = [c for c in columns if c.name in existing.c]
    return sa.Table(TRANSACTION, metadata, *columns)


def meta_table(metadata: sa.MetaData) -> sa.Table:
    """``transaction_meta``, as Continuum's TransactionMeta plugin has it."""
    return sa.Table(
        META, metadata,
        sa.Column(TX, _id_type(), primary_key=True, autoincrement=False),
        sa.Column("key", sa.Unicode(255), primary_key=True),
        sa.Column("value", sa.UnicodeText),
    )


def version_table(live: sa.Table, metadata: sa.MetaData) -> sa.Table:
    """``<table>_version`` for the reflected live table ``live``: its columns copied as
    Continuum's ColumnReflector copies them, the three version columns, its indexes. A
    live column named like one of the version columns is refused: the version table could
    not hold both (nor could Continuum's)."""
    clash = [c.name for c in live.columns if c.name in VERSION_COLUMNS]
    if clash:
        raise ConfigError(
            f"table {live.name} has a column named {clash[0]}, as a version table's own column"
            f" ({', '.join(VERSION_COLUMNS)}): its versions cannot be kept in"
            f" {version_name(live.name)}; rename the column first", model=live.name,
            field=clash[0])
    columns = []
    for column in live.columns:
        copy = sa.Column(column.name, column.type, primary_key=column.primary_key,
                         nullable=not column.primary_key, autoincrement=False)
        columns.append(copy)
    columns += [
        sa.Column(TX, _id_type(), primary_key=True, index=True, autoincrement=False),
        sa.Column(END_TX, _id_type(), index=True),
        sa.Column(OP, sa.SmallInteger, nullable=False, index=True),
    ]
    name = version_name(live.name)
    table = sa.Table(name, metadata, *columns)
    key = [table.c[c.name] for c in live.primary_key.columns]
    if key:
        sa.Index(index_name(f"ix_{name}_pk_transaction_id"), *key, table.c[TX].desc())
        sa.Index(index_name(f"ix_{name}_pk_validity"), *key, table.c[TX], table.c[END_TX])
    return table


#: the longest identifier every supported database takes (PostgreSQL: 63, MariaDB: 64)
MAX_NAME = 63


def index_name(name: str) -> str:
    """Continuum's index name, or — when it would pass :data:`MAX_NAME`, which the
    servers refuse — its head and a hash of the whole (the same name on every database)."""
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[:MAX_NAME - 9]}_{digest}"
