"""RELIABILITY row 44: the memory engine and the in-database engine agree.

The same source, target and options go through ``engine="memory"`` and
``engine="database"`` (each on its own copy of the target); the outcome (success or the
exception's type), the counts, the change lists, the row errors (type, row, key), the
rejected rows and the final table must be the same. Sources and targets are small and
nasty: text keys that differ by case and surrounding whitespace, NULL and empty keys,
duplicates, values that do not fit an integer column, NULLs; single and composite keys
(k, n); targets with and without a primary key (so also holding duplicate or NULL keys);
every combination of create/update/delete, --on-duplicate, --on-error (skip writes a
rejects file, compared too), dry run and text stripping on or off.

Keys mode (``RunOptions(keys=...)``) runs only in memory: the database engine refuses it
with a ConfigError, which is asserted here. The memory engine's keys mode is then checked
against the database engine's full run on a copy of the target instead: given keys
(also mistyped, empty and collation-equal ones) are coerced like source keys or refused
with KeyProblemError; target records outside the given keys (as the target's collation
matches keys) are never touched; and where both runs commit, the records of the given
keys end as the full run leaves them (so a record the source holds is never deleted).

SQLite runs the most examples; PostgreSQL and MariaDB (case-insensitive, PAD SPACE
collation) run fewer. ``derandomize=True`` keeps CI reproducible.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import drop_table
from syncline import ConfigError, Handler, Importer, IterableSource, RunOptions
from syncline.errors import KeyProblemError
from syncline.result import Result
from syncline.types import TypeOptions

SOURCE_KEYS = ["a", "A", " a", "a ", "á", "b", "B", "c", "", "  ", None]
SOURCE_N = [None, 1, 2, "2", "abc", ""]
SOURCE_S = [None, "x", "X", "", " x"]
TARGET_KEYS = ["a", "A", " a", "a ", "Á", "b", "B", "c", "", None]
#: keys mode's given keys: also collation-equal, mistyped (3 into a text key, "1" and "x"
#: into the integer part of a composite key), empty and NULL ones
GIVEN_KEYS = ["a", "A", "a ", " a", "á", "b", "c", "z", 3, "", None]
GIVEN_N = [1, "1", 2, "x"]
TARGET_N = [None, 1, 2]
TARGET_S = [None, "x", "X", ""]

Row = tuple[Any, Any, Any]


@dataclass(frozen=True)
class Case:
    target: list[Row]
    primary_key: bool
    source: list[Row]
    options: dict[str, Any]
    #: the key is (k, n) instead of (k)
    composite: bool = False

    @property
    def key(self) -> tuple[str, ...]:
        return ("k", "n") if self.composite else ("k",)


def _row(keys: list[Any], ns: list[Any], ss: list[Any]) -> st.SearchStrategy[Row]:
    return st.tuples(st.sampled_from(keys), st.sampled_from(ns), st.sampled_from(ss))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    primary_key = draw(st.booleans())
    target = draw(st.lists(_row(TARGET_KEYS, TARGET_N, TARGET_S), max_size=12))
    source = draw(st.lists(_row(SOURCE_KEYS, SOURCE_N, SOURCE_S), max_size=12))
    options = {
        "create": draw(st.booleans()),
        "update": draw(st.booleans()),
        "delete": draw(st.booleans()),
        "on_duplicate": draw(st.sampled_from(["error", "first", "last"])),
        "on_error": draw(st.sampled_from(["abort", "skip"])),
        "dry_run": draw(st.booleans()),
        "types": TypeOptions(strip_text=draw(st.integers(0, 3)) > 0),
        # the CLI reads changes back only for --diff: then only the counts are compared
        "collect_changes": draw(st.integers(0, 3)) > 0,
    }
    if draw(st.integers(0, 4)) == 0:
        options["keys"] = draw(st.lists(
            st.tuples(st.sampled_from(GIVEN_KEYS), st.sampled_from(GIVEN_N)),
            min_size=1, max_size=3))
    return Case(target, primary_key, source, options, composite=draw(st.integers(0, 3)) == 0)


# -- one target per engine ------------------------------------------------------------
@dataclass
class Target:
    url: str | sa.Engine
    engine: sa.Engine
    table: str


def _unique_target(rows: list[Row], dialect: str, composite: bool) -> list[Row]:
    """Rows a primary key allows: one per key as the dialect compares keys."""
    seen: set[Any] = set()
    kept = []
    for k, n, s in rows:
        if k is None or (composite and n is None):
            continue
        same = (fold_as(dialect, k), composite and n)
        if same not in seen:
            seen.add(same)
            kept.append((k, n, s))
    return kept


def create_target(engine: sa.Engine, table: str, case: Case) -> list[Row]:
    rows = (_unique_target(case.target, engine.dialect.name, case.composite)
            if case.primary_key else case.target)
    metadata = sa.MetaData()
    t = sa.Table(table, metadata,
                 sa.Column("k", sa.String(20), primary_key=case.primary_key,
                           nullable=not case.primary_key),
                 sa.Column("n", sa.Integer, primary_key=case.primary_key and case.composite,
                           nullable=not (case.primary_key and case.composite)),
                 sa.Column("s", sa.String(20)))
    metadata.create_all(engine)
    if rows:
        with engine.begin() as conn:
            conn.execute(t.insert(), [{"k": k, "n": n, "s": s} for k, n, s in rows])
    return rows


def table_rows(engine: sa.Engine, table: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        t = sa.Table(table, sa.MetaData(), autoload_with=conn)
        found = [tuple(r) for r in conn.execute(sa.select(t.c.k, t.c.n, t.c.s))]
    return sorted(found, key=repr)


def fold_as(dialect: str, key: str) -> str:
    """A text key as the dialect's (default) collation compares it."""
    if dialect != "mysql":
        return key
    decomposed = unicodedata.normalize("NFD", key.rstrip(" ").casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def keys_of(case: Case) -> list[tuple[Any, ...]]:
    """The keys of keys mode, as tuples of the case's key."""
    return [(k, n) if case.composite else (k,) for k, n in case.options["keys"]]


def given_scope(case: Case, dialect: str) -> set[tuple[Any, ...]] | None:
    """The given keys as the target matches them, coerced like source keys (stripped
    text, whole numbers); None when one of them cannot be a key (a refusal is due)."""
    scope = set()
    for key in keys_of(case):
        k = key[0]
        text = (str(k) if k is not None else "").strip()
        if not text:
            return None
        if case.composite:
            n = key[1]
            if isinstance(n, str) and not n.strip().lstrip("-").isdigit():
                return None
            scope.add((fold_as(dialect, text), int(n)))
        else:
            scope.add((fold_as(dialect, text),))
    return scope


def in_scope(row: tuple[Any, ...], case: Case, dialect: str,
             scope: set[tuple[Any, ...]]) -> bool:
    k, n = row[0], row[1]
    if k is None or (case.composite and n is None):
        return False
    key = (fold_as(dialect, k), n) if case.composite else (fold_as(dialect, k),)
    return key in scope


def check_keys_mode(memory: dict[str, Any], database: dict[str, Any], case: Case,
                    before: list[Row], dialect: str) -> None:
    """Keys mode in memory against the database engine's full run (see the docstring)."""
    scope = given_scope(case, dialect)
    original = sorted(before, key=repr)
    if scope is None:
        assert memory["raised"] == "KeyProblemError", memory
        assert memory["table"] == original
        return

    def split(rows: list[Any]) -> tuple[list[Any], list[Any]]:
        inside = sorted((tuple(r) for r in rows if in_scope(tuple(r), case, dialect, scope)),
                        key=repr)
        outside = sorted((tuple(r) for r in rows
                          if not in_scope(tuple(r), case, dialect, scope)), key=repr)
        return inside, outside

    inside_before, outside_before = split(before)
    inside, outside = split(memory["table"])
    assert outside == outside_before, "keys mode touched a record outside the given keys"
    if memory["raised"] is not None or not memory.get("committed"):
        assert inside == inside_before
        return
    if database["raised"] is None and database.get("committed"):
        assert inside == split(database["table"])[0], (memory, database)


# -- one run, described as plain data ---------------------------------------------------
def run(target: Target, case: Case, engine: str, rejects: Path) -> dict[str, Any]:
    records = [{"k": k, "n": n, "s": s} for k, n, s in case.source]
    importer = Importer(table=target.table, key=case.key,
                        source=IterableSource(records, columns=["k", "n", "s"]))
    # a handler name of its own: the run lock is per name, and other test runs share servers
    handler = Handler(target_url=target.url, importers=[importer],  # type: ignore[arg-type]
                      name=f"equivalence_{uuid.uuid4().hex[:8]}")
    options = RunOptions(engine=engine,  # type: ignore[arg-type]
                         rejects=rejects if case.options["on_error"] == "skip" else None,
                         **{k: v for k, v in case.options.items() if k != "keys"},
                         keys=None if "keys" not in case.options
                         else keys_of(case))
    outcome: dict[str, Any] = {}
    result: Result | None
    try:
        result = handler.run(options)
        outcome["raised"] = None
    except Exception as exc:  # the type is what is compared: any exception counts
        outcome["raised"] = type(exc).__name__
        outcome["raised_errors"] = sorted(
            (type(e).__name__, e.row, repr(e.key)) for e in getattr(exc, "errors", []))
        result = getattr(exc, "result", None)
        if outcome["raised"] not in ("RowErrors", "GuardError", "KeyProblemError"):
            outcome["message"] = str(exc)
    if result is not None:
        outcome["committed"] = result.committed
        for name, model in result.models.items():
            data = model.as_dict(changes=True)
            data.pop("seconds")
            data.pop("engine")  # which engine ran: the one thing that differs by design
            data.pop("warnings")
            data["errors"] = sorted((e["type"], e["row"], repr(e["key"]))
                                    for e in data["errors"])
            data["changes"] = sorted(json.dumps(c, sort_keys=True, default=str)
                                     for c in data.get("changes", []))
            if not options.collect_changes:
                data.pop("changes")  # the database engine counted without listing
            outcome[name] = data
    outcome["table"] = table_rows(target.engine, target.table)
    if rejects.exists():
        outcome["rejects"] = rejects.read_text(encoding="utf-8")
        rejects.unlink()
    return outcome


def _renamed(outcome: dict[str, Any], table: str) -> dict[str, Any]:
    """The outcome with the model (= table) name made neutral."""
    out = dict(outcome)
    if table in out:
        out["model"] = out.pop(table)
    if "message" in out:
        out["message"] = out["message"].replace(table, "T")
    if "rejects" in out:
        out["rejects"] = out["rejects"].replace(table, "T")
    return out


def check_equivalent(make: Callable[[str], Target], case: Case, scratch: Path) -> None:
    memory_target, database_target = make("m"), make("d")
    try:
        before = create_target(memory_target.engine, memory_target.table, case)
        create_target(database_target.engine, database_target.table, case)
        memory = _renamed(run(memory_target, case, "memory", scratch / "m.csv"),
                          memory_target.table)
        if "keys" in case.options:
            with pytest.raises(ConfigError, match="keys"):
                _run_raising(database_target, case, scratch / "d.csv")
            assert table_rows(database_target.engine, database_target.table) == sorted(
                before, key=repr)
            full = Case(case.target, case.primary_key, case.source,
                        {k: v for k, v in case.options.items() if k != "keys"},
                        composite=case.composite)
            database = _renamed(run(database_target, full, "database", scratch / "d.csv"),
                                database_target.table)
            check_keys_mode(memory, database, case, before, memory_target.engine.dialect.name)
            return
        database = _renamed(run(database_target, case, "database", scratch / "d.csv"),
                            database_target.table)
        assert memory == database
    finally:
        drop_table(memory_target.engine, memory_target.table)
        drop_table(database_target.engine, database_target.table)


def _run_raising(target: Target, case: Case, rejects: Path) -> None:
    records = [{"k": k, "n": n, "s": s} for k, n, s in case.source]
    importer = Importer(table=target.table, key=case.key,
                        source=IterableSource(records, columns=["k", "n", "s"]))
    Handler(target_url=target.url, importers=[importer],  # type: ignore[arg-type]
            name=f"equivalence_{uuid.uuid4().hex[:8]}").run(
        RunOptions(engine="database", keys=keys_of(case),
                   **{k: v for k, v in case.options.items() if k != "keys"},
                   rejects=rejects if case.options["on_error"] == "skip" else None))


# -- the properties, per database ---------------------------------------------------------
@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("equivalence")


def _sqlite_targets(scratch: Path) -> Callable[[str], Target]:
    def make(suffix: str) -> Target:
        path = scratch / f"{uuid.uuid4().hex[:8]}_{suffix}.db"
        engine = sa.create_engine(f"sqlite:///{path}")
        return Target(f"sqlite:///{path}", engine, "item")
    return make


def _server_targets(engine: sa.Engine) -> Callable[[str], Target]:
    def make(suffix: str) -> Target:
        return Target(engine, engine, f"t_{uuid.uuid4().hex[:8]}_{suffix}")
    return make


OPTIONS = {"create": True, "update": True, "delete": False, "on_duplicate": "error",
           "on_error": "abort", "dry_run": False}
#: the disagreements found, one case each (see the focused tests below and docs/engines.md)
DUPLICATE_SOURCE_KEYS = Case([], False, [("a", 1, "x"), ("a", 2, "x"), ("b", 1, "x")],
                             {**OPTIONS, "create": False})
PROTECTED_DIFFERING = Case([("a", 1, "x")], True, [("a", 2, "x"), ("a", "abc", "x")],
                           {**OPTIONS, "on_duplicate": "last", "on_error": "skip"})
PROTECTED_MISSING = Case([("a", 1, "x"), ("b", 1, "x")], True, [("a", "abc", "x"), ("b", 1, "x")],
                         {**OPTIONS, "on_error": "skip"})
TARGET_DUPLICATES = Case([("c", 1, "x"), ("c", 2, "x"), ("b", 1, "x")], False, [("c", 3, "x")],
                         {**OPTIONS, "delete": True})
TARGET_NULL_KEY = Case([(None, 1, "x"), ("b", 1, "x")], False, [("b", 1, "x")],
                       {**OPTIONS, "delete": True})
CASE_SPELLING = Case([("B", 1, "x"), ("c", 1, "x")], True, [("b", 2, "x"), ("A", 1, "x")],
                     {**OPTIONS, "delete": True, "dry_run": True})
TRAILING_SPACE_KEY = Case([("a ", 1, "x"), ("b", 1, "x")], True, [("a", 2, "x"), ("b", 1, "x")],
                          {**OPTIONS, "delete": True})
#: keys mode: a mistyped given key ("1" for the integer part) deleted the record the source
#: holds; a given key matched records its collation-equal neighbours
KEYS_MISTYPED = Case([("a", 1, "x"), ("b", 1, "x")], True, [("a", 1, "y"), ("b", 1, "x")],
                     {**OPTIONS, "delete": True, "keys": [("a", "1")]}, composite=True)
KEYS_COLLATION_EQUAL = Case([("á", 1, "x"), ("a", 1, "y"), ("b", 1, "x")], False,
                            [("a", 1, "y"), ("b", 1, "z")],
                            {**OPTIONS, "delete": True, "keys": [("a", 1), ("b", 1)]})
EXAMPLES = [KEYS_MISTYPED, KEYS_COLLATION_EQUAL, DUPLICATE_SOURCE_KEYS, PROTECTED_DIFFERING,
            PROTECTED_MISSING, TARGET_DUPLICATES, TARGET_NULL_KEY, CASE_SPELLING,
            TRAILING_SPACE_KEY]


def regression(*found: Case) -> Callable[[Any], Any]:
    """The disagreements found so far, kept as explicit examples of every property."""
    def decorate(test: Any) -> Any:
        for case in found:
            test = example(case=case)(test)
        return test
    return decorate


@regression(*EXAMPLES)
@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cases())
def test_engines_agree_on_sqlite(scratch: Path, case: Case) -> None:
    make = _sqlite_targets(scratch)
    targets: list[Target] = []

    def tracked(suffix: str) -> Target:
        targets.append(make(suffix))
        return targets[-1]
    try:
        check_equivalent(tracked, case, scratch)
    finally:
        for t in targets:
            t.engine.dispose()


