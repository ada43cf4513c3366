"""syncline: the datasync queue, dead letters, consumers and polling positions

Laid out in :mod:`syncline.targets.datasync_tables`. A table that is already there (made by
the daemon's first start) is left as it is. Downgrading drops only empty tables: pending
changes and dead letters are never dropped by a migration.

Revision ID: syncline_0002
Revises: syncline_0001
Create Date: 2026-11-24 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from syncline.targets import datasync_tables

# revision identifiers, used by Alembic
revision: str = "syncline_0002"
down_revision: str | Sequence[str] | None = "syncline_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    datasync_tables.create(op.get_bind())


def downgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    for name, table in datasync_tables.tables().items():
        if name not in existing:
            continue
        count = bind.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        if count == 0 or name == datasync_tables.CONSUMERS:
            table.drop(bind)
