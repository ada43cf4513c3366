"""A target that is not a SQL database: the :class:`Target` protocol (docs/exporters.md).

A run (:class:`syncline.exporting.TargetHandler`) drives a target in this order::

    open(model)                          # the model's shape: fields, key, column specs
    read()  -> records                   # the current records, canonical values
    begin()                              # only when the run writes (never in a dry run)
    apply(changes) -> Applied            # creates, updates, deletes of the change set
    commit()                             # make them stick (a file: the atomic rename)
    rollback()                           # after a failure: undo, if the target can
    close()                              # always

``read`` yields each record's values in ``fields`` order, *canonical*: a target reads its
raw values with the source rule book (:func:`TargetModel.coercers`, :mod:`syncline.types`), so a
file's ``"12"`` and a table's ``12`` in an integer column are the same value.

A target says what it can do in :class:`TargetCapabilities`. One that cannot roll back (a
web API: a request that succeeded stays done) reports, when a run fails, exactly which
changes were applied (:class:`Applied`, in the error's ``applied``); its changes are
idempotent (PUT by key, DELETE by key) so that running again converges.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from syncline.diff import ChangeSet, Key
from syncline.spec import ColumnSpec, Fn, TypeOptions
from syncline.types import source_coercer


@dataclass(frozen=True)
class TargetCapabilities:
    """What a target can do; the run reads these, never the target's class."""

    #: ``rollback`` undoes every change ``apply`` made (a file replaced atomically: yes;
    #: a web API: no)
    can_rollback: bool = True
    #: the target holds nothing yet (a file that does not exist): the first run writes it
    #: whole, and there is nothing to read
    empty: bool = False


@dataclass(frozen=True)
class TargetModel:
    """The shape of the model a target holds: its fields, key and column types."""

    name: str
    fields: tuple[str, ...]
    key: tuple[str, ...]
    specs: dict[str, ColumnSpec]
    #: how values are read: the run's zone; text kept exactly as the target holds it
    types: TypeOptions = field(default_factory=lambda: TypeOptions(typed_source=True))

    @property
    def key_index(self) -> tuple[int, ...]:
        return tuple(self.fields.index(k) for k in self.key)

    def coercers(self, types: TypeOptions | None = None) -> list[Fn]:
        """Per field, raw value -> canonical value (raises CoercionError)."""
        return [source_coercer(self.specs[f], types or self.types) for f in self.fields]


@dataclass
class Applied:
    """The changes a target applied, by kind and key, in the order applied."""

    created: list[Key] = field(default_factory=list)
    updated: list[Key] = field(default_factory=list)
    deleted: list[Key] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.created) + len(self.updated) + len(self.deleted)

    def as_dict(self) -> dict[str, list[list[Any]]]:
        return {"created": [list(k) for k in self.created],
                "updated": [list(k) for k in self.updated],
                "deleted": [list(k) for k in self.deleted]}


@runtime_checkable
class Target(Protocol):
    """A place records are written to that is not a SQL database (see the module)."""

    #: what messages call it: a file path, a URL
    name: str
    capabilities: TargetCapabilities

    def open(self, model: TargetModel) -> None:
        """Learn the model's shape before anything is read."""
        ...

    def read(self) -> Iterator[tuple[Any, ...]]:
        """The current records, each its canonical values in the model's ``fields`` order."""
        ...

    def begin(self) -> None:
        """Start writing (never called in a dry run, nor when a guard refused the run)."""
        ...

    def apply(self, changes: ChangeSet, applied: Applied) -> None:
        """Apply the creates, updates and deletes, noting each in ``applied`` as soon as it
        is done (a target that cannot roll back then reports exactly what it did)."""
        ...

    def commit(self) -> None:
        """Make the applied changes stick."""
        ...

    def rollback(self) -> None:
        """Undo what ``apply`` did, where ``capabilities.can_rollback``; else nothing."""
        ...

    def close(self) -> None:
        """Release what the target holds (always called)."""
        ...
