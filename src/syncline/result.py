"""What a run reports: per model counts, the changes themselves, errors and timing."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from syncline.diff import ChangeSet, Create, Delete, Key, Update
from syncline.errors import SynclineError
from syncline.lifecycle import RowResult

#: how many errors a report lists one by one; the count always covers all of them
ERRORS_SHOWN = 20


def _traceback(error: BaseException) -> str | None:
    """The Python traceback of a row error that has one (a hook's exception is its
    cause); None for errors syncline found in the data itself."""
    cause = error.__cause__
    if cause is None or cause.__traceback__ is None:
        return None
    return "".join(traceback.format_exception(error))


def _same_key(key: Key) -> Key:
    """A key as it is (a model whose keys the target does not fold)."""
    return key


@dataclass
class ModelResult:
    """The outcome of one importer in one run."""

    model: str
    changes: ChangeSet | None = None
    errors: list[SynclineError] = field(default_factory=list)
    error_count: int = 0
    rejected: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: version rows written for this model's table (None: the table is not versioned)
    versions: int | None = None
    #: the diff engine that computed the change set: "memory" or "database"
    engine: str | None = None
    #: rows a hook skipped (``before_row``, ``skip_row``)
    skips: list[RowResult] = field(default_factory=list)
    #: with ``report_skipped``: (key, source row) of each unchanged row, compact
    same: list[tuple[Key, int | None]] = field(default_factory=list)
    #: keys ``for_delete`` flagged (as the target matches them) -> source row
    flagged: dict[Key, int] = field(default_factory=dict)
    #: a key as the target matches it (the keys of ``flagged``)
    fold_key: Callable[[Key], Key] = field(default=_same_key, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the plan's ``fold_key`` (it holds the importer, which may not
        pickle): ``flagged`` is keyed by the deletes' own keys instead."""
        state = dict(self.__dict__)
        if self.flagged and self.changes is not None:
            state["flagged"] = {
                c.key: self.flagged[self.fold_key(c.key)] for c in self.changes
                if isinstance(c, Delete) and self.fold_key(c.key) in self.flagged}
        state["fold_key"] = _same_key
        return state

    def rows(self) -> Iterator[RowResult]:
        """Each row's outcome: the creates (``new``), updates, deletes, the skipped rows,
        then the row errors kept (see :data:`ERRORS_SHOWN`; the rejects file has all).
        The changes are listed where the change set holds them (``collect_changes``)."""
        if self.changes is not None:
            yield from change_rows(self.model, self.changes, self.flagged, self.fold_key)
        yield from self.skip_rows()
        yield from self.error_rows()

    def skip_rows(self) -> Iterator[RowResult]:
        """The rows a hook skipped, then (``report_skipped``) the unchanged ones."""
        yield from self.skips
        model = self.model
        for key, row in self.same:
            yield RowResult(model, "skip", key, row, reason="unchanged")

    def error_rows(self) -> Iterator[RowResult]:
        """The row errors kept (the first 1000; the rejects file has them all)."""
        for error in self.errors:
            if error.row is not None:
                key = error.key if isinstance(error.key, tuple) else (
                    () if error.key is None else (error.key,))
                yield RowResult(self.model, "error", key, error.row, error=str(error),
                                traceback=_traceback(error))

    def _count(self, name: str) -> int:
        return self.changes.counts()[name] if self.changes is not None else 0

    @property
    def created(self) -> int:
        return self._count("created")

    @property
    def updated(self) -> int:
        return self._count("updated")

    @property
    def deleted(self) -> int:
        return self._count("deleted")

    @property
    def unchanged(self) -> int:
        return self._count("unchanged")

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    def as_dict(self, *, changes: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "error_count": max(self.error_count, len(self.errors)),
            "errors": [e.as_dict() for e in self.errors[:ERRORS_SHOWN]],
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 3),
            "versions": self.versions,
            "engine": self.engine,
        }
        if changes and self.changes is not None:
            data["changes"] = [change_as_dict(c) for c in self.changes]
        return data


@dataclass
class Result:
    """The outcome of one run of a handler."""

    dry_run: bool
    models: dict[str, ModelResult] = field(default_factory=dict)
    committed: bool = False
    #: the run began writing to the target (an error after this was rolled back)
    writing: bool = False
    seconds: float = 0.0
    error: SynclineError | None = None
    #: the ``transaction`` row of the versions this run wrote (None: it wrote none)
    transaction_id: int | None = None

    def rows(self, model: str) -> Iterator[RowResult]:
        """Each row's outcome for ``model`` (see :meth:`ModelResult.rows`)."""
        return self.models[model].rows()

    @property
    def total_changes(self) -> int:
        return sum(m.changes.total for m in self.models.values() if m.changes is not None)

    def as_dict(self, *, changes: bool = False) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "committed": self.committed,
            "seconds": round(self.seconds, 3),
            "error": None if self.error is None else self.error.as_dict(),
            "transaction_id": self.transaction_id,
            "models": {name: m.as_dict(changes=changes) for name, m in self.models.items()},
        }


def change_rows(model: str, changes: ChangeSet, flagged: dict[Key, int],
                fold_key: Callable[[Key], Key]) -> Iterator[RowResult]:
    """The row result of each change listed in ``changes`` (creates, updates, deletes),
    with ``init_record``'s defaults of a create and the source row of a delete
    ``for_delete`` asked for (``flagged``)."""
    initial_fields, initial = changes.initial_fields, changes.initial
    for change in changes:
        if isinstance(change, Create):
            fields = {f: (None, v) for f, v in change.new.items()}
            if initial_fields and change.key in initial:
                fields.update((f, (None, v)) for f, v in zip(
                    initial_fields, initial[change.key], strict=True))
            yield RowResult(model, "new", change.key, change.row, fields)
        elif isinstance(change, Update):
            old, new = change.old, change.new
            yield RowResult(model, "update", change.key, change.row,
                            {f: (old[f], new[f]) for f in change.changed})
        else:
            row = flagged.get(fold_key(change.key)) if flagged else None
            yield RowResult(model, "delete", change.key, row,
                            {f: (v, None) for f, v in change.old.items()},
                            reason=None if row is None else "for_delete")


def change_as_dict(change: Create | Update | Delete) -> dict[str, Any]:
    """One change as JSON-friendly data."""
    key = [plain_value(part) for part in change.key]
    if isinstance(change, Create):
        return {"op": "create", "key": key, "row": change.row,
                "new": {k: plain_value(v) for k, v in change.new.items()}}
    if isinstance(change, Update):
        old, new = change.old, change.new
        return {"op": "update", "key": key, "row": change.row,
                "changes": {f: [plain_value(old[f]), plain_value(new[f])] for f in change.changed}}
    return {"op": "delete", "key": key, "old": {k: plain_value(v) for k, v in change.old.items()}}


def plain_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
