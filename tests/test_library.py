"""The library API on a real SQLite file: importers, handlers, modes, keys, guards, errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from syncline import (
    ConfigError,
    GuardError,
    Handler,
    Importer,
    IterableSource,
    KeyProblemError,
    RejectedLimit,
    RowErrors,
    RunOptions,
)


@pytest.fixture
def db(tmp_path: Path) -> Any:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'lib.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE item (sku TEXT NOT NULL, site INTEGER NOT NULL,"
                             " name TEXT, price NUMERIC(10,2), PRIMARY KEY (sku, site))")
        conn.exec_driver_sql("INSERT INTO item VALUES ('a', 1, 'Apple', 1.5),"
                             " ('b', 1, 'Banana', 2), ('c', 2, 'Cherry', 3)")
    yield engine
    engine.dispose()


def rows(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM item ORDER BY sku, site")]


def handler(engine: sa.Engine, records: list[dict[str, Any]], **settings: Any) -> Handler:
    importer = Importer(table="item", key=("sku", "site"), source=IterableSource(records),
                        **settings)
    return Handler(target_url=engine, importers=[importer])  # type: ignore[arg-type]


SOURCE = [
    {"sku": "a", "site": 1, "name": "Apple", "price": "1.50"},
    {"sku": "b", "site": "1", "name": "Banana split", "price": "2"},
    {"sku": "d", "site": 2, "name": "Date", "price": "4.25"},
]


def test_full_sync_with_composite_key(db: sa.Engine) -> None:
    result = handler(db, SOURCE).run(RunOptions(delete=True))
    model = result.models["item"]
    assert (model.created, model.updated, model.deleted, model.unchanged) == (1, 1, 1, 1)
    assert result.committed
    assert rows(db) == [("a", 1, "Apple", 1.5), ("b", 1, "Banana split", 2),
                        ("d", 2, "Date", 4.25)]


def test_deletes_are_off_unless_asked(db: sa.Engine) -> None:
    result = handler(db, SOURCE).run(RunOptions())
    assert result.models["item"].deleted == 0
    assert result.models["item"].skipped == 1
    assert len(rows(db)) == 4


def test_dry_run_reports_and_writes_nothing(db: sa.Engine) -> None:
    before = rows(db)
    result = handler(db, SOURCE).run(RunOptions(delete=True, dry_run=True))
    assert result.models["item"].changes is not None
    assert result.models["item"].changes.total == 3
    assert not result.committed
    assert rows(db) == before


def test_keys_mode_touches_only_the_given_keys(db: sa.Engine) -> None:
    result = handler(db, SOURCE).run(RunOptions(delete=True, keys=[("b", 1), ("c", 2)]))
    model = result.models["item"]
    assert (model.created, model.updated, model.deleted) == (0, 1, 1)
    assert rows(db) == [("a", 1, "Apple", 1.5), ("b", 1, "Banana split", 2)]


def test_allow_delete_off_refuses_a_delete_run(db: sa.Engine) -> None:
    class NoDeletes(Importer):
        allow_delete = False

    importer = NoDeletes(table="item", key=("sku", "site"), source=IterableSource(SOURCE))
    with pytest.raises(ConfigError, match="never deletes"):
        Handler(target_url=db, importers=[importer]).run(  # type: ignore[arg-type]
            RunOptions(delete=True))


def test_normalize_source_hook_shapes_records(db: sa.Engine) -> None:
    class Upper(Importer):
        table = "item"
        key = ("sku", "site")
        fields = ("sku", "site", "name")

        def normalize_source(self, record: dict[str, Any]) -> dict[str, Any] | None:
            if record["sku"] == "skip":
                return None
            record["name"] = record["name"].upper()
            return record

    source = IterableSource([*SOURCE, {"sku": "skip", "site": 1, "name": "x"}])
    result = Handler(target_url=db, importers=[Upper(source=source)]).run()  # type: ignore[arg-type]
    assert result.models["item"].created == 1
    assert ("a", 1, "APPLE", 1.5) in rows(db)


def test_blank_and_null_keys_are_refused_with_rows(db: sa.Engine) -> None:
    bad = [*SOURCE, {"sku": "  ", "site": 1, "name": "x"}, {"sku": "e", "site": None}]
    with pytest.raises(RowErrors) as caught:
        handler(db, bad).run(RunOptions(delete=True))
    (problem,) = [e for e in caught.value.errors if isinstance(e, KeyProblemError)]
    assert "rows 4, 5" in str(problem)
    assert len(rows(db)) == 3


def test_duplicate_keys_fail_unless_asked(db: sa.Engine) -> None:
    dup = [*SOURCE, {"sku": "a ", "site": 1, "name": "Second apple", "price": "9"}]
    with pytest.raises(RowErrors, match="duplicate key") as caught:
        handler(db, dup).run()
    assert "rows 1, 4" in str(caught.value.errors[0])
    handler(db, dup).run(RunOptions(on_duplicate="first"))
    assert ("a", 1, "Apple", 1.5) in rows(db)
    handler(db, dup).run(RunOptions(on_duplicate="last"))
    assert ("a", 1, "Second apple", 9) in rows(db)


def test_all_row_errors_are_reported_together(db: sa.Engine) -> None:
    bad = [{"sku": f"x{i}", "site": 1, "name": "n", "price": "abc" if i % 2 else "1"}
           for i in range(10)]
    with pytest.raises(RowErrors) as caught:
        handler(db, bad).run()
    assert str(caught.value).startswith("5 row error(s)")
    first = caught.value.errors[0]
    assert (first.row, first.field, first.value, first.model) == (2, "price", "abc", "item")
    assert len(rows(db)) == 3


def test_skipped_rows_go_to_the_rejects_file_and_protect_their_keys(
    db: sa.Engine, tmp_path: Path
) -> None:
    bad = [{"sku": "a", "site": 1, "name": "Apple", "price": "oops"},
           {"sku": "z", "site": 1, "name": "Zed", "price": "1"}]
    rejects = tmp_path / "rejects.csv"
    result = handler(db, bad).run(RunOptions(on_error="skip", rejects=rejects, delete=True,
                                             allow_mass_delete=True,
                                             max_rejected=RejectedLimit(rows=1)))
    assert result.models["item"].rejected == 1
    text = rejects.read_text()
    assert "oops" in text and "price" in text
    # 'a' had a bad row: kept as it was, neither updated nor deleted
    assert rows(db) == [("a", 1, "Apple", 1.5), ("z", 1, "Zed", 1)]


def test_limits_refuse_before_anything_is_written(db: sa.Engine) -> None:
    before = rows(db)
    with pytest.raises(GuardError, match="--max-create") as caught:
        handler(db, SOURCE).run(RunOptions(max_create=0, delete=True))
    assert caught.value.guard == "max_create"
    assert rows(db) == before


def test_mass_delete_guard(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        conn.exec_driver_sql("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1"
                             " FROM s WHERE i < 100) INSERT INTO t SELECT i, 'x' FROM s")

    def run(**options: Any) -> Any:
        importer = Importer(table="t", key=("id",), source=IterableSource([], columns=["id", "v"]))
        return Handler(target_url=engine, importers=[importer]).run(  # type: ignore[arg-type]
            RunOptions(delete=True, **options))

    with pytest.raises(GuardError, match="--allow-mass-delete") as caught:
        run()
    assert caught.value.guard == "mass_delete"
    with pytest.raises(GuardError, match="mass-delete"):
        run(dry_run=True)
    with pytest.raises(GuardError, match="--max-delete"):
        run(max_delete=50)
    assert run(max_delete=100).models["t"].deleted == 100
    engine.dispose()


def test_a_key_is_required() -> None:
    with pytest.raises(ConfigError, match="no key"):
        Importer(table="t")


def test_decimal_values_are_compared_at_column_scale(db: sa.Engine) -> None:
    same = [{"sku": "a", "site": 1, "name": "Apple", "price": Decimal("1.500")}]
    result = handler(db, same).run(RunOptions(keys=[("a", 1)]))
    assert result.models["item"].unchanged == 1


def test_stages_do_not_outlive_the_run_on_a_pooled_connection(db: sa.Engine) -> None:
    handler(db, SOURCE).run(RunOptions(engine="database"))
    handler(db, SOURCE).run(RunOptions(engine="database", dry_run=True))
    with db.connect() as conn:
        temporary = conn.exec_driver_sql("SELECT name FROM sqlite_temp_master").all()
    assert temporary == []
