"""The plan of one importer against one target table, and what an engine computes from it.

Values only (a leaf: no I/O, nothing above it imported): :mod:`syncline.engines.planning`
makes a :class:`Plan`, a diff engine (:mod:`syncline.engines.base`) turns it into a
:class:`Computed`, and the handler judges and applies that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from syncline.diff import ChangeSet, Key
from syncline.errors import HookError, SynclineError
from syncline.importer import Importer
from syncline.lifecycle import RowResult
from syncline.options import RunOptions
from syncline.rejects import RejectSpool
from syncline.sources.base import Source
from syncline.types import ColumnSpec, TypeOptions, to_db


class _LeftOut:
    """A record ``normalize_source`` left out (it returned None)."""


LEFT_OUT = _LeftOut()


@dataclass(frozen=True)
class RowSkipped:
    """A record ``before_row`` left out: counted as skipped, with the reason."""

    reason: str


@dataclass(frozen=True)
class Flagged:
    """A record ``for_delete`` flagged: its key's target record is deleted."""

    record: dict[str, Any]


#: what the hooks made of a record: a record, LEFT_OUT, skipped, flagged, or the error
Shaped = dict[str, Any] | HookError | _LeftOut | RowSkipped | Flagged


class Allowed(NamedTuple):
    """What one run of one importer may do: what the importer may ever do (its
    ``allow_*``), narrowed by the run's options (``--no-create``, ``--delete``...)."""

    create: bool
    update: bool
    delete: bool


@dataclass
class Computed:
    """What the engine found for one importer."""

    changes: ChangeSet
    errors: list[SynclineError] = field(default_factory=list)
    error_count: int = 0
    #: rows left out by --on-error=skip, spooled to a temporary file (bounded memory)
    rejected: RejectSpool = field(default_factory=RejectSpool)
    #: errors that refuse the run whatever ``on_error`` says (duplicate source keys: which
    #: row is the source's word is unknown, so no row of the key can be skipped safely)
    fatal: list[SynclineError] = field(default_factory=list)
    #: rows read from the source (valid or not): the base of --max-rejected's percentage
    source_rows: int = 0
    warnings: list[str] = field(default_factory=list)
    #: rows a hook left out (``before_row``) or called unchanged (``skip_row``)
    skips: list[RowResult] = field(default_factory=list)
    #: with ``report_skipped``: (key, source row) of each unchanged row (where they were
    #: read: the in-database engine streams them from its stage otherwise)
    same: list[tuple[Key, int | None]] = field(default_factory=list)
    #: keys ``for_delete`` flagged (folded as the target matches them) -> source row
    flagged: dict[Key, int] = field(default_factory=dict)


@dataclass
class Plan:
    """The resolved shape of one importer against one target table."""

    importer: Importer
    source: Source
    fields: tuple[str, ...]
    specs: dict[str, ColumnSpec]
    key_index: tuple[int, ...]
    #: per key part: is it text the target's collation folds (see :meth:`fold_key`)
    fold_key_parts: tuple[bool, ...]
    warnings: list[str]
    #: the run's type options, resolved for this source (typed or text)
    types: TypeOptions
    #: the options the key columns are read with (a file's keys are always stripped)
    key_types: TypeOptions
    #: each text key part as the target's collation matches it (where ``fold_key`` says so)
    fold_text: tuple[Callable[[str], str], ...] = ()
    #: the names the source is read with: ``fields``, or all its columns for a hook
    read_fields: tuple[str, ...] = ()
    #: what ``normalize_source`` made of the records it saw while planning, by row
    hook_ahead: dict[int, Shaped] = field(default_factory=dict)
    #: the names the first record of ``normalize_source`` carried, when the fields were
    #: learned from it (docs/hooks.md); a later record must carry the same target columns
    carried: frozenset[str] | None = None
    #: keys mode: the given keys, coerced like source keys (None: every record)
    keys: list[Key] | None = None

    def allowed(self, options: RunOptions) -> Allowed:
        """The one place where importer permissions and run options meet."""
        importer = self.importer
        return Allowed(options.create and importer.allow_create,
                       options.update and importer.allow_update,
                       options.delete and importer.allow_delete)

    def fold_key(self, key: Key) -> Key:
        """A key as the target's collation matches it (docs/engines.md, rule 6): text parts
        folded where ``fold_key`` says so; other keys as they are."""
        if not any(self.fold_key_parts):
            return key
        return tuple(fold(p) if f and isinstance(p, str) else p
                     for p, f, fold in zip(key, self.fold_key_parts, self.fold_text, strict=True))

    def types_for(self, name: str) -> TypeOptions:
        return self.key_types if name in self.importer.key else self.types

    def db_keys(self) -> list[Key] | None:
        """Keys mode's keys as bound for the database (None: every record)."""
        if self.keys is None:
            return None
        convert = [to_db(self.specs[k], self.types) for k in self.importer.key]
        return [tuple(c(v) for c, v in zip(convert, key, strict=True)) for key in self.keys]


def make_key_tuple(key: Any) -> Key:
    """A key given as one value or as a sequence of parts, as a tuple."""
    return tuple(key) if isinstance(key, tuple | list) else (key,)
