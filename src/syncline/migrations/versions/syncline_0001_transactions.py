"""syncline: the version transaction tables, transaction and transaction_meta

Laid out as SQLAlchemy-Continuum lays them out (:mod:`syncline.targets.history`). A table
that is already there — made by ``syncline versions enable`` before the database had
migrations, or by Continuum — is left as it is. Downgrading drops a table only while it is
empty and no ``<table>_version`` table points at it, and never another system's table of
that name: the history of changes is never dropped by a migration (drop it by hand if
meant).

Revision ID: syncline_0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from syncline.targets import history

# revision identifiers, used by Alembic
revision: str = "syncline_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("syncline",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    metadata = sa.MetaData()
    if history.TRANSACTION not in existing:
        history.transaction_table(metadata).create(bind, checkfirst=True)  # and its sequence
    if history.META not in existing:
        history.meta_table(metadata).create(bind)


#: the columns that make a table syncline's (Continuum's), not another system's namesake
_LAYOUT = {history.TRANSACTION: {"id", "issued_at"}, history.META: {history.TX, "key", "value"}}


def downgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    if any(n.endswith(history.SUFFIX) for n in existing):
        return  # version tables point at these: kept, even while empty
    for name in (history.META, history.TRANSACTION):
        if name not in existing:
            continue
        table = sa.Table(name, sa.MetaData(), autoload_with=bind)
        if not _LAYOUT[name] <= set(table.c.keys()):
            continue  # another system's table of that name: upgrade left it, so do we
        if bind.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0:
            if name == history.TRANSACTION:
                table = history.transaction_table(sa.MetaData(), table)  # with its sequence
            table.drop(bind, checkfirst=True)
