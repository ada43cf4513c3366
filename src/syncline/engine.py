"""Plan an importer against its target, pick a diff engine, and the in-memory engine.

:func:`make_plan` resolves fields and column types (and checks a file's header first);
:func:`compute` picks the engine: in-database (:mod:`syncline.staged`) for SQL targets,
in memory (here) where Python must see every target row. Both read the source through
:mod:`syncline.reading`; nothing is written here: the result is a
:class:`~syncline.diff.ChangeSet` plus the row errors. In memory, the source is held as one
entry per key and the target is streamed through. Both engines follow the rules of
docs/engines.md (one per case where they could differ), checked by a property test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa

from syncline.diff import ChangeSet, Key, Values, diff
from syncline.errors import ConfigError, KeyProblemError, SynclineError
from syncline.importer import Importer
from syncline.inference import SQLITE_DECIMAL_DIGITS, faithful_type, infer_spec
from syncline.options import RunOptions
from syncline.reading import Shaped, duplicate_error, learn_fields, shape_target, validated_batches
from syncline.rejects import RejectSpool
from syncline.sources.base import Source
from syncline.sources.replay import ReplaySource
from syncline.targets.sql import TargetSession, collation_fold
from syncline.types import (
    ColumnSpec,
    TypeOptions,
    source_coercer,
    target_normalizer,
    to_db,
)

#: rows read to infer column types for --create-table from a file
SAMPLE_ROWS = 10_000


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
    specs: dict[str, ColumnSpec] = field(default_factory=dict)


@dataclass
class Plan:
    """The resolved shape of one importer against one target table."""

    importer: Importer
    source: Source
    fields: tuple[str, ...]
    specs: dict[str, ColumnSpec]
    key_index: tuple[int, ...]
    fold_key: tuple[bool, ...]
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

    def types_for(self, name: str) -> TypeOptions:
        return self.key_types if name in self.importer.key else self.types

    def db_keys(self) -> list[Key] | None:
        """Keys mode's keys as bound for the database (None: every record)."""
        if self.keys is None:
            return None
        convert = [to_db(self.specs[k], self.types) for k in self.importer.key]
        return [tuple(c(v) for c, v in zip(convert, key, strict=True)) for key in self.keys]


def make_plan(importer: Importer, source: Source, session: TargetSession,
              options: RunOptions) -> Plan:
    refuse_database_engine(importer, options)  # before anything is read or created
    if options.create_table and not session.has_table(importer.table):
        if not all(c.sql_type is not None for c in source.columns()):
            source = ReplaySource(source)  # the sample is read once, then replayed
        created = specs_from_source(source, session.dialect, importer.key)
        if options.dry_run:
            session.assume_table(importer.table, created)
        else:
            session.create_table(importer.table, created, importer.key)
    specs = session.columns(importer.table)
    source_columns = [c.name for c in source.columns()]
    warnings: list[str] = []
    check = getattr(source, "check_header", None)
    if check is not None and not importer.has_source_hook:
        # first: it knows the file, and what a wrong delimiter looks like
        required = [c for c in session.required_columns(importer.table)
                    if c not in importer.exclude]
        warnings += check(key=importer.key, required=required, known=list(specs),
                          strict=options.strict_columns, table=importer.table)
    hook_ahead: dict[int, Shaped] = {}
    carried = None
    if not importer.has_source_hook:
        fields, more = importer.resolve_fields(list(specs), source_columns)
    elif importer.fields is not None:  # every record is checked against the given fields
        fields, more = importer.resolve_fields(list(specs), None)
    else:  # the fields are the target columns the hook's records carry (docs/hooks.md)
        if not isinstance(source, ReplaySource):
            source = ReplaySource(source)
        names, hook_ahead = learn_fields(importer, source, source_columns)
        carried = frozenset(names)
        fields, more = importer.resolve_fields(list(specs), names,
                                               "the first record normalize_source returned")
    warnings += more
    key_index = tuple(fields.index(k) for k in importer.key)
    folds = key_folds(session, importer.table, importer.key, specs)
    fold = tuple(f is not None for f in folds)
    types, key_types = resolve_types(options.types, source)
    plan = Plan(importer, source, fields, specs, key_index, fold, warnings, types, key_types,
                tuple(f or str for f in folds),
                tuple(source_columns) if importer.has_source_hook else fields, hook_ahead,
                carried)
    if options.keys is not None:
        plan.keys = given_keys(plan, options.keys)
    return plan


