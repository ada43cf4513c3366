"""Change sets as values, and the in-memory diff that computes them (pure, no I/O).

A record here is a tuple of canonical values in the order of ``ChangeSet.fields``; a key
is a tuple of the key fields' values. ``Create``/``Update``/``Delete`` expose dicts for
people and reports, built on demand so that a million creates cost a million tuples.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Key = tuple[Any, ...]
Values = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Create:
    """A record the target lacks: ``new`` maps every field to its value."""

    key: Key
    values: Values
    fields: tuple[str, ...]
    row: int | None = None

    @property
    def new(self) -> dict[str, Any]:
        return dict(zip(self.fields, self.values, strict=True))


@dataclass(frozen=True, slots=True)
class Update:
    """A record whose ``changed`` fields differ: ``old`` and ``new`` map every field."""

    key: Key
    old_values: Values
    new_values: Values
    fields: tuple[str, ...]
    changed: tuple[str, ...]
    row: int | None = None
    #: the target's values as read, where a ``normalize_target`` hook changed them (apply
    #: addresses and compares the row by these); None: as ``old_values``
    read: Values | None = None

    @property
    def old(self) -> dict[str, Any]:
        return dict(zip(self.fields, self.old_values, strict=True))

    @property
    def as_read(self) -> Values:
        return self.old_values if self.read is None else self.read

    @property
    def new(self) -> dict[str, Any]:
        return dict(zip(self.fields, self.new_values, strict=True))


@dataclass(frozen=True, slots=True)
class Delete:
    """A target record the source no longer has."""

    key: Key
    old_values: Values
    fields: tuple[str, ...]
    #: the target's values as read (see :attr:`Update.read`)
    read: Values | None = None

    @property
    def old(self) -> dict[str, Any]:
        return dict(zip(self.fields, self.old_values, strict=True))

    @property
    def as_read(self) -> Values:
        return self.old_values if self.read is None else self.read


Change = Create | Update | Delete


@dataclass
class ChangeSet:
    """The diff of one importer: what the target needs to match the source."""

    model: str
    fields: tuple[str, ...]
    key: tuple[str, ...]
    creates: list[Create] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    deletes: list[Delete] = field(default_factory=list)
    unchanged: int = 0
    #: differences this run was not asked to apply (``--no-create``, ``--no-update``...)
    skipped: int = 0
    #: records the target held for this model when the diff was computed
    target_rows: int = 0
    #: how many records this run creates, updates and deletes: the same fields for both
    #: engines; the lists hold the changes themselves only where they were read (always in
    #: memory; with ``collect_changes`` in the database), and then as many as counted
    created: int = 0
    updated: int = 0
    deleted: int = 0
    #: the columns ``init_record`` gives the creates (defaults the source does not carry)
    initial_fields: tuple[str, ...] = ()
    #: per create's key, its ``initial_fields`` values (where the creates are listed)
    initial: dict[Key, Values] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.deleted

    def __bool__(self) -> bool:
        return self.total > 0

    def __iter__(self) -> Iterator[Change]:
        yield from self.creates
        yield from self.updates
        yield from self.deletes

    def recount(self) -> None:
        """Counts from the lists (for change sets whose lists hold every change)."""
        self.created, self.updated, self.deleted = (
            len(self.creates), len(self.updates), len(self.deletes))

    def counts(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
        }


def diff(
    model: str,
    fields: Sequence[str],
    key: Sequence[str],
    source: Mapping[Key, tuple[int | None, Values]],
    target: Iterable[tuple[Key, Values] | tuple[Key, Values, Values | None]],
    *,
    create: bool = True,
    update: bool = True,
    delete: bool = True,
    protected: frozenset[Key] | set[Key] = frozenset(),
    unchanged: list[tuple[Key, int | None]] | None = None,
) -> ChangeSet:
    """Compare source records (key -> (row number, values)) with the target's.

    ``protected`` keys are never updated or deleted: the source had a row for them that
    was rejected, so the source's word on them is unknown. Their target records count as
    ``unchanged`` when equal to the key's valid source row, else as ``skipped``. A target
    record with a NULL key part matches no source row and cannot be addressed by its key:
    it is ``skipped``, never deleted. So every target record lands in exactly one of
    unchanged, updated, deleted and skipped (docs/engines.md). The target must hold one
    record per key (the engine refuses it otherwise). ``unchanged``, when given, gets
    the (key, source row) of every unchanged record (``--report-skipped``).
    """
    names = tuple(fields)
    changes = ChangeSet(model=model, fields=names, key=tuple(key))
    # a change's key is spelled as the record it names (the source row of a create, the
    # target record of an update or delete), not as the case-folded key that matched them
    key_index = [names.index(k) for k in key]

    def spelled(values: Values) -> Key:
        return tuple(values[i] for i in key_index)

    seen: set[Key] = set()
    for record in target:
        tkey, old = record[0], record[1]
        read = record[2] if len(record) > 2 else None
        changes.target_rows += 1
        if None in tkey:
            changes.skipped += 1
            continue
        seen.add(tkey)
        found = source.get(tkey)
        if found is None:
            if tkey in protected:
                changes.skipped += 1
                continue
            if delete:
                changes.deletes.append(Delete(spelled(old), old, names, read))
            else:
                changes.skipped += 1
            continue
        row, new = found
        if new == old:
            changes.unchanged += 1
            if unchanged is not None:
                unchanged.append((spelled(old), row))
        elif tkey in protected:
            changes.skipped += 1
        elif update:
            changed_names = tuple(n for n, a, b in zip(names, old, new, strict=True) if a != b)
            changes.updates.append(Update(spelled(old), old, new, names, changed_names, row,
                                          read))
        else:
            changes.skipped += 1
    missing = (
        Create(spelled(new), new, names, row) for skey, (row, new) in source.items()
        if skey not in seen
    )
    if create:
        changes.creates.extend(missing)
    else:
        changes.skipped += sum(1 for _ in missing)
    changes.recount()
    return changes
