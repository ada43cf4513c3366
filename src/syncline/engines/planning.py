"""Plan an importer against its target: fields, column types, key folding, given keys.

:func:`make_plan` is the first step of every run of a model; nothing is written here (but
for the table ``--create-table`` makes). The engines (:mod:`syncline.engines.base`) take
the :class:`~syncline.engines.plan.Plan` from here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from syncline.diff import Key
from syncline.engines.plan import Plan, Shaped, make_key_tuple
from syncline.engines.reading import learn_fields
from syncline.errors import ConfigError, KeyProblemError, SynclineError
from syncline.importer import Importer
from syncline.options import RunOptions
from syncline.sources.base import Source
from syncline.sources.replay import ReplaySource
from syncline.targets.create import specs_from_source
from syncline.targets.sql import TargetSession, collation_fold
from syncline.types import ColumnSpec, TypeOptions, source_coercer


def make_plan(importer: Importer, source: Source, session: TargetSession,
              options: RunOptions) -> Plan:
    """The resolved shape of ``importer`` against its table in ``session``: fields, column
    types, key folding, the given keys of keys mode. Checks a file's header first (it
    knows what a wrong delimiter looks like); with ``--create-table`` creates the table (or,
    in a dry run, assumes it). Refuses what the run may not do before anything is read."""
    if options.delete and not importer.allow_delete:
        raise ConfigError(f"importer {importer.name} never deletes (allow_delete is off)",
                          model=importer.name)
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
        found.setdefault(plan.fold_key(coerced), coerced)
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


def refuse_database_engine(importer: Importer, options: RunOptions) -> None:
    if options.engine == "database" and (importer.has_target_hook or importer.has_skip_hook
                                         or options.keys is not None):
        raise ConfigError("--engine database cannot run a normalize_target or skip_row hook"
                          " or keys mode: use --engine memory", model=importer.name)
