"""Importer: ONE model between a source and a target — key, fields, normalize hooks.

What an importer may ever do (``allow_create``/``allow_update``/``allow_delete``) is kept
apart from what one run does (:class:`~syncline.options.RunOptions`). Subclass and set the
class attributes, or pass them to the constructor::

    class Products(Importer):
        table = "product"
        key = ("upc",)
        exclude = ("last_sold",)

        def normalize_source(self, record):
            record["description"] = record["description"].title()
            return record
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from syncline.errors import ConfigError, HeaderError
from syncline.lifecycle import Context, RowResult
from syncline.sources.base import Source

if TYPE_CHECKING:
    from syncline.diff import ChangeSet
    from syncline.result import ModelResult


class Importer:
    """The mapping of one model: which target table, which key, which fields."""

    #: the name in results and on the command line (default: the table's name)
    model: str = ""
    #: the target table
    table: str = ""
    #: the key: one or more field names that identify a record in source and target
    key: tuple[str, ...] = ()
    #: fields to compare and write (default: the target's columns the source offers)
    fields: tuple[str, ...] | None = None
    #: fields never compared nor written
    exclude: tuple[str, ...] = ()
    #: the source table (default: ``table``) or query, when the handler has a SQL source
    source_table: str | None = None
    source_query: str | None = None
    #: what this importer may EVER do; a run can do less, never more
    allow_create: ClassVar[bool] = True
    allow_update: ClassVar[bool] = True
    allow_delete: ClassVar[bool] = True

    _settable: ClassVar[tuple[str, ...]] = (
        "model", "table", "key", "fields", "exclude", "source_table", "source_query",
    )

    def __init__(self, *, source: Source | None = None, **settings: Any) -> None:
        for name, value in settings.items():
            if name not in self._settable:
                raise ConfigError(f"unknown importer setting {name!r}")
            if name in ("key", "fields", "exclude") and value is not None:
                value = tuple(value)
            setattr(self, name, value)
        self._source = source
        #: the run's context while a run imports this model (see :meth:`before_import`)
        self.context: Context | None = None
        if not self.table:
            raise ConfigError(f"importer {type(self).__name__} names no target table")
        if not self.key:
            # a sync without a key could only replace everything: refused (RELIABILITY #30)
            raise ConfigError(f"importer {self.name} has no key: name the key field(s)")

    @property
    def name(self) -> str:
        return self.model or self.table

    @property
    def given_source(self) -> Source | None:
        """The source this importer was given (or the handler made for it), if any."""
        return self._source

    def use_source(self, source: Source) -> None:
        """Read this model's records from ``source`` (the handler's, when none was given)."""
        self._source = source

    def close_source(self) -> None:
        """Release what the source holds (a connection pool), if it is closable."""
        close = getattr(self._source, "close", None)
        if close is not None:
            close()

    # -- hooks ------------------------------------------------------------------
    def normalize_source(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """Shape a source record like a target record; return None to leave it out."""
        return record

    def normalize_target(self, record: dict[str, Any]) -> dict[str, Any]:
        """Shape a target record for comparison."""
        return record

    # -- the lifecycle (docs/lifecycle.md, in the order of a run) ---------------------
    def before_import(self, context: Context) -> None:
        """Before this model's source is read (also in a dry run)."""

    def before_row(self, record: dict[str, Any], context: Context) -> dict[str, Any] | None:
        """Each source record, as the source holds it (all its columns), before
        ``normalize_source``: return it (changed or not), or None to leave it out — it is
        counted as skipped, with the reason ``before_row``."""
        return record

    def init_record(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        """Defaults for a record this run creates (never for an update): a dict of target
        columns the source does not carry, e.g. ``{"active": True}`` (where the source
        carries a column, its value wins). ``key`` is the new record's key, a tuple. Called
        once per new key after the diff, before the guards (also in a dry run); every call
        must name the same columns. On the in-database engine the defaults go into the
        INSERT from the stage: the engine stays set-based."""
        return None

    def for_delete(self, record: dict[str, Any]) -> bool:
        """True: delete the target record of this record's key (delete-by-flag, e.g. a
        ``deleted='Y'`` column). A delete: it needs ``--delete`` (else the run is refused)
        and the delete guards judge it. Called after ``normalize_source``."""
        return False

    def skip_row(self, old: dict[str, Any], new: dict[str, Any]) -> bool:
        """For each record that would be updated: True treats it as unchanged (counted as
        skipped, reason ``skip_row``). Needs the target's old values: a model with this
        hook runs on the in-memory engine."""
        return False

    def before_apply(self, changes: ChangeSet) -> None:
        """The model's change set, after the guards passed and before anything is written
        (also in a dry run): raise to refuse the run; nothing is written."""

    def after_row(self, row: RowResult) -> None:
        """Each row's outcome, after every write and before the commit (also in a dry run):
        raising rolls the run back."""

    def after_import(self, result: ModelResult) -> None:
        """This model's result, after its rows' ``after_row`` and before the commit."""

    def overrides(self, name: str) -> bool:
        """Does this importer's class define hook ``name``?"""
        return getattr(type(self), name) is not getattr(Importer, name)

    @property
    def has_row_hooks(self) -> bool:
        """``before_row`` or ``for_delete``: run in Python on each record, before staging."""
        return self.overrides("before_row") or self.overrides("for_delete")

    @property
    def has_init_hook(self) -> bool:
        return self.overrides("init_record")

    @property
    def has_skip_hook(self) -> bool:
        return self.overrides("skip_row")

    @property
    def has_source_hook(self) -> bool:
        """A hook shapes each source record (``normalize_source``, ``before_row``,
        ``for_delete``): the source is read with all its columns (docs/hooks.md)."""
        return (type(self).normalize_source is not Importer.normalize_source
                or self.has_row_hooks)

    @property
    def has_target_hook(self) -> bool:
        return type(self).normalize_target is not Importer.normalize_target

    def resolve_fields(self, target_columns: Sequence[str], source_columns: Sequence[str] | None,
                       offered: str = "the source") -> tuple[tuple[str, ...], list[str]]:
        """The fields compared and written, and warnings about the ones left out.

        ``source_columns`` are the names the records carry: the source's columns, or those
        of the first record ``normalize_source`` returns (``offered`` says which, for the
        messages); None when a hook's records are checked one by one against ``fields``."""
        warnings: list[str] = []
        missing_key = [k for k in self.key if k not in target_columns]
        if missing_key:
            raise ConfigError(f"key column {', '.join(missing_key)} is not in table {self.table}",
                              model=self.name)
        if self.fields is not None:
            fields = tuple(self.fields)
            unknown = [f for f in fields if f not in target_columns]
            if unknown:
                raise ConfigError(f"field {', '.join(unknown)} is not in table {self.table}",
                                  model=self.name)
        else:
            assert source_columns is not None
            fields = tuple(c for c in target_columns if c in source_columns)
            left = [c for c in target_columns if c not in source_columns and c not in self.exclude]
            if left:
                warnings.append(f"{self.name}: target column(s) {', '.join(left)} are not in"
                                f" {offered} and are left as they are")
        fields = tuple(f for f in fields if f not in self.exclude or f in self.key)
        for k in self.key:
            if k not in fields:
                fields = (k, *fields)
        if source_columns is not None:
            absent = [f for f in fields if f not in source_columns]
            if absent:
                raise HeaderError(f"{offered} has no column {', '.join(absent)}",
                                  model=self.name)
        return fields, warnings
