"""Column types for a table that --create-table makes: from a SQL source's own types, or
inferred from a sample of a file's values (:mod:`syncline.inference`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from syncline.inference import infer_spec
from syncline.sources.base import Source
from syncline.sources.replay import ReplaySource
from syncline.spec import ColumnSpec
from syncline.targets.dialect import Dialect
from syncline.targets.registry import dialect_of_type

#: rows read to infer column types for --create-table from a file
SAMPLE_ROWS = 10_000


def specs_from_source(source: Source, target: Dialect, key: Sequence[str] = ()
                      ) -> list[ColumnSpec]:
    """Column types for a new table of the ``target`` database: types that hold every
    value of the SQL source's own types, or inferred from a sample. Raises a ConfigError
    naming the column when the target has no such type — before anything is created."""
    columns = source.columns()
    if all(c.sql_type is not None for c in columns):
        return [_faithful(c.name, c.sql_type, target, key) for c in columns]
    names = [c.name for c in columns]
    # read ahead and kept: the run replays it (a generator can be read only once)
    replay = source if isinstance(source, ReplaySource) else ReplaySource(source)
    sample = [values for _, values in replay.head(SAMPLE_ROWS)]
    inferred = [infer_spec(name, [str(v) for v in (row[i] for row in sample) if v is not None],
                           least_precision=target.least_decimal_precision)
                for i, name in enumerate(names)]
    return [_faithful(s.name, s.sql_type, target, key) for s in inferred]


def _faithful(name: str, sql_type: Any, target: Dialect, key: Sequence[str]) -> ColumnSpec:
    created = target.faithful_type(name, sql_type, dialect_of_type(sql_type), key=name in key)
    return target.column_spec(sa.Column(name, created))
