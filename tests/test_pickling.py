"""Every syncline error pickles with its data (issue 9): a consumer in another process (a
worker pool, a queue) gets the same error back — class, message, location and the data
each class carries, the failed run's result included."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from syncline import errors
from syncline.result import ModelResult, Result

WHERE: dict[str, Any] = {"model": "item", "key": ("A1", 3), "row": 7, "field": "price",
                         "value": "1,5", "file": "items.csv"}


def _all_errors() -> list[type[errors.SynclineError]]:
    found: list[type[errors.SynclineError]] = []
    pending = [errors.SynclineError]
    while pending:
        cls = pending.pop()
        if cls not in found:
            found.append(cls)
            pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__name__)


def _row_error() -> errors.CoercionError:
    return errors.CoercionError("not a number", model="item", row=2, field="price",
                                value="abc")


#: one instance of every class, with every attribute it carries set to a telling value
SAMPLES: dict[str, errors.SynclineError] = {
    "SynclineError": errors.SynclineError("something failed", **WHERE),
    "ConfigError": errors.ConfigError("no key", model="item"),
    "SourceError": errors.SourceError("cannot read the source", code="57014", **WHERE),
    "SourceDecodeError": errors.SourceDecodeError("undecodable byte", row=50_001,
                                                  file="x.csv"),
    "SourceParseError": errors.SourceParseError("unterminated quote", row=3, file="x.csv"),
    "HeaderError": errors.HeaderError("no column upc", file="x.csv", field="upc"),
    "TransientSourceError": errors.TransientSourceError("connection lost", code="57P01",
                                                        model="item"),
    "CoercionError": _row_error(),
    "KeyProblemError": errors.KeyProblemError("duplicate key", problems=[(("A1",), [1, 4])],
                                              model="item"),
    "HookError": errors.HookError("raised KeyError", hook="normalize_source", **WHERE),
    "RowErrors": errors.RowErrors("2 row error(s)", [_row_error(), _row_error()], total=5,
                                  model="item"),
    "GuardError": errors.GuardError("would delete 90 rows", guard="mass_delete",
                                    flag="--allow-mass-delete", model="item"),
    "OutputError": errors.OutputError("cannot write the rejects file", file="r.csv"),
    "TargetError": errors.TargetError("permission denied", code="42501", model="item"),
    "RefusedRow": errors.RefusedRow("the target refused the row", values=("A1", None, 3),
                                    unique=True, code=1062, **WHERE),
    "TransientTargetError": errors.TransientTargetError("deadlock detected", code="40P01",
                                                        model="item"),
    "TransientError": errors.TransientError("retry later"),
    "PartlyAppliedError": errors.PartlyAppliedError(
        "PUT /items/A2 failed: 500", applied={"created": [["A1"]], "updated": [],
                                              "deleted": [["B7"]]}, model="item"),
    "QueueError": errors.QueueError("2 of 5 claimed changes were taken over", model="item"),
    "AlreadyRunningError": errors.AlreadyRunningError(
        "already running", pid=4242, host="db1", since="2024-05-06T12:00:00Z", model="item"),
}


def test_every_error_class_has_a_sample() -> None:
    """A new error class needs a sample here, so that it is pickled too."""
    assert sorted(c.__name__ for c in _all_errors()) == sorted(SAMPLES)
    for name, sample in SAMPLES.items():
        assert type(sample).__name__ == name


def _same(a: errors.SynclineError, b: errors.SynclineError) -> None:
    assert type(a) is type(b)
    assert a.args == b.args
    assert str(a) == str(b)
    assert a.as_dict() == b.as_dict()
    assert set(vars(a)) == set(vars(b))
    for name, value in vars(a).items():
        other = getattr(b, name)
        if isinstance(value, list) and value and isinstance(value[0], errors.SynclineError):
            assert len(value) == len(other)
            for x, y in zip(value, other, strict=True):
                _same(x, y)
        elif isinstance(value, Result):
            assert value.as_dict(changes=True) == other.as_dict(changes=True)
        else:
            assert other == value, name


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip(name: str) -> None:
    error = SAMPLES[name]
    again = pickle.loads(pickle.dumps(error))
    _same(error, again)
    assert again.result is None


@pytest.mark.parametrize("name", ["GuardError", "RowErrors", "TransientTargetError"])
def test_round_trip_with_the_runs_result_and_a_cause(name: str) -> None:
    error = SAMPLES[name]
    error = pickle.loads(pickle.dumps(error))  # a copy: the samples stay as they are
    result = Result(dry_run=False, models={"item": ModelResult(
        "item", errors=[error], error_count=3, warnings=["a warning"], seconds=1.5)})
    result.error = error
    error.result = result
    error.add_note("a note")
    try:
        raise error from KeyError("the driver's own error")
    except errors.SynclineError as raised:
        again = pickle.loads(pickle.dumps(raised))
    _same(error, again)
    assert again.result is not None
    assert again.result.error is again  # the cycle survives
    assert again.result.models["item"].errors[0] is again
    assert again.result.models["item"].error_count == 3
    assert again.__notes__ == ["a note"]


def test_result_is_a_declared_attribute() -> None:
    assert errors.SynclineError("x").result is None
    assert "result" in errors.SynclineError.__annotations__


def test_a_result_with_flagged_deletes_pickles_without_the_plans_key_fold() -> None:
    """A run's result holds the plan's key fold (a bound method of a plan that holds the
    importer, maybe a local class): pickled, the deletes ``for_delete`` flagged keep their
    source rows, matched by their own keys."""
    from syncline.diff import ChangeSet, Delete

    class Local:  # a local object: cannot be pickled
        def fold(self, key: tuple[object, ...]) -> tuple[object, ...]:
            return tuple(str(p).lower() for p in key)

    changes = ChangeSet("item", ("upc", "qty"), ("upc",))
    changes.deletes.append(Delete(("AB",), ("AB", 1), ("upc", "qty")))
    model = ModelResult("item", changes=changes, flagged={("ab",): 7},
                        fold_key=Local().fold)
    again = pickle.loads(pickle.dumps(model))
    assert [(r.op, r.key, r.row, r.reason) for r in again.rows()] == [
        ("delete", ("AB",), 7, "for_delete")]
