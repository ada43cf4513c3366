"""The in-memory diff engine: Python sees every source and target record.

The source is held as one entry per key (valid rows only, read through
:mod:`syncline.engines.reading`) and the target is streamed through the pure
:func:`~syncline.diff.diff`. Used where Python must see every target row: a
``normalize_target`` hook, keys mode, and the dry run of ``--create-table`` (no table to
stage against). Applied from the change set's lists, in executemany batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from syncline.diff import ChangeSet, Key, Values, diff
from syncline.engines.plan import Computed, Plan
from syncline.engines.reading import (
    Defaults,
    duplicate_error,
    duplicate_warning,
    protected_batches,
    shape_target,
    validated_batches,
)
from syncline.errors import KeyProblemError, RefusedRow
from syncline.lifecycle import RowResult, call_hook
from syncline.options import RunOptions
from syncline.sources.base import BATCH
from syncline.targets import staging
from syncline.targets.sql import TargetSession
from syncline.types import target_normalizer, to_db


class MemoryEngine:
    """Diff in Python; apply from the lists (see the module's docstring)."""

    name = "memory"

    def compute(self, plan: Plan, session: TargetSession, options: RunOptions,
                progress: Callable[[int], None] | None = None) -> Computed:
        """Read the source into memory, stream the target past it, and diff."""
        importer = plan.importer
        source_map, computed = read_source(plan, options, progress)
        computed.warnings = plan.warnings + computed.warnings
        if computed.fatal:
            return computed  # refused whatever the options say (docs/engines.md, rule 1)
        keep: set[Key] | None = None
        if plan.keys is not None:
            # only the given keys, as the engines match keys (docs/engines.md, "Keys mode")
            keep = {plan.fold_key(k) for k in plan.keys}
            outside = [k for k in source_map if k not in keep]
            if outside and options.keys_exact:
                raise KeyProblemError(
                    f"{importer.name}: a record read for the given keys has the key"
                    f" {outside[0]!r} after the hooks, which is not one of them: a hook that"
                    " changes the key cannot be applied by key (the datasync applies each"
                    " record by its source key); sync this model whole instead",
                    model=importer.name, key=outside[0])
            source_map = {k: v for k, v in source_map.items() if k in keep}
        target = read_target(plan, session, plan.keys, keep)
        allowed = plan.allowed(options)
        unchanged: list[tuple[Key, int | None]] | None = [] if options.report_skipped else None
        computed.changes = diff(
            importer.name, plan.fields, importer.key, source_map, target,
            create=allowed.create, update=allowed.update, delete=allowed.delete,
            protected={key for batch in protected_batches(plan, computed) for key in batch},
            unchanged=unchanged,
        )
        if importer.has_skip_hook:
            _skip_rows(plan, computed)
        computed.same = unchanged or []
        if importer.has_init_hook and computed.changes.creates:
            defaults = Defaults(plan)
            initial = computed.changes.initial
            for create in computed.changes.creates:
                initial[create.key] = defaults(create.key, create.row)
            computed.changes.initial_fields = defaults.columns
        return computed

    def apply(self, plan: Plan, session: TargetSession, computed: Computed,
              options: RunOptions) -> list[RefusedRow]:
        """Creates, then updates, from the lists; the rows the target refused under
        ``--on-error=skip`` (see :meth:`TargetSession.apply_upserts`)."""
        return session.apply_upserts(plan.importer.table, computed.changes, plan.specs,
                                     options.types, skip=options.on_error == "skip")

    def apply_deletes(self, plan: Plan, session: TargetSession, computed: Computed,
                      options: RunOptions) -> None:
        """The deletes, by key and every value read."""
        session.apply_deletes(plan.importer.table, computed.changes, plan.specs, options.types)

    def changed(self, plan: Plan, session: TargetSession, computed: Computed,
                ops: tuple[str, ...]) -> sa.Select[tuple[object, ...]]:
        """The change set's keys, loaded into a temporary table of the target (see
        :meth:`DiffEngine.changed`)."""
        changes, key = computed.changes, plan.importer.key
        convert = [to_db(plan.specs[k], plan.types) for k in key]
        index = [plan.fields.index(k) for k in key]
        rows: list[tuple[Any, ...]] = []
        if "c" in ops:
            rows += [(*(c(v.values[i]) for c, i in zip(convert, index, strict=True)), "c")
                     for v in changes.creates]
        if "u" in ops:
            rows += [(*(c(v.new_values[i]) for c, i in zip(convert, index, strict=True)), "u")
                     for v in changes.updates]
        if "d" in ops:
            rows += [(*(c(v.as_read[i]) for c, i in zip(convert, index, strict=True)), "d")
                     for v in changes.deletes]
        table = session.scratch_table(
            [sa.Column(k, session.table(plan.importer.table).c[k].type) for k in key]
            + [sa.Column(staging.OP, sa.String(1))])
        for start in range(0, len(rows), BATCH):
            session.conn.execute(table.insert(), [dict(zip(table.c.keys(), row, strict=True))
                                                  for row in rows[start:start + BATCH]])
        return sa.select(table)

    def row_results(self, plan: Plan, session: TargetSession,
                    computed: Computed) -> Iterator[RowResult] | None:
        """None: the change set's lists hold every change (``ModelResult.rows``)."""
        return None

    def close(self) -> None:
        """Nothing held."""


def _skip_rows(plan: Plan, computed: Computed) -> None:
    """``skip_row(old, new)`` on each update: True moves it to unchanged (docs/lifecycle.md)."""
    importer, changes = plan.importer, computed.changes
    kept = []
    for update in changes.updates:
        skip = call_hook(importer.skip_row, "skip_row", update.old, update.new,
                         model=importer.name, row=update.row, key=update.key)
        if skip:
            changes.unchanged += 1
            computed.skips.append(RowResult(importer.name, "skip", update.key, update.row,
                                            reason="skip_row"))
        else:
            kept.append(update)
    changes.updates = kept
    changes.updated = len(kept)


def read_source(plan: Plan, options: RunOptions, progress: Callable[[int], None] | None = None
                ) -> tuple[dict[Key, tuple[int | None, Values]], Computed]:
    """Every valid source record by key, in memory; row errors collected."""
    computed = Computed(ChangeSet(plan.importer.name, plan.fields, plan.importer.key))
    found: dict[Key, tuple[int | None, Values]] = {}
    duplicates: dict[Key, list[int]] = {}
    folding = any(plan.fold_key_parts)
    keep_first = options.on_duplicate == "first"
    for block in validated_batches(plan, options, computed, progress):
        for row, key, values in zip(block.numbers, block.keys(), block.rows(), strict=True):
            if folding:
                key = plan.fold_key(key)
            if key in found:
                earlier = found[key][0]
                duplicates.setdefault(key, [earlier] if earlier is not None else []).append(row)
                if keep_first:
                    continue
            found[key] = (row, values)
    if duplicates and options.on_duplicate == "error":
        error = duplicate_error(plan, list(duplicates.items()))
        computed.error_count += 1
        computed.errors.insert(0, error)
        computed.fatal.append(error)
    elif duplicates:
        computed.warnings.append(duplicate_warning(plan, len(duplicates), options))
    return found, computed


def read_target(plan: Plan, session: TargetSession, keys: Sequence[Key] | None,
                keep: set[Key] | None = None) -> Iterator[tuple[Key, Values, Values | None]]:
    """The target's records as (key, canonical values, the values as read where a
    ``normalize_target`` hook changed them: apply addresses the row by those); with
    ``keys``, only the records whose (folded) key is in ``keep``: the database's
    ``key IN (...)`` may also return keys its collation or implicit casts call equal, and
    those are not the given keys."""
    importer, fields, key_index = plan.importer, plan.fields, plan.key_index
    normalizers = [target_normalizer(plan.specs[f], plan.types) for f in fields]
    key_to_db: list[Callable[[Any], Any]] = [to_db(plan.specs[k], plan.types)
                                             for k in importer.key]
    hooked = importer.has_target_hook
    single = key_index[0] if len(key_index) == 1 else None
    folding = any(plan.fold_key_parts)
    for batch in session.read(importer.table, fields, keys, importer.key, key_to_db):
        columns = [list(map(n, col))
                   for n, col in zip(normalizers, zip(*batch, strict=True), strict=True)]
        rows = list(zip(*columns, strict=True))
        read: list[Values | None] = [None] * len(rows)
        if hooked:
            read = list(rows)
            rows = [shape_target(importer, fields, values,
                                 tuple(values[i] for i in key_index)) for values in rows]
            columns = [list(col) for col in zip(*rows, strict=True)]
        if single is not None:
            keys_of: list[Key] = [(v,) for v in columns[single]]
        else:
            keys_of = list(zip(*(columns[i] for i in key_index), strict=True))
        if folding:
            keys_of = [plan.fold_key(k) for k in keys_of]
        if keep is None:
            yield from zip(keys_of, rows, read, strict=True)
        else:
            yield from ((k, r, o) for k, r, o in zip(keys_of, rows, read, strict=True)
                        if k in keep)