def key_folds(session: TargetSession, table: str, key: Sequence[str],
              specs: dict[str, ColumnSpec]) -> list[Callable[[str], str] | None]:
    """Per key column, how the target's collation matches its text (None: byte for byte).

    Keys the collation calls equal are one key (docs/engines.md, rule 6): by the column's
    own collation where the target names it, else by the target's default."""
    capabilities = session.target.capabilities
    if not (capabilities.case_insensitive_keys or capabilities.pad_space_keys):
        return [None for _ in key]
    collations: dict[str, str] = {}
    if capabilities.column_collations is not None and not session.is_assumed(table):
        collations = dict(capabilities.column_collations(session, table))
    return [None if specs[k].kind != "text"
            else collation_fold(collations[k]) if k in collations
            else capabilities.fold_text_key for k in key]


def given_keys(plan: Plan, keys: Sequence[Any]) -> list[Key]:
    """Keys mode's keys, coerced exactly like source keys (``"3"`` is the integer key 3;
    ``3`` is the text key ``"3"``, never ``"03"``), one per key as the target matches them.

    A key that cannot be coerced, has the wrong number of parts or an empty part is a
    :class:`KeyProblemError` naming it: nothing is read or written."""
    importer = plan.importer
    coercers = [source_coercer(plan.specs[k], plan.key_types) for k in importer.key]
    found: dict[Key, Key] = {}
    for given in keys:
        key = make_key_tuple(given)
        if len(key) != len(importer.key):
            raise KeyProblemError(
                f"{importer.name}: given key {given!r} has {len(key)} part(s); the key"
                f" ({', '.join(importer.key)}) has {len(importer.key)}",
                model=importer.name, key=given)
        try:
            coerced = tuple(c(p) for c, p in zip(coercers, key, strict=True))
        except SynclineError as exc:
            raise KeyProblemError(
                f"{importer.name}: given key {given!r} does not fit the key column"
                f" {exc.field or ''}: {exc.message}", model=importer.name, key=given,
                field=exc.field, value=exc.value) from exc
        if any(p is None or (isinstance(p, str) and not p.strip()) for p in coerced):
            raise KeyProblemError(f"{importer.name}: given key {given!r} is empty or NULL",
                                  model=importer.name, key=given)
        found.setdefault(fold_key(plan, coerced), coerced)
    return list(found.values())


def resolve_types(types: TypeOptions, source: Source) -> tuple[TypeOptions, TypeOptions]:
    """The type options for a source's fields and for its keys (docs/types.md, "Whitespace").

    A typed source (a database) is copied exactly unless ``strip_text`` says otherwise;
    a file's text is stripped by default, and its keys always are: ``"A "`` and ``"A"``
    in a file are one key (a duplicate), never two records."""
    if getattr(source, "typed", False) and not types.typed_source:
        types = replace(types, typed_source=True)
    if types.typed_source or types.strips:
        return types, types
    return types, replace(types, strip_text=True)


def specs_from_source(source: Source, dialect: str, key: Sequence[str] = ()
                      ) -> list[ColumnSpec]:
    """Column types for a new target table: types of ``dialect`` that hold every value of
    the SQL source's own types, or inferred from a sample. Raises a ConfigError naming the
    column when the target has no such type — before anything is created."""
    columns = source.columns()
    if all(c.sql_type is not None for c in columns):
        return [_faithful(c.name, c.sql_type, dialect, key) for c in columns]
    names = [c.name for c in columns]
    # read ahead and kept: the run replays it (a generator can be read only once)
    replay = source if isinstance(source, ReplaySource) else ReplaySource(source)
    sample = [values for _, values in replay.head(SAMPLE_ROWS)]
    least = SQLITE_DECIMAL_DIGITS if dialect == "sqlite" else 18
    inferred = [infer_spec(name, [str(v) for v in (row[i] for row in sample) if v is not None],
                           least_precision=least)
                for i, name in enumerate(names)]
    return [_faithful(s.name, s.sql_type, dialect, key) for s in inferred]


def _faithful(name: str, sql_type: Any, dialect: str, key: Sequence[str]) -> ColumnSpec:
    created = faithful_type(name, sql_type, dialect, key=name in key)
    return ColumnSpec.from_column(sa.Column(name, created), dialect)


