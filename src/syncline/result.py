"""What a run reports: per model counts, the changes themselves, errors and timing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from syncline.diff import ChangeSet, Create, Delete, Key, Update
from syncline.errors import SynclineError
from syncline.lifecycle import RowResult

#: how many errors a report lists one by one; the count always covers all of them
ERRORS_SHOWN = 20


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
    #: rows a hook skipped (and, with ``report_skipped``, the unchanged ones)
    skips: list[RowResult] = field(default_factory=list)
    #: keys ``for_delete`` flagged (as the target matches them) -> source row
    flagged: dict[Key, int] = field(default_factory=dict)
    #: a key as the target matches it (the keys of ``flagged``)
    fold_key: Callable[[Key], Key] = field(default=lambda key: key, repr=False)

    def rows(self) -> Iterator[RowResult]:
        """Each row's outcome: the creates (``new``), updates, deletes, the skipped rows,
        then the row errors kept (see :data:`ERRORS_SHOWN`; the rejects file has all).
        The changes are listed where the change set holds them (``collect_changes``)."""
        model = self.model
        changes = self.changes
        if changes is not None:
            for create in changes.creates:
                yield RowResult(model, "new", create.key, create.row,
                                {f: (None, v) for f, v in create.new.items()})
            for update in changes.updates:
                old, new = update.old, update.new
                yield RowResult(model, "update", update.key, update.row,
                                {f: (old[f], new[f]) for f in update.changed})
            for delete in changes.deletes:
                row = self.flagged.get(self.fold_key(delete.key))
                yield RowResult(model, "delete", delete.key, row,
                                {f: (v, None) for f, v in delete.old.items()},
                                reason=None if row is None else "for_delete")
        yield from self.skips
        for error in self.errors:
            if error.row is not None:
                key = error.key if isinstance(error.key, tuple) else (
                    () if error.key is None else (error.key,))
                yield RowResult(model, "error", key, error.row, error=str(error))

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
