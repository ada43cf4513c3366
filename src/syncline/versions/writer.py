"""Version rows for what a run writes: set-based, in the run's transaction.

One ``transaction`` row per run that changes a versioned table (taken when the first
version is written: a dry run or a run without changes takes none), with the user, the
machine's address, the time and the comment. For each changed record one row in
``<table>_version`` holding the record as the table now has it (a create or update: read
after the write) or had it (a delete: read before), and the record's previous open
version closed by ``end_transaction_id``: two statements per model and kind, whatever
the number of rows, each checked against the run's counts (RELIABILITY 21).

The engine says which records changed (:meth:`DiffEngine.changed`): a selectable of the
importer's key columns and the operation (``c``, ``u``, ``d``); the versions are joined
to the table by that key and carry the table's own primary key, as Continuum's do.
"""

from __future__ import annotations

import datetime as dt
import socket
from dataclasses import dataclass, field

import sqlalchemy as sa

from syncline.errors import ConfigError
from syncline.targets import history
from syncline.targets.sql import TargetSession
from syncline.targets.staging import execute_counted

#: the operation letters engines use, as Continuum's operation types
OPERATIONS = {"c": history.INSERT, "u": history.UPDATE, "d": history.DELETE}


@dataclass
class Who:
    """Who makes the changes, from where, and why (the ``transaction`` row)."""

    user: str | None = None
    comment: str | None = None
    remote_addr: str | None = field(default_factory=lambda: machine_address())


def machine_address() -> str:
    """This machine's address, as Continuum records a request's (50 characters at most)."""
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        address = "127.0.0.1"
    return address[:50]


def is_versioned(session: TargetSession, table: str) -> bool:
    """A table is versioned when it has a ``<table>_version`` sibling (the ``transaction``
    table it needs is :func:`require_version_columns`'s to check: a missing one is an
    error, never a silent run without versions)."""
    return session.has_table(history.version_name(table))


def require_version_columns(session: TargetSession, table: str) -> None:
    """Refuse, before anything is written, a version table that lacks columns of the live
    table (it was not migrated with it): its versions could not hold the records. So is
    a version table without the ``transaction`` table its rows point at."""
    if not session.has_table(history.TRANSACTION):
        raise ConfigError(
            f"table {table} keeps versions ({history.version_name(table)}), but the table"
            f" {history.TRANSACTION} is missing: `syncline versions enable {table}` or"
            " `syncline db upgrade` makes it; or run with --no-versions; nothing was"
            " written", model=table)
    live = session.table(table)
    versions = session.table(history.version_name(table))
    missing = [c for c in live.c.keys() if c not in versions.c]
    if missing:
        raise ConfigError(
            f"table {history.version_name(table)} lacks column(s) {', '.join(missing)} of"
            f" table {table}: add them to it (versions could not hold the records); nothing"
            " was written", model=table)


