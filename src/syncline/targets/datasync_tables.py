"""The datasync's own tables in the target database (docs/datasync.md, "The queue").

Their column types differ per database (an id that never wraps, timestamps with
microseconds), which is why they are defined here, with the databases named.
``syncline db upgrade heads`` creates them (migration ``syncline_0002``), and so does the
daemon's first start (:func:`create`): both leave a table that is already there as it is.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

#: pending changes, one row per changed source record (and model)
QUEUE = "syncline_datasync_queue"
#: changes that failed ``max_tries`` times, with their last error
DEAD = "syncline_datasync_dead"
#: the consumers that ran, with their last sign of life
CONSUMERS = "syncline_datasync_consumers"
#: a polling watcher's durable position (the last ``--since-column`` value it carried)
POSITIONS = "syncline_datasync_positions"

NAMES = (QUEUE, DEAD, CONSUMERS, POSITIONS)


def _id() -> sa.Column[int]:
    # SQLite: INTEGER PRIMARY KEY is the rowid (a BIGINT key would never be filled in)
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                     primary_key=True, autoincrement=True)


def _when() -> sa.types.TypeEngine[object]:
    """Naive UTC timestamps with microseconds (MariaDB's DATETIME drops them otherwise)."""
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")  # type: ignore[return-value]


def tables(metadata: sa.MetaData | None = None) -> dict[str, sa.Table]:
    """The four tables, by name, in ``metadata`` (a new one by default)."""
    metadata = metadata if metadata is not None else sa.MetaData()
    found = {name: metadata.tables[name] for name in NAMES if name in metadata.tables}
    if len(found) == len(NAMES):
        return found
    queue = sa.Table(
        QUEUE, metadata, _id(),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("key_json", sa.Text, nullable=False),
        sa.Column("op", sa.String(1), nullable=False),
        sa.Column("changed_at", _when(), nullable=False),
        sa.Column("queued_at", _when(), nullable=False),
        sa.Column("tries", sa.Integer, nullable=False, default=0),
        sa.Column("not_before", _when()),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("lease_until", _when()),
        sa.Column("last_error", sa.Text),
    )
    dead = sa.Table(
        DEAD, metadata, _id(),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("key_json", sa.Text, nullable=False),
        sa.Column("op", sa.String(1), nullable=False),
        sa.Column("changed_at", _when(), nullable=False),
        sa.Column("tries", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("died_at", _when(), nullable=False),
    )
    consumers = sa.Table(
        CONSUMERS, metadata,
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("started_at", _when(), nullable=False),
        sa.Column("seen_at", _when(), nullable=False),
        sa.Column("batches", sa.BigInteger, nullable=False, default=0),
        sa.Column("applied", sa.BigInteger, nullable=False, default=0),
        sa.Column("stopped", sa.Boolean, nullable=False, default=False),
    )
    positions = sa.Table(
        POSITIONS, metadata,
        sa.Column("watcher", sa.String(255), primary_key=True),
        sa.Column("position", sa.Text),
        sa.Column("moved_at", _when(), nullable=False),
    )
    return {QUEUE: queue, DEAD: dead, CONSUMERS: consumers, POSITIONS: positions}


def create(bind: sa.Engine | sa.Connection) -> None:
    """Create whichever of the tables is missing (and nothing else)."""
    metadata = sa.MetaData()
    tables(metadata)
    metadata.create_all(bind, checkfirst=True)