@regression(*EXAMPLES)
@settings(max_examples=50, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cases())
def test_engines_agree_on_postgresql(pg_engine: sa.Engine, scratch: Path, case: Case) -> None:
    check_equivalent(_server_targets(pg_engine), case, scratch)


@regression(*EXAMPLES)
@settings(max_examples=50, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cases())
def test_engines_agree_on_mariadb(mysql_engine: sa.Engine, scratch: Path, case: Case) -> None:
    check_equivalent(_server_targets(mysql_engine), case, scratch)


# -- one test per disagreement found (each failed before its rule was written) ---------------
def both(make: Callable[[str], Target], case: Case, scratch: Path
         ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The outcomes of both engines on their own copies of the target."""
    outcomes = []
    for engine in ("memory", "database"):
        target = make(engine[0])
        try:
            create_target(target.engine, target.table, case)
            outcomes.append(_renamed(run(target, case, engine, scratch / f"{engine}.csv"),
                                     target.table))
        finally:
            drop_table(target.engine, target.table)
            if isinstance(target.url, str):
                target.engine.dispose()  # a SQLite file of its own
    return outcomes[0], outcomes[1]


def counts(outcome: dict[str, Any]) -> tuple[int, ...]:
    m = outcome["model"]
    return (m["created"], m["updated"], m["deleted"], m["unchanged"], m["skipped"])


def test_duplicate_source_keys_compute_no_change_set(scratch: Path) -> None:
    """Rule 1. Was: memory counted the key once (its last row), the database every row."""
    case = DUPLICATE_SOURCE_KEYS
    for outcome in both(_sqlite_targets(scratch), case, scratch):
        assert outcome["raised"] == "RowErrors"
        assert outcome["raised_errors"] == [("KeyProblemError", None, "None")]
        assert counts(outcome) == (0, 0, 0, 0, 0)


def test_protected_record_that_differs_is_skipped(scratch: Path) -> None:
    """Rule 2 (issue 9's example). Was: the database counted 'a' unchanged, memory nowhere."""
    case = PROTECTED_DIFFERING
    memory, database = both(_sqlite_targets(scratch), case, scratch)
    assert memory == database
    assert counts(memory) == (0, 0, 0, 0, 1)
    assert memory["table"] == [("a", 1, "x")]


def test_protected_record_missing_from_the_source_is_skipped(scratch: Path) -> None:
    """Rule 2. Was: with deletes off the database counted 'a' skipped, memory nowhere."""
    case = PROTECTED_MISSING
    memory, database = both(_sqlite_targets(scratch), case, scratch)
    assert memory == database
    assert counts(memory) == (0, 0, 0, 1, 1)


def test_target_with_duplicate_keys_is_refused(scratch: Path) -> None:
    """Rule 3. Was: memory failed on a count mismatch; the database updated and deleted
    every copy, committed, and counted a negative number of unchanged rows."""
    case = TARGET_DUPLICATES
    for outcome in both(_sqlite_targets(scratch), case, scratch):
        assert outcome["raised"] == "KeyProblemError"
        assert counts(outcome) == (0, 0, 0, 0, 0)
        assert outcome["table"] == sorted(case.target, key=repr)
    target = _sqlite_targets(scratch)("x")
    create_target(target.engine, target.table, case)
    importer = Importer(table=target.table, key=case.key, source=IterableSource(
        [{"k": k, "n": n, "s": s} for k, n, s in case.source]))
    with pytest.raises(KeyProblemError) as raised:
        Handler(target_url=target.url, importers=[importer]).run(  # type: ignore[arg-type]
            RunOptions(delete=True))
    target.engine.dispose()
    assert "duplicate key(s) in (k): 'c' (2 rows)" in str(raised.value)
    assert "fix the source" not in str(raised.value)  # the advice is the error's own


def test_target_record_with_a_null_key_is_skipped_never_deleted(scratch: Path) -> None:
    """Rule 4. Was: both engines counted it as a delete that the key could not reach, and
    every run with --delete failed on the count check."""
    case = TARGET_NULL_KEY
    memory, database = both(_sqlite_targets(scratch), case, scratch)
    assert memory == database
    assert memory["raised"] is None
    assert counts(memory) == (0, 0, 0, 1, 1)
    assert memory["table"] == sorted(case.target, key=repr)


def test_change_keys_are_spelled_as_their_record(mysql_engine: sa.Engine,
                                                 scratch: Path) -> None:
    """Rule 5, on a case-insensitive target. Was: memory reported the case-folded key."""
    case = CASE_SPELLING
    memory, database = both(_server_targets(mysql_engine), case, scratch)
    assert memory == database
    keys = sorted((json.loads(c)["op"], json.loads(c)["key"]) for c in memory["model"]["changes"])
    assert keys == [("create", ["A"]), ("delete", ["c"]), ("update", ["B"])]


def test_keys_match_as_the_collation_pads_them(mysql_engine: sa.Engine, scratch: Path) -> None:
    """Rule 6, on MariaDB (PAD SPACE: 'a ' = 'a'). Was: memory saw two keys, deleted 'a '
    and created 'a' (the insert then hit the primary key); the database updated 'a '."""
    case = TRAILING_SPACE_KEY
    memory, database = both(_server_targets(mysql_engine), case, scratch)
    assert memory == database
    assert memory["raised"] is None
    assert counts(memory) == (0, 1, 0, 1, 0)
    assert memory["table"] == [("a", 2, "x"), ("b", 1, "x")]
