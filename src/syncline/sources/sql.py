"""A SQL table or query as a source, read with SQLAlchemy Core in large streamed batches.

A query (``--source-query``) is the user's SQL, run exactly as written: it is handed to the
driver without parameters, so neither SQLAlchemy (``:name``) nor the driver (``%s``) reads
placeholders into its string literals or names.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from syncline.errors import ConfigError, HeaderError, SourceError, TransientSourceError
from syncline.masking import mask_url
from syncline.sources.base import BATCH, Batch, SourceColumn
from syncline.targets.codes import classify
from syncline.targets.sql import make_engine


class SqlSource:
    """Rows of a table (``table=``) or of a query (``query=``) in a database."""

    #: values are typed: text is copied exactly (see TypeOptions.strip_text)
    typed = True

    def __init__(self, url: str | sa.Engine, *, table: str | None = None,
                 query: str | None = None, batch_size: int = BATCH) -> None:
        if (table is None) == (query is None):
            raise ConfigError("a SQL source needs exactly one of --source-table or --source-query")
        self._owns_engine = not isinstance(url, sa.Engine)
        self.engine = make_engine(url)
        self.table_name = table
        self.query = query
        self.batch_size = batch_size
        where = mask_url(self.engine.url)
        self.name = f"table {table} in {where}" if table else f"query in {where}"
        self._columns: list[SourceColumn] | None = None
        self._table: sa.Table | None = None
        #: read only the rows whose key is one of these (:meth:`only`)
        self._only: tuple[tuple[str, ...], list[tuple[Any, ...]]] | None = None

    def only(self, key: Sequence[str], keys: Sequence[tuple[Any, ...]]) -> SqlSource:
        """This table's rows whose ``key`` columns hold one of ``keys``, and no other (the
        datasync reads just the changed records); shares this source's connection pool.
        A query is the user's SQL, run as written: it cannot be narrowed (ConfigError)."""
        if self.table_name is None:
            raise ConfigError(f"{self.name} is a query: it cannot be read for given keys only")
        narrowed = copy.copy(self)
        narrowed._owns_engine = False
        narrowed._only = (tuple(key), [tuple(k) for k in keys])
        return narrowed

    def close(self) -> None:
        """Close the connection pool, if this source made it."""
        if self._owns_engine:
            self.engine.dispose()

    def _selectable(self, conn: sa.Connection) -> sa.Table:
        assert self.table_name is not None
        if self._table is None:
            try:
                self._table = sa.Table(self.table_name, sa.MetaData(), autoload_with=conn)
            except sa.exc.NoSuchTableError as exc:
                raise ConfigError(f"source table {self.table_name!r} does not exist"
                                  f" in {mask_url(self.engine.url)}") from exc
        return self._table

    def _run_query(self, conn: sa.Connection, *, probe: bool = False, **options: Any
                   ) -> sa.CursorResult[Any]:
        """The user's query, as written (no ``:name`` nor ``%s`` placeholders); ``probe``:
        wrapped so that it yields its columns and no row (nothing is evaluated per row)."""
        assert self.query is not None
        text = self.query
        if probe:
            # on lines of their own: a query may end in a -- comment
            text = f"SELECT * FROM (\n{text.strip().rstrip(';')}\n) AS syncline_probe LIMIT 0"
        return conn.execution_options(no_parameters=True, **options).exec_driver_sql(text)

    def columns(self) -> list[SourceColumn]:
        if self._columns is None:
            try:
                with self.engine.connect() as conn:
                    if self.table_name is not None:
                        table = self._selectable(conn)
                        self._columns = [SourceColumn(c.name, c.type) for c in table.columns]
                    else:
                        # the names only: no row is read and the query is not run
                        # whole (a PostgreSQL client cursor would buffer every row)
                        assert self.query is not None
                        result = self._run_query(conn, probe=True)
                        keys = list(result.keys())
                        result.close()
                        self._columns = [SourceColumn(k) for k in keys]
            except sa.exc.DBAPIError as exc:
                raise source_error(exc, f"cannot read {self.name}") from exc
        return self._columns

    def read(self, fields: Sequence[str]) -> Iterator[Batch]:
        offered = {c.name for c in self.columns()}
        missing = [f for f in fields if f not in offered]
        if missing:
            raise HeaderError(f"{self.name} has no column {', '.join(missing)}")
        row = 0
        try:
            with self.engine.connect() as conn:
                if self.table_name is not None:
                    table = self._selectable(conn)
                    query = sa.select(*(_as_read(table.c[f]) for f in fields))
                    if self._only is not None:
                        query = query.where(_key_in(table, *self._only))
                    result = conn.execution_options(
                        stream_results=True, yield_per=self.batch_size).execute(query)
                    pick = None
                else:
                    result = self._run_query(conn, stream_results=True,
                                             yield_per=self.batch_size)
                    names = list(result.keys())
                    pick = [names.index(f) for f in fields]
                for part in result.partitions():
                    batch: Batch = []
                    for values in part:
                        row += 1
                        batch.append((row, tuple(values) if pick is None
                                       else tuple(values[i] for i in pick)))
                    yield batch
        except sa.exc.DBAPIError as exc:
            raise source_error(exc, f"reading {self.name} failed after {row} rows",
                               "nothing was written") from exc


def _key_in(table: sa.Table, key: tuple[str, ...], keys: list[tuple[Any, ...]]
            ) -> sa.ColumnElement[bool]:
    """``key IN (keys)``; false for no keys."""
    if not keys:
        return sa.false()
    try:
        columns = [table.c[name] for name in key]
    except KeyError as exc:
        raise ConfigError(f"source table {table.name!r} has no key column {exc.args[0]!r}"
                          ) from None
    typed = [tuple(in_type(c, v) for c, v in zip(columns, k, strict=False)) for k in keys]
    if len(columns) == 1:
        return columns[0].in_([k[0] for k in typed])
    return sa.tuple_(*columns).in_(typed)


def in_type(column: sa.ColumnElement[Any], value: Any) -> Any:
    """A value that went through JSON (a key in the datasync's queue, a polling position)
    back in ``column``'s Python type: a date or a time is text there, a decimal may be a
    ``Decimal`` or text. Else ``WHERE k IN (...)`` compares a DATE with a VARCHAR, or a
    NUMERIC(38,20) with a float that rounded it. Other values are left as they are."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return value
    if isinstance(value, str) and python_type in (datetime, date, time):
        return python_type.fromisoformat(value)
    if isinstance(value, str | Decimal) and python_type is Decimal:
        return Decimal(str(value))
    if isinstance(value, str | Decimal) and python_type is float:
        return float(value)
    return value


def source_error(exc: sa.exc.DBAPIError, doing: str, outcome: str = "") -> SourceError:
    """A driver error of the source database, classified by its code exactly like the
    target's (:func:`~syncline.targets.codes.classify`): a lost connection, a server that
    is down or starting up... are transient."""
    failure = classify(exc)
    if failure.transient:
        outcome = "; ".join(filter(None, (outcome, "transient: a retry may succeed")))
    detail = failure.describe(f" ({outcome})" if outcome else "", full=True)
    error = TransientSourceError if failure.transient else SourceError
    return error(f"{doing}: {detail}", code=failure.code)


def _as_read(column: Any) -> Any:
    """JSON is read as its text: a driver hands a JSON string back as a bare str, which
    could not be told from JSON text (``"a"`` would become ``a``)."""
    if isinstance(column.type, sa.JSON):
        return sa.cast(column, sa.Text).label(column.name)
    return column