class VersionWriter:
    """Writes the versions of one run (see the module's docstring)."""

    def __init__(self, session: TargetSession, who: Who) -> None:
        self.session = session
        self.who = who
        self.transaction_id: int | None = None
        #: version rows written, by table
        self.written: dict[str, int] = {}

    def _transaction(self) -> int:
        if self.transaction_id is not None:
            return self.transaction_id
        session = self.session
        if self.who.comment is not None and not session.has_table(history.META):
            raise ConfigError(f"table {history.META} does not exist: cannot record --comment"
                              " (`syncline versions enable TABLE` creates what is missing)")
        with session.translating(f"cannot write the {history.TRANSACTION} row of this run's"
                                 f" versions (user {self.who.user!r})"):
            return self._insert_transaction()

    def _insert_transaction(self) -> int:
        session = self.session
        tx = session.table(history.TRANSACTION)
        values: dict[str, object] = {
            "issued_at": dt.datetime.now(dt.UTC).replace(tzinfo=None)}
        if "remote_addr" in tx.c:
            values["remote_addr"] = self.who.remote_addr
        if self.who.user is not None:
            if "user_id" not in tx.c:
                raise ConfigError(f"table {history.TRANSACTION} has no user_id column:"
                                  " cannot record --runas")
            values["user_id"] = self.who.user
        # the id from the sequence where there is one (Continuum's); a table another tool
        # made may be numbered by AUTO_INCREMENT (MariaDB) or an identity instead
        conn = session.conn
        numbered = conn.dialect.supports_sequences and sa.inspect(conn).has_sequence(
            "transaction_id_seq")
        table = history.transaction_table(sa.MetaData(), tx, sequence=numbered)
        result = session.conn.execute(table.insert().values(values))
        inserted = result.inserted_primary_key
        assert inserted is not None
        self.transaction_id = int(inserted[0])
        if self.who.comment is not None:
            meta = session.table(history.META)
            session.conn.execute(meta.insert().values(
                {history.TX: self.transaction_id, "key": "comment", "value": self.who.comment}))
        return self.transaction_id

    def write(self, table: str, key: tuple[str, ...], changed: sa.Select[tuple[object, ...]],
              ops: tuple[str, ...], expected: int) -> None:
        """Versions of the records of ``table`` that ``changed`` lists with one of ``ops``
        (creates and updates after their write; deletes before theirs): ``expected`` of
        them, exactly."""
        if expected == 0:
            return
        session = self.session
        live = session.table(table)
        versions = session.table(history.version_name(table))
        missing = [c.name for c in live.columns if c.name not in versions.c]
        if missing:
            raise ConfigError(
                f"table {history.version_name(table)} lacks column(s) {', '.join(missing)} of"
                f" table {table}: add them to it (`syncline versions status` lists them), or"
                " run with --no-versions", model=session.models.get(table, table))
        tx_id = self._transaction()
        with session.translating(f"cannot write versions of table {table}",
                                 model=session.models.get(table, table)):
            self._write(table, key, changed, ops, expected, tx_id, live, versions)
        self.written[table] = self.written.get(table, 0) + expected

    def _write(self, table: str, key: tuple[str, ...], changed: sa.Select[tuple[object, ...]],
               ops: tuple[str, ...], expected: int, tx_id: int, live: sa.Table,
               versions: sa.Table) -> None:
        session = self.session
        pk = [c.name for c in live.primary_key.columns]
        keys = changed.subquery()
        op_column = keys.c[list(keys.c.keys())[-1]]
        joined = sa.and_(*(live.c[k] == keys.c[k] for k in key), op_column.in_(ops))
        # the open version of each record is closed by this transaction: UPDATE … FROM the
        # changed records (MySQL: a multiple-table UPDATE), so that the planner walks the few
        # changed keys into the version table's key index. A correlated EXISTS is run once
        # per open version on SQLite and MariaDB, scanning the unindexed keys each time.
        changed_pk = (sa.select(*(live.c[p] for p in pk)).select_from(live.join(keys, joined))
                      .subquery())
        closing = (versions.update()
                   .where(session.dialect.unindexed(versions.c[history.END_TX]).is_(None),
                          versions.c[history.TX] != tx_id,
                          *(versions.c[p] == changed_pk.c[p] for p in pk))
                   .values({history.END_TX: tx_id}))
        session.conn.execute(closing)
        kind = sa.case(*((op_column == letter, OPERATIONS[letter]) for letter in ops),
                       else_=sa.null())
        columns = [c.name for c in live.columns]
        rows = (sa.select(*(live.c[c] for c in columns), sa.literal(tx_id), kind)
                .select_from(live.join(keys, joined)))
        execute_counted(session, "version", expected, versions.insert().from_select(
            [*columns, history.TX, history.OP], rows))

    def write_gone(self, table: str, pk: tuple[str, ...], changed: sa.Select[tuple[object, ...]],
                   expected: int) -> None:
        """Delete versions of records whose live row is gone (a catch-up): each carries the
        values of the record's open version, which it then closes."""
        session = self.session
        tx_id = self._transaction()
        versions = session.table(history.version_name(table))
        keys = changed.subquery()
        op_column = keys.c[list(keys.c.keys())[-1]]
        v = versions
        is_open = sa.and_(session.dialect.unindexed(v.c[history.END_TX]).is_(None),
                          v.c[history.TX] != tx_id)
        joined = sa.and_(*(v.c[k] == keys.c[k] for k in pk), op_column == "d")
        columns = [c for c in v.c.keys() if c not in history.VERSION_COLUMNS]
        rows = (sa.select(*(v.c[c] for c in columns), sa.literal(tx_id),
                          sa.literal(history.DELETE))
                .select_from(v.join(keys, joined)).where(is_open))
        staged = session.scratch_table([sa.Column(c, v.c[c].type) for c in columns]
                                       + [sa.Column(history.TX, v.c[history.TX].type),
                                          sa.Column(history.OP, v.c[history.OP].type)])
        # through a scratch table: MySQL cannot insert into a table it selects from
        execute_counted(session, "version", expected, staged.insert().from_select(
            [*columns, history.TX, history.OP], rows))
        gone = sa.select(*(keys.c[k] for k in pk)).where(op_column == "d").subquery()
        session.conn.execute(  # joined, not a correlated EXISTS: see write()
            v.update().where(is_open, *(v.c[k] == gone.c[k] for k in pk))
            .values({history.END_TX: tx_id}))
        execute_counted(session, "version", expected, v.insert().from_select(
            [*columns, history.TX, history.OP], sa.select(staged)))
        self.written[table] = self.written.get(table, 0) + expected

