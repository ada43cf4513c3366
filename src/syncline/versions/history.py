"""The history of one record (``syncline history TABLE KEY...``): every version, oldest first,
with its transaction's time, user, address and comment, and what changed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from syncline.errors import ConfigError, KeyProblemError, SynclineError
from syncline.result import plain_value
from syncline.targets import history as tables
from syncline.targets.sql import SqlTarget, TargetSession
from syncline.types import TypeOptions, source_coercer, to_db

OPERATIONS = {tables.INSERT: "insert", tables.UPDATE: "update", tables.DELETE: "delete"}


@dataclass(frozen=True)
class Version:
    """One version of a record."""

    transaction_id: int
    end_transaction_id: int | None
    operation: str
    issued_at: dt.datetime | None
    user: Any
    remote_addr: str | None
    comment: str | None
    values: dict[str, Any]
    #: field -> (value before, value after), against the version before (all fields of
    #: the first version, from None)
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"transaction_id": self.transaction_id,
                "end_transaction_id": self.end_transaction_id,
                "operation": self.operation,
                "issued_at": None if self.issued_at is None else self.issued_at.isoformat(),
                "user": plain_value(self.user), "remote_addr": self.remote_addr,
                "comment": self.comment,
                "values": {k: plain_value(v) for k, v in self.values.items()},
                "changed": {k: [plain_value(a), plain_value(b)]
                            for k, (a, b) in self.changed.items()}}


def record_history(url: str | sa.Engine, table: str, key: Sequence[Any]) -> list[Version]:
    """Every version of the record of ``table`` whose primary key is ``key`` (given as
    text or values: coerced like a source key), oldest first. An unversioned table or a
    key that does not fit is an error naming it; an unknown key has no versions."""
    target = SqlTarget(url)
    try:
        target.require_database()
        session = target.session()
        try:
            return _history(session, table, key)
        finally:
            session.close()
    finally:
        target.close()


def _history(session: TargetSession, table: str, key: Sequence[Any]) -> list[Version]:
    if not session.has_table(tables.version_name(table)):
        raise ConfigError(f"history: table {table} keeps no versions (no table"
                          f" {tables.version_name(table)})", model=table)
    versions = session.table(tables.version_name(table))
    pk = [c.name for c in versions.primary_key.columns if c.name != tables.TX]
    if len(key) != len(pk):
        raise KeyProblemError(f"history: the key of {table} is ({', '.join(pk)}): give"
                              f" {len(pk)} value(s), not {len(key)}", model=table)
    specs = session.columns(tables.version_name(table))
    options = TypeOptions(typed_source=False)
    wanted = []
    for name, given in zip(pk, key, strict=True):
        try:
            value = source_coercer(specs[name], options)(given)
        except SynclineError as exc:
            raise KeyProblemError(f"history: key value {given!r} does not fit column {name}:"
                                  f" {exc.message}", model=table, field=name,
                                  value=given) from exc
        wanted.append(to_db(specs[name], options)(value))
    tx = session.table(tables.TRANSACTION)
    meta = session.table(tables.META) if session.has_table(tables.META) else None
    columns = [c for c in versions.c.keys() if c not in tables.VERSION_COLUMNS]
    comment: Any = sa.null()
    if meta is not None:
        comment = (sa.select(meta.c["value"])
                   .where(meta.c[tables.TX] == versions.c[tables.TX], meta.c["key"] == "comment")
                   .scalar_subquery())
    user = tx.c["user_id"] if "user_id" in tx.c else sa.null()
    address = tx.c["remote_addr"] if "remote_addr" in tx.c else sa.null()
    query = (sa.select(*(versions.c[c] for c in columns), versions.c[tables.TX],
                       versions.c[tables.END_TX], versions.c[tables.OP], tx.c["issued_at"],
                       user, address, comment)
             .select_from(versions.outerjoin(tx, tx.c["id"] == versions.c[tables.TX]))
             .where(*(versions.c[k] == v for k, v in zip(pk, wanted, strict=True)))
             .order_by(versions.c[tables.TX]))
    found: list[Version] = []
    before: dict[str, Any] = {}
    for row in session.conn.execute(query):
        values = dict(zip(columns, row[:len(columns)], strict=True))
        tx_id, end, op, issued, who, addr, note = row[len(columns):]
        changed = {c: (before.get(c), v) for c, v in values.items()
                   if c not in before or before[c] != v}
        if op == tables.DELETE:
            changed = {}
        found.append(Version(int(tx_id), None if end is None else int(end),
                             OPERATIONS.get(op, str(op)), issued, who, addr, note, values,
                             changed))
        before = {} if op == tables.DELETE else values
    return found

