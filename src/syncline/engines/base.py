"""The diff-engine interface, and which engine a run of a model uses.

An engine computes a change set for a plan (:meth:`DiffEngine.compute`) and applies it
(:meth:`DiffEngine.apply`, then — children first, after every model's creates and updates —
:meth:`DiffEngine.apply_deletes`). Two implementations: in memory
(:mod:`syncline.engines.memory`) and in the database (:mod:`syncline.engines.database`).
They must agree on counts, changes, errors and the final table (the rules of
docs/engines.md, checked by ``tests/test_engine_equivalence.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

import sqlalchemy as sa

from syncline.engines.database import DatabaseEngine
from syncline.engines.memory import MemoryEngine
from syncline.engines.plan import Computed, Plan
from syncline.engines.planning import refuse_database_engine
from syncline.errors import RefusedRow
from syncline.lifecycle import RowResult
from syncline.options import RunOptions
from syncline.targets.sql import TargetSession


class DiffEngine(Protocol):
    """Computes and applies the change set of one model in one run."""

    #: "memory" or "database": what ``--engine`` calls it
    name: str

    def compute(self, plan: Plan, session: TargetSession, options: RunOptions,
                progress: Callable[[int], None] | None = None) -> Computed:
        """The change set and row errors of ``plan``; nothing is written to the target
        table (a temporary stage may be)."""
        ...

    def apply(self, plan: Plan, session: TargetSession, computed: Computed,
              options: RunOptions) -> list[RefusedRow]:
        """Write the creates and updates; the rows the target refused, under
        ``--on-error=skip`` (else they raise)."""
        ...

    def apply_deletes(self, plan: Plan, session: TargetSession, computed: Computed,
                      options: RunOptions) -> None:
        """Write the deletes (exactly as many as counted, or raise)."""
        ...

    def changed(self, plan: Plan, session: TargetSession, computed: Computed,
                ops: tuple[str, ...]) -> sa.Select[tuple[object, ...]]:
        """The records this run changes with one of ``ops`` (``c``, ``u``, ``d``), as the
        target table names them: the importer's key columns (the new key of a create or
        update, the old key of a delete), then the operation letter. Versions are written
        from it (:mod:`syncline.versions.writer`)."""
        ...

    def row_results(self, plan: Plan, session: TargetSession,
                    computed: Computed) -> Iterator[RowResult] | None:
        """After the writes: each row's outcome where the engine streams it from the target
        (creates, updates, deletes, then the skipped rows), bounded by a batch; None where
        the change set's lists hold them (``ModelResult.rows``)."""
        ...

    def close(self) -> None:
        """Release what the engine holds."""
        ...


def choose_engine(plan: Plan, session: TargetSession, options: RunOptions) -> DiffEngine:
    """In the database for SQL targets; in memory where Python must see every target row
    (a ``normalize_target`` or ``skip_row`` hook, keys mode) or there is no table yet (the
    dry run of ``--create-table``). ``--engine`` chooses, where the plan allows it."""
    if session.is_assumed(plan.importer.table):
        return MemoryEngine()  # a dry run of --create-table: no table to stage against
    if options.engine != "auto":
        refuse_database_engine(plan.importer, options)
        return MemoryEngine() if options.engine == "memory" else DatabaseEngine()
    if plan.importer.has_target_hook or plan.importer.has_skip_hook or options.keys is not None:
        return MemoryEngine()
    return DatabaseEngine()
