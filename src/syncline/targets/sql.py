"""A SQL database as a target: read by key in large batches, apply change sets in bulk.

The session holds ONE connection and ONE transaction for the whole run. Apply is the only
place that writes; it uses executemany batches (inserts in key order, which is much
cheaper for a B-tree), grouped updates and ``DELETE ... WHERE key IN (...)`` batches.
What a database does differently is asked of its dialect (:mod:`syncline.targets.dialect`),
never of its name.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any

import sqlalchemy as sa

from syncline.diff import ChangeSet, Create, Key, Update
from syncline.errors import (
    ConfigError,
    RefusedRow,
    TransientTargetError,
    format_key,
)
from syncline.masking import mask_url
from syncline.sources.base import BATCH
from syncline.targets import staging
from syncline.targets.codes import is_foreign_key_error
from syncline.targets.dialect import Dialect
from syncline.targets.foreign_keys import deferred_violation, orphaning_delete

# engine.py's name for the fold of a column's collation: only MySQL/MariaDB name one
# (new code asks ``session.dialect.collation_fold``)
from syncline.targets.mysql import collation_fold as collation_fold
from syncline.targets.pinpoint import apply_in_parts
from syncline.targets.refusals import (
    ERRORS_KEPT,
    count_mismatch,
    not_the_key,
    refused_row,
    refused_rows,
    translate,
)
from syncline.targets.registry import dialect_for
from syncline.targets.registry import make_engine as make_engine
from syncline.types import ColumnSpec, TypeOptions, to_db

KEY_BATCH = 1_000
#: seconds a run waits for a lock another session holds (``--lock-timeout``)
LOCK_TIMEOUT = 30.0


def _placeholder(paramstyle: str) -> str:
    return "?" if paramstyle == "qmark" else "%s"


class SqlTarget:
    """A SQL database that importers write to."""

    def __init__(self, url: str | sa.Engine) -> None:
        self._owns_engine = not isinstance(url, sa.Engine)
        self.engine = make_engine(url)
        self.name = mask_url(self.engine.url)
        #: what this database does differently from the others
        self.dialect = dialect_for(self.engine.dialect.name)

    @property
    def capabilities(self) -> Dialect:
        """The dialect, by the name engine.py asks it by."""
        return self.dialect

    def close(self) -> None:
        """Close the connection pool, if this target made it."""
        if self._owns_engine:
            self.engine.dispose()

    def require_database(self, *, create: bool = False, dry_run: bool = False) -> None:
        """Refuse a database file that does not exist (SQLite), before anything opens it
        (connecting would create an empty database: a mistyped path must not look like an
        empty target). ``create`` (``--create-table``) allows it: creating is the point —
        but a dry run of it plans against an empty in-memory database instead, so that it
        creates no file."""
        path = self.dialect.database_file(self.engine.url)
        if path is None or path.exists():
            return
        if create and dry_run and self.dialect.in_memory_url is not None:
            if self._owns_engine:
                self.engine.dispose()
            self.engine = make_engine(self.dialect.in_memory_url)
            self._owns_engine = True
            return
        if create:
            return
        raise ConfigError(
            f"the {self.dialect.file_kind} {path} does not exist (a mistyped path?); nothing"
            " was created. Pass --create-table to create the database and its table",
            file=str(path))

    def session(self, lock_timeout: float = LOCK_TIMEOUT) -> TargetSession:
        try:
            conn = self.engine.connect()
            if self.dialect.isolation_level is not None:
                conn.execution_options(isolation_level=self.dialect.isolation_level)
        except sa.exc.DBAPIError as exc:
            raise translate(exc, f"cannot connect to {self.name}") from exc
        try:
            return TargetSession(self, conn, lock_timeout)
        except sa.exc.DBAPIError as exc:
            conn.close()
            raise translate(exc, f"cannot begin a transaction on {self.name}") from exc


class TargetSession:
    """One connection and one transaction to a SQL target."""

    def __init__(self, target: SqlTarget, conn: sa.Connection,
                 lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.target = target
        self.conn = conn
        #: what this database does differently, with what it learns about this connection
        self.dialect = target.dialect.for_session(conn.dialect.name)
        self._tables: dict[str, sa.Table] = {}
        self._metadata = sa.MetaData()
        #: tables a dry run with --create-table pretends exist (empty)
        self._assumed: dict[str, dict[str, ColumnSpec]] = {}
        #: temporary tables made by this session (stages), dropped when it closes
        self.temporary: list[str] = []
        #: seconds any lock wait of the run may last (``--lock-timeout``)
        self.lock_timeout = lock_timeout
        #: tables --create-table made that DDL committed at once: dropped if the run fails
        self.created: list[sa.Table] = []
        self.committed = False
        #: target table -> model of the run's importers, to name models in errors
        self.models: dict[str, str] = {}
        #: tables this run deleted rows from
        self.deleted_from: set[str] = set()
        dialect = self.dialect
        for statement in dialect.connect_setup:
            conn.exec_driver_sql(statement)
        dialect.before_begin(conn)
        if conn.in_transaction():
            conn.commit()  # ends SQLAlchemy's autobegin; the driver opened no transaction
        self.transaction = conn.begin()
        for statement in dialect.begin:
            conn.exec_driver_sql(statement)
        for statement in dialect.lock_timeout:
            conn.exec_driver_sql(statement.format(seconds=max(1, math.ceil(lock_timeout)),
                                                  ms=max(1, round(lock_timeout * 1000))))
        for statement in dialect.session_setup:
            conn.exec_driver_sql(statement)
        if dialect.checks_warnings:
            sa.event.listen(conn, "after_cursor_execute", self._check_warnings)

    def _check_warnings(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.dialect.check_warnings(cursor, statement)

    # -- schema -------------------------------------------------------------
    def has_table(self, name: str) -> bool:
        return name in self._tables or sa.inspect(self.conn).has_table(name)

    def is_assumed(self, name: str) -> bool:
        return name in self._assumed

    def assume_table(self, name: str, specs: Sequence[ColumnSpec]) -> None:
        """Treat a missing table as existing and empty (a dry run of --create-table)."""
        self._assumed[name] = {s.name: s for s in specs}

    def table(self, name: str) -> sa.Table:
        found = self._tables.get(name)
        if found is None:
            if not self.has_table(name):
                raise ConfigError(
                    f"table {name!r} does not exist in {self.target.name}"
                    " (create it first, or use `syncline sync --create-table`)"
                )
            found = sa.Table(name, self._metadata, autoload_with=self.conn)
            self._tables[name] = found
        return found

    def create_table(self, name: str, specs: Sequence[ColumnSpec], key: Sequence[str]) -> None:
        columns = [
            sa.Column(s.name, s.sql_type, primary_key=s.name in key, nullable=s.name not in key)
            for s in specs
        ]
        table = sa.Table(name, self._metadata, *columns)
        table.create(self.conn)  # SQLite: inside the run's transaction (Dialect.begin)
        if self.dialect.implicit_commit_ddl:
            self.created.append(table)
        # used as the database made it (types it renamed, lengths it chose): reflected
        self._metadata.remove(table)
        self._tables.pop(name, None)
        self.table(name)

    def required_columns(self, name: str) -> list[str]:
        """Columns an insert must give: NOT NULL, no default, not generated."""
        if name in self._assumed:
            return []
        return [
            c.name for c in self.table(name).columns
            if not c.nullable and c.server_default is None and c.default is None
            and not (c.primary_key and isinstance(c.type, sa.Integer) and c.autoincrement in
                     (True, "auto") and len(self.table(name).primary_key.columns) == 1)
        ]

    def columns(self, name: str) -> dict[str, ColumnSpec]:
        if name in self._assumed:
            return dict(self._assumed[name])
        table = self.table(name)
        specs = {c.name: self.dialect.column_spec(c) for c in table.columns}
        for column, charset in self.dialect.column_charsets(self, name):
            if column in specs and charset:
                specs[column] = dataclasses.replace(specs[column], charset=charset)
        return specs

    # -- reading ------------------------------------------------------------
    def read(
        self, name: str, fields: Sequence[str], keys: Sequence[Key] | None = None,
        key_fields: Sequence[str] = (), key_to_db: Sequence[Callable[[Any], Any]] = (),
    ) -> Iterator[list[tuple[Any, ...]]]:
        """The target's records in batches, values in ``fields`` order."""
        if name in self._assumed:
            return
        table = self.table(name)
        query = sa.select(*(table.c[f] for f in fields))
        if keys is None:
            yield from self.fetch(query)
            return
        it = iter(keys)
        while chunk := list(islice(it, KEY_BATCH)):
            db_keys = [tuple(conv(v) for conv, v in zip(key_to_db, k, strict=True)) for k in chunk]
            yield from self.fetch(query.where(key_in(table, key_fields, db_keys)))

    def fetch(self, query: sa.Select[Any]) -> Generator[list[tuple[Any, ...]], None, None]:
        """Rows straight from the driver's cursor (server-side where the driver has one).

        SQLAlchemy's row objects and result processors cost more than the rest of the read;
        the type normalizers take the driver's own values instead.
        """
        compiled = query.compile(dialect=self.conn.dialect,
                                 compile_kwargs={"render_postcompile": True})
        params = compiled.construct_params()
        args: Any = ([params[name] for name in compiled.positiontup or ()]
                     if compiled.positional else params)
        try:
            cursor = self.dialect.open_cursor(self.conn.connection.driver_connection)
            try:
                cursor.execute(str(compiled), args)
                while rows := cursor.fetchmany(BATCH):
                    yield rows
            finally:
                cursor.close()
        except self.conn.dialect.loaded_dbapi.Error as exc:
            raise translate(exc, f"cannot read from {self.target.name}",
                            conn=self.conn) from exc

    def executemany_load(self, table: sa.Table, columns: Sequence[str],
                         rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows of driver values into a (staging) table through the DBAPI's executemany
        (multi-row on PyMySQL): the dialect's bulk load where it has no faster one."""
        quote = self.conn.dialect.identifier_preparer
        marks = ", ".join([_placeholder(self.conn.dialect.paramstyle)] * len(columns))
        sql = (f"INSERT INTO {quote.format_table(table)}"
               f" ({', '.join(quote.quote(c) for c in columns)}) VALUES ({marks})")
        cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if not self.dialect.checks_warnings:
                cursor.executemany(sql, rows)
            else:  # warnings are per statement: check every batch the driver sends
                for start in range(0, len(rows), KEY_BATCH):
                    cursor.executemany(sql, rows[start:start + KEY_BATCH])
                    self.dialect.check_warnings(cursor, sql)
        except self.conn.dialect.loaded_dbapi.Error as exc:
            raise translate(exc, "staging rows", conn=self.conn) from exc
        finally:
            cursor.close()

    # -- writing: the one place that changes the target ---------------------
    @contextmanager
    def translating(self, doing: str, **where: Any) -> Iterator[None]:
        """Driver errors (through SQLAlchemy or straight from a DBAPI cursor) and count
        mismatches inside the block become syncline errors naming what was being done."""
        try:
            yield
        except sa.exc.DBAPIError as exc:
            raise translate(exc, doing, conn=self.conn, **where) from exc
        except self.conn.dialect.loaded_dbapi.Error as exc:
            raise translate(exc, doing, conn=self.conn, **where) from exc
        except staging.CountMismatch as exc:
            raise count_mismatch(exc, doing, **where) from exc

    def apply_upserts(self, name: str, changes: ChangeSet, specs: dict[str, ColumnSpec],
                      options: TypeOptions, *, stage: staging.Stage | None = None,
                      skip: bool = False) -> list[RefusedRow]:
        """Creates, then updates, of one change set. Every statement must change exactly the
        counted rows; where the isolation level alone would not stop another session's write
        from being overwritten, the values read are compared too (compare-and-set).

        Rows the database refuses (a constraint, a value out of range) are found and named
        (:mod:`~syncline.targets.pinpoint`): a :class:`RowErrors` lists them, or with
        ``skip`` they are left out of ``changes`` and returned. With ``stage`` (the
        in-database engine's), the changes are applied from it in SQL; else from the
        change set's lists."""
        table = self.table(name)
        fields = changes.fields
        counts = changes.counts()
        refused: list[RefusedRow] = []
        with self.translating(f"cannot write to table {name}", model=changes.model):
            if stage is not None:
                # in-database engine: the same changes, applied from the stage in SQL
                if counts["created"]:
                    refused += self._staged_in_parts(changes, stage, "c", counts["created"],
                                                     staging.apply_creates, skip)
                if counts["updated"]:
                    refused += self._staged_in_parts(changes, stage, "u", counts["updated"],
                                                     staging.apply_updates, skip)
                if counts["created"] and self.dialect.manual_sequences:
                    self.dialect.advance_sequences(self.conn, table, fields)
            else:
                refused += self._apply_listed(table, changes, specs, options, skip)
        unique = [r for r in refused if r.unique]
        if unique and not self._any_key_there(table, changes.key, [r.key for r in unique]):
            for row in unique:
                not_the_key(row)
        if refused and all(r.unique for r in refused):
            first = refused[0]
            raise TransientTargetError(
                f"cannot write to table {name}: {len(refused)} key(s) this run counted as new"
                f" are already there (first: {format_key(first.key)}, row {first.row}):"
                " another session inserted them after the run read the table; nothing was"
                " written (transient: a retry may succeed)", model=changes.model)
        if refused and (not skip or any(r.unique for r in refused)):
            raise refused_rows(name, refused)
        return refused

    def _any_key_there(self, table: sa.Table, key: Sequence[str],
                       keys: Sequence[Any]) -> bool:
        """Whether the target holds one of ``keys`` now: a create refused as a duplicate
        whose key is there raced another session's insert (transient); one whose key is
        not there broke another unique column (a refusal of that row, permanent)."""
        found = [k for k in keys if isinstance(k, tuple) and len(k) == len(key)]
        if len(found) != len(keys):
            return True  # a key not known as a tuple: the race, as before
        columns = [table.c[k] for k in key]
        where = (columns[0].in_([k[0] for k in found]) if len(columns) == 1
                 else sa.tuple_(*columns).in_(found))
        query = sa.select(sa.func.count()).select_from(table).where(where)
        try:
            if self.dialect.name == "sqlite":
                # one writer at a time: no other session can have inserted since the read,
                # and another connection could wait on this one's write lock
                return self.conn.execute(query).scalar_one() > 0
            # a connection of its own: the run's snapshot (REPEATABLE READ) does not show
            # another session's insert, which is exactly what is looked for
            with self.target.engine.connect() as other:
                return other.execute(query).scalar_one() > 0
        except sa.exc.DBAPIError:
            return True

    def _apply_listed(self, table: sa.Table, changes: ChangeSet, specs: dict[str, ColumnSpec],
                      options: TypeOptions, skip: bool) -> list[RefusedRow]:
        """The in-memory engine's creates and updates, in executemany batches."""
        fields = changes.fields
        refused: list[RefusedRow] = []
        converters = [to_db(specs[f], options) for f in fields]
        if changes.creates:
            insert = table.insert()
            extra, initial = changes.initial_fields, changes.initial  # init_record's

            def insert_part(part: Sequence[Create]) -> None:
                for chunk in _chunks(part, BATCH):
                    self.conn.execute(insert, [
                        {**{f: conv(v) for f, conv, v in zip(fields, converters, c.values,
                                                               strict=True)},
                         **(dict(zip(extra, initial[c.key], strict=True)) if extra else {})}
                        for c in chunk])

            changes.creates = _in_key_order(changes.creates)
            refused += self._listed_in_parts(changes, changes.creates, insert_part, skip)
            if self.dialect.manual_sequences:
                self.dialect.advance_sequences(self.conn, table, fields)
        if changes.updates:
            refused += self._listed_in_parts(
                changes, changes.updates,
                lambda part: self._apply_updates(table, changes, part, specs, options), skip)
        return refused

    def _staged_in_parts(self, changes: ChangeSet, stage: staging.Stage, op: str, count: int,
                         write: Callable[..., None], skip: bool) -> list[RefusedRow]:
        numbers: list[int] = []

        def attempt(lo: int, hi: int) -> None:
            if (lo, hi) == (0, count):
                write(self, stage, count)
                return
            if not numbers:
                numbers.extend(staging.row_numbers(self, stage, op))
            write(self, stage, hi - lo, (numbers[lo], numbers[hi - 1]))

        refusals = apply_in_parts(self.conn, count, attempt,
                                  stop_after=None if skip else ERRORS_KEPT)
        if not refusals:
            return []
        if not numbers:  # a single row, refused at the first attempt
            numbers.extend(staging.row_numbers(self, stage, op))
        rows = [numbers[i] for i, _ in refusals]
        staged = staging.values_of_rows(self, stage, rows)
        key_index = [changes.fields.index(k) for k in changes.key]
        errors = []
        for (_, exc), row in zip(refusals, rows, strict=True):
            values = staged.get(row, ())
            key = tuple(values[i] for i in key_index) if values else None
            errors.append(refused_row(exc, values, model=changes.model, row=row, key=key))
        staging.drop_refused(self, stage, rows)
        _forget(changes, op, set(rows))
        return errors

    def _listed_in_parts(self, changes: ChangeSet, items: Sequence[Create | Update],
                         apply_part: Callable[[Sequence[Any]], None], skip: bool
                         ) -> list[RefusedRow]:
        refusals = apply_in_parts(self.conn, len(items),
                                  lambda lo, hi: apply_part(items[lo:hi]),
                                  stop_after=None if skip else ERRORS_KEPT)
        if not refusals:
            return []
        errors = [refused_row(exc, _values_of(items[i]), model=changes.model, row=items[i].row,
                              key=items[i].key) for i, exc in refusals]
        gone = {i for i, _ in refusals}
        kept = [item for i, item in enumerate(items) if i not in gone]
        if isinstance(items[0], Create):
            changes.creates = kept  # type: ignore[assignment]
            changes.created = len(kept)
        else:
            changes.updates = kept  # type: ignore[assignment]
            changes.updated = len(kept)
        return errors

    def _compare_old(self, table: sa.Table, fields: Sequence[str], prefix: str,
                     ) -> list[sa.ColumnElement[bool]]:
        compare = self.dialect.comparable
        return [compare(table.c[f]).is_not_distinct_from(
                    compare(sa.bindparam(f"{prefix}{i}", type_=table.c[f].type)))
                for i, f in enumerate(fields)]

    def _apply_updates(self, table: sa.Table, changes: ChangeSet, updates: Sequence[Update],
                       specs: dict[str, ColumnSpec], options: TypeOptions) -> None:
        index = {f: i for i, f in enumerate(changes.fields)}
        key_binds = {k: f"k_{i}" for i, k in enumerate(changes.key)}
        groups: dict[tuple[str, ...], list[Any]] = {}
        for u in updates:
            groups.setdefault(u.changed, []).append(u)
        conv = {f: to_db(specs[f], options) for f in changes.fields}
        check_old = self.dialect.compare_and_set
        for changed, group in groups.items():
            value_binds = {f: f"v_{i}" for i, f in enumerate(changed)}
            statement = (
                table.update()
                .where(*(table.c[k] == sa.bindparam(b) for k, b in key_binds.items()),
                       *(self._compare_old(table, changed, "o_") if check_old else ()))
                .values({f: sa.bindparam(b) for f, b in value_binds.items()})
            )
            for chunk in _chunks(group, BATCH):
                params = []
                for u in chunk:
                    read = u.as_read  # the row as read: its key, and what it must still hold
                    p = {b: conv[k](read[index[k]]) for k, b in key_binds.items()}
                    p.update({b: conv[f](u.new_values[index[f]]) for f, b in value_binds.items()})
                    if check_old:
                        p.update({f"o_{i}": conv[f](read[index[f]])
                                  for i, f in enumerate(changed)})
                    params.append(p)
                staging.execute_counted(self, "update", len(chunk), statement, params)

    def apply_deletes(self, name: str, changes: ChangeSet, specs: dict[str, ColumnSpec],
                      options: TypeOptions, *, stage: staging.Stage | None = None) -> None:
        """The deletes of one change set (from ``stage`` when the engine staged them)."""
        deleted = changes.deleted
        if not deleted:
            return
        self.deleted_from.add(name)
        with self.translating(f"cannot delete from table {name}", model=changes.model):
            try:
                with self.conn.begin_nested():  # a refusal leaves the rows to name it by
                    self._apply_deletes(name, changes, specs, options, deleted, stage)
            except sa.exc.DBAPIError as exc:
                if not is_foreign_key_error(exc):
                    raise
                raise orphaning_delete(self, name, changes, specs, options, exc,
                                       stage) from exc

    def _apply_deletes(self, name: str, changes: ChangeSet, specs: dict[str, ColumnSpec],
                       options: TypeOptions, deleted: int, stage: staging.Stage | None
                       ) -> None:
        if stage is not None:
            staging.apply_deletes(self, stage, deleted)
            return
        table = self.table(name)
        conv = [to_db(specs[f], options) for f in changes.fields]
        if self.dialect.compare_and_set:
            # one row by its key and every value read: never a row changed since, nor
            # one that merely compares equal under the column's collation
            statement = table.delete().where(
                *(table.c[k] == sa.bindparam(f"o_{changes.fields.index(k)}_key")
                  for k in changes.key),
                *self._compare_old(table, changes.fields, "o_"))
            for chunk in _chunks(changes.deletes, KEY_BATCH):
                params = []
                for d in chunk:
                    p = {f"o_{i}": c(v) for i, (c, v) in
                         enumerate(zip(conv, d.as_read, strict=True))}
                    p.update({f"{b}_key": p[b] for b in list(p)
                              if changes.fields[int(b[2:])] in changes.key})
                    params.append(p)
                staging.execute_counted(self, "delete", len(chunk), statement, params)
            return
        index = [changes.fields.index(k) for k in changes.key]
        key_conv = [conv[i] for i in index]
        for chunk in _chunks(changes.deletes, KEY_BATCH):
            keys = [tuple(c(d.as_read[i]) for c, i in zip(key_conv, index, strict=True))
                    for d in chunk]
            staging.execute_counted(self, "delete", len(chunk),
                                    table.delete().where(key_in(table, changes.key, keys)))

    # -- ending -------------------------------------------------------------
    def commit(self) -> None:
        try:
            for statement in self.dialect.before_commit:
                self.conn.exec_driver_sql(statement)
            self.transaction.commit()
        except sa.exc.DBAPIError as exc:
            if is_foreign_key_error(exc):
                raise deferred_violation(self, exc) from exc
            raise translate(exc, f"commit failed on {self.target.name}") from exc
        self.committed = True

    def rollback(self) -> None:
        if self.transaction.is_active:
            self.transaction.rollback()

    def close(self) -> None:
        try:
            self.rollback()
            if self.conn.in_transaction():  # a failed commit leaves one begun
                self.conn.rollback()
            self._drop_temporary()
            if not self.committed:
                self._drop_created()
            self._teardown()
            if not self.conn.invalidated:
                self.dialect.after_end(self.conn)
        finally:
            self.conn.close()

    def scratch_table(self, columns: Sequence[sa.Column[Any]]) -> sa.Table:
        """A new temporary table of this session (a name no other table has), dropped
        when the session ends."""
        table = sa.Table(f"syncline_scratch_{secrets.token_hex(6)}", sa.MetaData(), *columns,
                         prefixes=["TEMPORARY"])
        table.create(self.conn)
        self.temporary.append(table.name)
        return table

    def drop_temporary(self, name: str) -> None:
        """Drop one of this session's temporary tables by its temporary-schema name."""
        quote = self.conn.dialect.identifier_preparer
        self.conn.exec_driver_sql(self.dialect.drop_temporary_table.format(quote.quote(name)))

    def _drop_created(self) -> None:
        """Drop the tables this failed run created where DDL commits at once (MariaDB):
        the run was one transaction, so it leaves nothing — unless someone else has
        written rows to the new table meanwhile, which are never dropped."""
        if not self.created or self.conn.invalidated:
            return
        for table in self.created:
            try:
                with self.conn.begin():
                    if self.conn.execute(sa.select(sa.literal(1)).select_from(table)
                                         .limit(1)).first() is None:
                        table.drop(self.conn)
            except sa.exc.SQLAlchemyError:
                pass  # the run's own error is the one to report

    def _teardown(self) -> None:
        dialect = self.dialect
        if dialect.checks_warnings:
            sa.event.remove(self.conn, "after_cursor_execute", self._check_warnings)
        if not dialect.session_teardown or self.conn.invalidated:
            return
        try:
            for statement in dialect.session_teardown:
                self.conn.exec_driver_sql(statement)
            if self.conn.in_transaction():
                self.conn.commit()
        except sa.exc.SQLAlchemyError:
            self.conn.invalidate()  # a new connection starts with the server's settings

    def _drop_temporary(self) -> None:
        """A pooled connection must not carry a run's stages into the next run."""
        if not self.temporary or self.conn.invalidated:
            return
        try:
            with self.conn.begin():
                for name in self.temporary:
                    self.drop_temporary(name)
        except sa.exc.SQLAlchemyError:
            self.conn.invalidate()  # closing the connection drops them as well


def key_in(table: sa.Table, key_fields: Sequence[str], keys: Sequence[tuple[Any, ...]]
           ) -> sa.ColumnElement[bool]:
    """``key IN (...)`` for one or several key columns."""
    if len(key_fields) == 1:
        return table.c[key_fields[0]].in_([k[0] for k in keys])
    return sa.tuple_(*(table.c[k] for k in key_fields)).in_(keys)


def _values_of(change: Create | Update) -> tuple[Any, ...]:
    return change.values if isinstance(change, Create) else change.new_values


def _forget(changes: ChangeSet, op: str, rows: set[int]) -> None:
    """Refused rows are not changes of this run: counts and lists leave them out."""
    if op == "c":
        changes.creates = [c for c in changes.creates if c.row not in rows]
    else:
        changes.updates = [u for u in changes.updates if u.row not in rows]
    if op == "c":
        changes.created -= len(rows)
    else:
        changes.updated -= len(rows)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _in_key_order(creates: list[Any]) -> list[Any]:
    """Creates sorted by key (much cheaper for a B-tree), unless keys don't sort."""
    try:
        return sorted(creates, key=lambda change: change.key)
    except TypeError:
        return creates
