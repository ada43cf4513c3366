"""Catch-up: bring the version tables up to the live data (WuttaSync's "importing versions").

The source is the live table; the target is the latest valid version of each record (its
open version — ``end_transaction_id IS NULL`` — unless that is a delete). Each difference
becomes a NEW version row, never an edit of an old one: a live record without a valid
version gets an insert version (0), one whose version differs an update version (1), and
— with ``delete`` (on by default here) — a valid version whose record is gone a delete
version (2) carrying the version's values. All under one ``transaction`` row, set-based:
the differences are classified into a temporary table in one pass, counted and judged by
the same guards as a sync, then written by four statements per table.

A record with more than one open version has an inconsistent history: its key is named
in a warning and left alone; the other records still catch up.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import sqlalchemy as sa

from syncline.diff import ChangeSet, Create, Delete, Update
from syncline.errors import ConfigError, GuardError, SynclineError
from syncline.guards import check_guards
from syncline.locks import run_lock
from syncline.options import RunOptions
from syncline.result import ModelResult, Result
from syncline.targets import history
from syncline.targets.sql import SqlTarget, TargetSession
from syncline.versions.writer import VersionWriter, Who, require_version_columns

#: inconsistent keys named in a warning, at most
KEYS_SHOWN = 20


def catch_up(url: str | sa.Engine, tables: Sequence[str] = (), options: RunOptions | None = None,
             who: Who | None = None) -> Result:
    """Catch up the versions of ``tables`` (default: every versioned table) on the target
    at ``url``. Raises like :meth:`Handler.run` (``.result`` attached); a dry run writes
    nothing and takes no transaction id."""
    options = options or RunOptions(delete=True)
    # the user as a sync takes it: --runas, else SYNCLINE_RUNAS (a catch-up has no handler)
    who = who or Who(user=options.runas or os.environ.get("SYNCLINE_RUNAS") or None,
                     comment=options.comment)
    result = Result(dry_run=options.dry_run)
    started = time.perf_counter()
    target = SqlTarget(url)
    try:
        target.require_database()
        session = target.session(options.lock_timeout)
        try:
            chosen = list(tables) or versioned_tables(session)
            for table in chosen:
                _require_versioned(session, table)
            with nullcontext() if options.dry_run else run_lock(
                    target, "versions catch-up", chosen):
                _catch_up(session, chosen, options, who, result)
        finally:
            session.close()
    except BaseException as exc:
        if isinstance(exc, SynclineError):
            result.error = exc
        exc.result = result  # type: ignore[attr-defined]
        raise
    finally:
        result.seconds = time.perf_counter() - started
        target.close()
    return result


def versioned_tables(session: TargetSession) -> list[str]:
    """Every table of the target with a ``<table>_version`` sibling."""
    names = set(sa.inspect(session.conn).get_table_names())
    return sorted(n for n in names if history.version_name(n) in names
                  and not n.endswith(history.SUFFIX))


def _require_versioned(session: TargetSession, table: str) -> None:
    if not session.has_table(table):
        raise ConfigError(f"versions catch-up: no table {table} in the target", model=table)
    if not (session.has_table(history.version_name(table))
            and session.has_table(history.TRANSACTION)):
        raise ConfigError(f"versions catch-up: table {table} keeps no versions (run"
                          f" `syncline versions enable {table}` first)", model=table)


def _catch_up(session: TargetSession, tables: list[str], options: RunOptions, who: Who,
              result: Result) -> None:
    found: list[tuple[str, _Classified]] = []
    for table in tables:
        began = time.perf_counter()
        model = ModelResult(table)
        result.models[table] = model
        with session.translating(f"cannot compare table {table} with its versions",
                                 model=table):
            classified = _classify(session, table, options)
        model.changes = classified.changes
        model.warnings = classified.warnings
        model.seconds = time.perf_counter() - began
        found.append((table, classified))
    refusals = [g for _, c in found for g in check_guards(c.changes, options, c.live_rows)]
    for refusal in refusals:
        result.models[refusal.model or ""].errors.append(refusal)
    if refusals:
        if len(refusals) == 1:
            raise refusals[0]
        raise GuardError("; ".join(r.message for r in refusals), guard=refusals[0].guard,
                         flag=refusals[0].flag)
    if options.dry_run:
        return
    result.writing = True
    writer = VersionWriter(session, who)
    for table, classified in found:
        began = time.perf_counter()
        changes = classified.changes
        with session.translating(f"cannot write versions of table {table}", model=table):
            keys = sa.select(classified.table)
            writer.write(table, classified.pk, keys, ("c", "u"),
                         changes.created + changes.updated)
            if changes.deleted:
                writer.write_gone(table, classified.pk, keys, changes.deleted)
        result.models[table].versions = writer.written.get(table, 0)
        result.models[table].seconds += time.perf_counter() - began
    result.transaction_id = writer.transaction_id
    session.commit()
    result.committed = True


class _Classified:
    """The differences of one table from its versions, in a temporary table."""

    def __init__(self, table: sa.Table, pk: tuple[str, ...], changes: ChangeSet,
                 live_rows: int, warnings: list[str]) -> None:
        self.table, self.pk, self.changes = table, pk, changes
        self.live_rows, self.warnings = live_rows, warnings


def _classify(session: TargetSession, name: str, options: RunOptions) -> _Classified:
    conn = session.conn
    live = session.table(name)
    versions = session.table(history.version_name(name))
    pk = tuple(c.name for c in live.primary_key.columns)
    columns = [c.name for c in live.columns]
    if not pk:
        raise ConfigError(f"table {name} has no primary key: its versions cannot be matched",
                          model=name)
    require_version_columns(session, name)
    v = versions
    is_open = v.c[history.END_TX].is_(None)
    # keys with more than one open version: an inconsistent history, left alone
    doubled = (sa.select(*(v.c[k] for k in pk)).where(is_open)
               .group_by(*(v.c[k] for k in pk)).having(sa.func.count() > 1))
    bad = [tuple(r) for r in conn.execute(doubled.limit(KEYS_SHOWN + 1))]
    bad_count = len(bad) if len(bad) <= KEYS_SHOWN else conn.execute(
        sa.select(sa.func.count()).select_from(doubled.subquery())).scalar_one()
    warnings = []
    if bad:
        shown = ", ".join(repr(k[0] if len(k) == 1 else k) for k in bad[:KEYS_SHOWN])
        more = f" and {bad_count - KEYS_SHOWN} more" if bad_count > KEYS_SHOWN else ""
        warnings.append(f"{name}: {bad_count} key(s) have more than one open version (an"
                        f" inconsistent history), left alone: {shown}{more}")
    single = (sa.select(*(v.c[k] for k in pk)).where(is_open)
              .group_by(*(v.c[k] for k in pk)).having(sa.func.count() == 1)).subquery()
    latest = (sa.select(v).where(is_open, v.c[history.OP] != history.DELETE,
                                 *(v.c[k] == single.c[k] for k in pk))).subquery()
    compare = session.target.capabilities.comparable
    differs = sa.or_(*(compare(live.c[c]).is_distinct_from(compare(latest.c[c]))
                       for c in columns if c not in pk))
    on = sa.and_(*(live.c[k] == latest.c[k] for k in pk))
    multi = doubled.subquery()
    not_bad_live = ~sa.exists().where(*(multi.c[k] == live.c[k] for k in pk))
    scratch = session.scratch_table(
        [sa.Column(k, live.c[k].type) for k in pk] + [sa.Column("_syncline_op", sa.String(1))])
    op = sa.case((latest.c[pk[0]].is_(None), "c"), else_="u")
    new_or_changed = (sa.select(*(live.c[k] for k in pk), op)
                      .select_from(live.outerjoin(latest, on))
                      .where(sa.or_(latest.c[pk[0]].is_(None), differs), not_bad_live))
    conn.execute(scratch.insert().from_select([*pk, "_syncline_op"], new_or_changed))
    if options.delete:
        gone = (sa.select(*(latest.c[k] for k in pk), sa.literal("d"))
                .where(~sa.exists().where(*(live.c[k] == latest.c[k] for k in pk))))
        conn.execute(scratch.insert().from_select([*pk, "_syncline_op"], gone))
    by_op = {o: int(n) for o, n in conn.execute(
        sa.select(scratch.c["_syncline_op"], sa.func.count()).group_by(scratch.c["_syncline_op"]))}
    live_rows = conn.execute(sa.select(sa.func.count()).select_from(live)).scalar_one()
    valid = conn.execute(sa.select(sa.func.count()).select_from(latest)).scalar_one()
    changes = ChangeSet(name, tuple(columns), pk)
    changes.created, changes.updated = by_op.get("c", 0), by_op.get("u", 0)
    changes.deleted = by_op.get("d", 0)
    changes.target_rows = valid
    gone_left = 0 if options.delete else conn.execute(
        sa.select(sa.func.count()).select_from(latest)
        .where(~sa.exists().where(*(live.c[k] == latest.c[k] for k in pk)))).scalar_one()
    changes.unchanged = live_rows - changes.created - changes.updated - _live_bad(
        conn, live, multi, pk)
    changes.skipped = gone_left
    if options.collect_changes:
        _read_back(conn, live, latest, scratch, pk, columns, changes)
    return _Classified(scratch, pk, changes, live_rows, warnings)


def _live_bad(conn: sa.Connection, live: sa.Table, multi: Any, pk: tuple[str, ...]) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(live).where(
        sa.exists().where(*(multi.c[k] == live.c[k] for k in pk)))).scalar_one())


def _read_back(conn: sa.Connection, live: sa.Table, latest: Any, scratch: sa.Table,
               pk: tuple[str, ...], columns: list[str], changes: ChangeSet) -> None:
    names = tuple(columns)
    key_of = [columns.index(k) for k in pk]
    op = scratch.c["_syncline_op"]
    for row in conn.execute(sa.select(*(live.c[c] for c in columns)).select_from(
            live.join(scratch, sa.and_(*(live.c[k] == scratch.c[k] for k in pk))))
            .where(op == "c")):
        values = tuple(row)
        changes.creates.append(Create(tuple(values[i] for i in key_of), values, names))
    for row in conn.execute(
            sa.select(*(live.c[c] for c in columns), *(latest.c[c] for c in columns))
            .select_from(live.join(scratch, sa.and_(*(live.c[k] == scratch.c[k] for k in pk)))
                         .join(latest, sa.and_(*(live.c[k] == latest.c[k] for k in pk))))
            .where(op == "u")):
        new, old = tuple(row[:len(columns)]), tuple(row[len(columns):])
        changed = tuple(c for c, a, b in zip(names, old, new, strict=True) if a != b)
        changes.updates.append(Update(tuple(old[i] for i in key_of), old, new, names, changed))
    for row in conn.execute(
            sa.select(*(latest.c[c] for c in columns))
            .select_from(latest.join(scratch, sa.and_(*(latest.c[k] == scratch.c[k]
                                                        for k in pk))))
            .where(op == "d")):
        old = tuple(row)
        changes.deletes.append(Delete(tuple(old[i] for i in key_of), old, names))
