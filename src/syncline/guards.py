"""Guards judge change sets before anything is written; a refusal writes nothing.

Every guard, its default and the flag that overrides it are listed in docs/guards.md.
"""

from __future__ import annotations

from syncline.diff import ChangeSet
from syncline.errors import GuardError
from syncline.options import (
    MASS_DELETE_FRACTION,
    MASS_DELETE_MIN_ROWS,
    MAX_REJECTED_DEFAULT,
    RunOptions,
)


def mass_delete(deletes: int, target_rows: int) -> bool:
    """The mass-delete guard's test: more than MASS_DELETE_MIN_ROWS deletes and more than
    MASS_DELETE_FRACTION of the table's rows (docs/guards.md)."""
    return deletes > MASS_DELETE_MIN_ROWS and deletes > MASS_DELETE_FRACTION * target_rows


def check_guards(changes: ChangeSet, options: RunOptions, source_rows: int | None = None
                 ) -> list[GuardError]:
    """The refusals for one model's change set (empty when it may be applied).
    ``source_rows``: rows read from the whole source (keys mode judges "the source is
    empty" by those: a given key the source lacks is a legitimate delete)."""
    refusals: list[GuardError] = []
    counts = changes.counts()
    limits = (
        ("created", options.max_create, "max_create", "--max-create"),
        ("updated", options.max_update, "max_update", "--max-update"),
        ("deleted", options.max_delete, "max_delete", "--max-delete"),
    )
    for count_name, limit, guard, flag in limits:
        if limit is not None and counts[count_name] > limit:
            refusals.append(GuardError(
                f"{changes.model}: {counts[count_name]} rows would be {count_name}, more than"
                f" {flag} {limit} allows; nothing was written (raise {flag} to let it through)",
                guard=guard, flag=flag, model=changes.model))
    if options.max_total is not None and changes.total > options.max_total:
        refusals.append(GuardError(
            f"{changes.model}: {changes.total} changes, more than --max-total {options.max_total}"
            " allows; nothing was written (raise --max-total to let it through)",
            guard="max_total", flag="--max-total", model=changes.model))
    deletes = counts["deleted"]  # the lists may not be materialised: count, never len()
    overridden = options.max_delete is not None or options.allow_mass_delete
    # every source record creates, updates, is unchanged or is skipped: none of them
    # means the source gave nothing (an empty or header-only file, or every row rejected)
    from_source = (counts["created"] + counts["updated"] + counts["unchanged"]
                   + counts["skipped"])
    if options.keys is not None and source_rows is not None:
        from_source = source_rows
    if mass_delete(deletes, changes.target_rows) and not overridden:
        refusals.append(GuardError(
            f"{changes.model}: refusing to delete {deletes} of {changes.target_rows} target rows"
            f" ({deletes / max(changes.target_rows, 1):.0%}); the mass-delete guard stops deletes"
            f" of more than {MASS_DELETE_MIN_ROWS} rows and {MASS_DELETE_FRACTION:.0%} of the"
            " table, which usually means an empty or truncated source. Nothing was written."
            f" If this is intended, pass --max-delete {deletes} or --allow-mass-delete",
            guard="mass_delete", flag="--allow-mass-delete", model=changes.model))
    elif deletes and not from_source and not overridden:
        # below the mass-delete floor (a small table): an empty source still never deletes
        refusals.append(GuardError(
            f"{changes.model}: the source has no records, and the run would delete"
            f" {deletes} of {changes.target_rows} target rows; an empty source never deletes"
            " without an explicit override, however small the table. Nothing was written."
            f" If this is intended, pass --max-delete {deletes} or --allow-mass-delete",
            guard="empty_source", flag="--allow-mass-delete", model=changes.model))
    return refusals


def check_rejected(model: str, rejected: int, source_rows: int,
                   options: RunOptions) -> GuardError | None:
    """The refusal when ``--on-error=skip`` left out more rows than ``--max-rejected`` allows
    (default 10% of the source rows: a run that rejects every row never commits)."""
    limit = options.max_rejected
    if options.on_error != "skip" or not limit.exceeded(rejected, source_rows):
        return None
    share = f"{rejected / source_rows:.0%}" if source_rows else "all"
    default = " (the default)" if limit == MAX_REJECTED_DEFAULT else ""
    return GuardError(
        f"{model}: {rejected} of {source_rows} source rows ({share}) were rejected, more than"
        f" --max-rejected {limit}{default} allows; nothing was written. Fix the source, or"
        f" raise --max-rejected (a number of rows, or a percentage such as 100%) to apply"
        " the other rows", guard="max_rejected", flag="--max-rejected", model=model)
