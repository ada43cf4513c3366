"""The in-memory diff: a pure function from two keyed record sets to a change set."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from syncline.diff import Create, Delete, Update, diff

FIELDS = ("id", "name", "price")


def source(*rows: tuple[int, str, Decimal]) -> dict[tuple[int], tuple[int, tuple[object, ...]]]:
    return {(r[0],): (n, r) for n, r in enumerate(rows, start=2)}


def target(*rows: tuple[int, str, Decimal]) -> list[tuple[tuple[int], tuple[object, ...]]]:
    return [((r[0],), r) for r in rows]


def test_create_update_delete_unchanged() -> None:
    changes = diff(
        "m", FIELDS, ("id",),
        source((1, "a", Decimal("1.00")), (2, "B", Decimal("2.00")), (4, "d", Decimal("4"))),
        target((1, "a", Decimal("1.00")), (2, "b", Decimal("2.00")), (3, "c", Decimal("3"))),
    )
    assert changes.counts() == {"created": 1, "updated": 1, "deleted": 1, "unchanged": 1,
                                "skipped": 0}
    assert changes.creates == [Create((4,), (4, "d", Decimal("4")), FIELDS, 4)]
    (update,) = changes.updates
    assert isinstance(update, Update)
    assert update.changed == ("name",)
    assert update.old["name"] == "b" and update.new["name"] == "B"
    assert update.row == 3
    assert changes.deletes == [Delete((3,), (3, "c", Decimal("3")), FIELDS)]
    assert changes.target_rows == 3


def test_decimals_compare_by_value_not_text() -> None:
    changes = diff("m", FIELDS, ("id",), source((1, "a", Decimal("1.4"))),
                   target((1, "a", Decimal("1.40"))))
    assert changes.total == 0 and changes.unchanged == 1


def test_run_options_skip_instead_of_applying() -> None:
    changes = diff(
        "m", FIELDS, ("id",),
        source((1, "x", Decimal(1)), (2, "new", Decimal(2))),
        target((1, "a", Decimal(1)), (3, "gone", Decimal(3))),
        create=False, update=False, delete=False,
    )
    assert changes.total == 0
    assert changes.skipped == 3


def test_protected_keys_are_neither_updated_nor_deleted() -> None:
    changes = diff(
        "m", FIELDS, ("id",), source((1, "x", Decimal(1))),
        target((1, "a", Decimal(1)), (2, "b", Decimal(2))), protected={(1,), (2,)},
    )
    assert changes.total == 0


records = st.dictionaries(st.integers(0, 30), st.tuples(st.text(max_size=3), st.integers(0, 3)),
                          max_size=20)


@given(records, records)
def test_applying_the_change_set_makes_target_equal_source(
    src: dict[int, tuple[str, int]], tgt: dict[int, tuple[str, int]]
) -> None:
    fields = ("id", "name", "n")
    changes = diff(
        "m", fields, ("id",),
        {(k,): (None, (k, *v)) for k, v in src.items()},
        [((k,), (k, *v)) for k, v in tgt.items()],
    )
    state = {(k,): (k, *v) for k, v in tgt.items()}
    for change in changes:
        if isinstance(change, Create):
            assert change.key not in state
            state[change.key] = change.values
        elif isinstance(change, Update):
            assert state[change.key] == change.old_values
            state[change.key] = change.new_values
        else:
            del state[change.key]
    assert state == {(k,): (k, *v) for k, v in src.items()}
    assert changes.unchanged + len(changes.updates) + len(changes.deletes) == len(tgt)
