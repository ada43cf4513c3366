"""Whole-column coercion must equal the per-value rules, value for value, error for error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncline.columns import column_coercer
from syncline.errors import CoercionError
from syncline.types import ColumnSpec, TypeOptions, source_coercer

SPECS = [
    ColumnSpec("t", "text", length=5),
    ColumnSpec("t", "text"),
    ColumnSpec("i", "integer", int_bits=16),
    ColumnSpec("i", "integer", int_bits=64),
    ColumnSpec("b", "boolean"),
    ColumnSpec("d", "decimal", precision=6, scale=2),
]
OPTIONS = [TypeOptions(), TypeOptions(strip_text=False), TypeOptions(empty_as_null=False)]

cells = st.one_of(
    st.sampled_from(["", " ", "1", "0", "12", " 7 ", "+3", "-40000", "1_0", "٣", "1.5",
                     "true", "T", "yes", "maybe", "abc", "abcdefg", " ab ", "99999", "70000",
                     "12.34", "-0.00", "+1.00", "1234.56", "12345.67", "0012.30", "1.2",
                     "1.234", ".50"]),
    st.text(max_size=8),
    st.none(),
    st.integers(-5, 5),
)


def outcome(function: Any, arg: Any) -> Any:
    try:
        return ("ok", [repr(v) for v in function(arg)])
    except CoercionError as exc:
        return ("error", type(exc))


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.kind}-{s.length or s.int_bits}")
@settings(max_examples=150, deadline=None)
@given(values=st.lists(cells, max_size=6))
def test_column_equals_per_value(spec: ColumnSpec, options: TypeOptions,
                                 values: list[Any]) -> None:
    one = source_coercer(spec, options)
    expected = outcome(lambda vs: [one(v) for v in vs], values)
    assert outcome(column_coercer(spec, options), list(values)) == expected