def compute(plan: Plan, session: TargetSession, options: RunOptions,
            progress: Callable[[int], None] | None = None) -> Computed:
    importer = plan.importer
    if options.delete and not importer.allow_delete:
        raise ConfigError(f"importer {importer.name} never deletes (allow_delete is off)")
    engine = choose_engine(plan, session, options)
    if engine == "database":
        from syncline.staged import compute_staged

        try:
            return compute_staged(plan, session, options, progress)
        except SynclineError as exc:
            exc.locate(model=importer.name)
            raise
    source_map, computed = read_source(plan, options, progress)
    if computed.fatal:
        # refused whatever the options say: no change set (docs/engines.md, rule 1)
        computed.warnings = plan.warnings + computed.warnings
        computed.specs = plan.specs
        return computed
    keep: set[Key] | None = None
    if plan.keys is not None:
        # only the given keys, as the engines match keys (docs/engines.md, "Keys mode")
        keep = {fold_key(plan, k) for k in plan.keys}
        source_map = {k: v for k, v in source_map.items() if k in keep}
    target = read_target(plan, session, plan.keys, keep)
    computed.changes = diff(
        importer.name, plan.fields, importer.key, source_map, target,
        create=options.create and importer.allow_create,
        update=options.update and importer.allow_update,
        delete=options.delete and importer.allow_delete,
        protected=computed_protected(plan, computed, options),
    )
    computed.warnings = plan.warnings + computed.warnings
    computed.specs = plan.specs
    return computed


def make_key_tuple(key: Any) -> Key:
    return tuple(key) if isinstance(key, tuple | list) else (key,)


def fold_key(plan: Plan, key: Key) -> Key:
    if not any(plan.fold_key):
        return key
    return tuple(fold(p) if f and isinstance(p, str) else p
                 for p, f, fold in zip(key, plan.fold_key, plan.fold_text, strict=True))


def choose_engine(plan: Plan, session: TargetSession, options: RunOptions) -> str:
    """In-database for SQL targets; in memory where Python must see every target row."""
    if session.is_assumed(plan.importer.table):
        return "memory"  # a dry run of --create-table: no table to stage against, none to read
    if options.engine != "auto":
        refuse_database_engine(plan.importer, options)
        return options.engine
    if plan.importer.has_target_hook or options.keys is not None:
        return "memory"
    return "database"


def refuse_database_engine(importer: Importer, options: RunOptions) -> None:
    if options.engine == "database" and (importer.has_target_hook or options.keys is not None):
        raise ConfigError("--engine database cannot run a normalize_target hook or keys"
                          " mode: use --engine memory", model=importer.name)


def computed_protected(plan: Plan, computed: Computed, options: RunOptions) -> set[Key]:
    """Keys of rejected rows: their target records are neither updated nor deleted."""
    return {key for batch in protected_batches(plan, computed, options) for key in batch}


def protected_batches(plan: Plan, computed: Computed, options: RunOptions,
                      size: int = 10_000) -> Iterator[list[Key]]:
    """The keys of rejected rows, batch by batch, streamed from the spool (bounded memory;
    a key may come twice)."""
    coercers = [source_coercer(plan.specs[k], plan.key_types) for k in plan.importer.key]
    batch: list[Key] = []
    for rejected in computed.rejected:
        if not rejected.values:
            continue
        try:
            key = tuple(c(rejected.values[i])
                        for c, i in zip(coercers, plan.key_index, strict=True))
        except SynclineError:
            continue  # a key that cannot be read cannot match a target record
        if all(p not in (None, "") for p in key):
            batch.append(fold_key(plan, key))
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def read_source(plan: Plan, options: RunOptions, progress: Callable[[int], None] | None = None
                ) -> tuple[dict[Key, tuple[int | None, Values]], Computed]:
    """Every valid source record by key, in memory; row errors collected."""
    computed = Computed(ChangeSet(plan.importer.name, plan.fields, plan.importer.key))
    found: dict[Key, tuple[int | None, Values]] = {}
    duplicates: dict[Key, list[int]] = {}
    folding = any(plan.fold_key)
    keep_first = options.on_duplicate == "first"
    for block in validated_batches(plan, options, computed, progress):
        for row, key, values in zip(block.numbers, block.keys(), block.rows(), strict=True):
            if folding:
                key = fold_key(plan, key)
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
        computed.warnings.append(
            f"{plan.importer.name}: {len(duplicates)} duplicate key(s) in the source;"
            f" kept the {options.on_duplicate} row of each")
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
    folding = any(plan.fold_key)
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
            keys_of = [fold_key(plan, k) for k in keys_of]
        if keep is None:
            yield from zip(keys_of, rows, read, strict=True)
        else:
            yield from ((k, r, o) for k, r, o in zip(keys_of, rows, read, strict=True)
                        if k in keep)
