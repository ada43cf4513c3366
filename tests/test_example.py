"""The point-of-sale example (examples/), end to end through the command line.

The example's runs are processes, as the README runs them: the example handler finds its
databases through ``SYNCLINE_EXAMPLE_DIR`` when it is imported. Runs that touch no
database (listing models, an unknown handler) run in this process.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from helpers import build_example, build_pos, run_cli, run_example

MODELS = ["department", "vendor", "product"]


def run_json(cwd: Path, *args: str) -> dict[str, Any]:
    done = run_example(cwd, "import", "pos-example", "--json", *args)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def counts(result: dict[str, Any]) -> dict[str, tuple[int, int, int, int]]:
    """model -> (created, updated, deleted, unchanged); fails on any row error."""
    out = {}
    for name, model in result["models"].items():
        assert model["errors"] == [], (name, model["errors"])
        out[name] = (model["created"], model["updated"], model["deleted"], model["unchanged"])
    return out


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A directory with freshly built databases in ./work; the CLI runs from here."""
    build_example(tmp_path)
    return tmp_path


def test_main_job_end_to_end(work: Path) -> None:
    office = work / "work" / "backoffice.db"
    before = digest(office)

    dry = run_json(work, "--dry-run")
    assert dry["dry_run"] is True
    assert list(dry["models"]) == MODELS
    assert counts(dry) == {"department": (5, 0, 0, 0), "vendor": (8, 0, 0, 0),
                           "product": (2000, 0, 0, 0)}
    assert digest(office) == before, "a dry run changed the back-office database"

    real = run_json(work)
    assert real["dry_run"] is False
    assert counts(real) == counts(dry)
    with sqlite3.connect(office) as conn:
        assert conn.execute("SELECT count(*) FROM product").fetchone() == (2000,)
        assert conn.execute("SELECT name FROM department WHERE id = 30").fetchone() == (
            "Frozen Foods",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []

    again = run_json(work)
    assert counts(again) == {"department": (0, 0, 0, 5), "vendor": (0, 0, 0, 8),
                             "product": (0, 0, 0, 2000)}

    build_example(work, "--dir", str(work / "work"), "--edit")
    resync = run_json(work, "--diff")
    assert counts(resync) == {"department": (0, 0, 0, 5), "vendor": (0, 0, 0, 8),
                              "product": (0, 1, 0, 1999)}


def test_normalized_values(work: Path) -> None:
    """Title case, Decimal prices and booleans from the POS's 'Y'/'N'/blank flags."""
    assert run_example(work, "import", "pos-example").returncode == 0
    with sqlite3.connect(work / "work" / "pos.db") as pos:
        items = {upc: (descr, price, flag) for upc, descr, price, flag in pos.execute(
            "SELECT upc, descr, price, active_flag FROM item")}
    with sqlite3.connect(work / "work" / "backoffice.db") as office:
        products = {upc: (descr, price, active) for upc, descr, price, active in office.execute(
            "SELECT upc, description, CAST(price AS TEXT), active FROM product")}
    assert products.keys() == items.keys()
    flags = set()
    for upc, (descr, price, flag) in items.items():
        description, office_price, active = products[upc]
        assert description.upper() == descr and description != descr
        assert float(office_price) == float(price)
        assert active == (0 if flag == "N" else 1)
        flags.add(flag)
    assert {"Y", "N", "", None} <= flags, "the sample data lacks a POS quirk"


def test_list_models_in_order() -> None:
    for spec in ("pos-example", "syncline_examples.pos:PosToBackOffice"):
        done = run_cli("import", spec, "--list-models")
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == MODELS


def test_unknown_handler_is_a_one_line_error() -> None:
    done = run_cli("import", "no-such-handler")
    assert done.stderr.startswith("Error: ")
    assert "no-such-handler" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_handler_exits_1() -> None:
    assert run_cli("import", "no-such-handler").returncode == 1


def test_one_model_only(work: Path) -> None:
    run_json(work)
    build_example(work, "--dir", str(work / "work"), "--edit")
    result = run_json(work, "product")
    assert counts(result) == {"product": (0, 1, 0, 1999)}


def _remove_department(pos_path: Path, dept_no: int) -> int:
    """Delete a department and its items from the POS; the number of items removed."""
    with sqlite3.connect(pos_path) as pos:
        removed = pos.execute("DELETE FROM item WHERE dept_no = ?", (dept_no,)).rowcount
        pos.execute("DELETE FROM dept WHERE dept_no = ?", (dept_no,))
    assert removed > 0
    return int(removed)


def _sqlite_with_foreign_keys(path: Path) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{path}")

    @sa.event.listens_for(engine, "connect")
    def _on(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA foreign_keys = ON")

    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def office_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty back office that ENFORCES its foreign keys, and fresh POS data in tmp_path.

    An engine, not a URL: the test owns it and closes its connections.
    """
    build_pos.build(tmp_path / "work")
    if request.param == "sqlite":
        engine = _sqlite_with_foreign_keys(tmp_path / "work" / "backoffice.db")
        yield engine
        engine.dispose()
        return
    pg: sa.Engine = request.getfixturevalue("pg_engine")
    schema = f"pos_{uuid.uuid4().hex[:10]}"
    with pg.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        conn.execute(sa.text(f"SET LOCAL search_path TO {schema}"))
        for statement in build_pos.BACKOFFICE_SCHEMA.split(";"):
            if statement.strip():
                conn.execute(sa.text(statement))
    engine = sa.create_engine(pg.url.update_query_dict({"options": f"-csearch_path={schema}"}))
    try:
        yield engine
    finally:
        engine.dispose()
        with pg.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))


def test_foreign_keys_parents_created_first_children_deleted_first(
        office_target: sa.Engine, tmp_path: Path) -> None:
    from syncline import RunOptions
    from syncline_examples.pos import PosToBackOffice

    pos_path = tmp_path / "work" / "pos.db"
    handler = PosToBackOffice(source_url=f"sqlite:///{pos_path}",
                              target_url=office_target)  # type: ignore[arg-type]

    # the foreign keys are really enforced: a parent with children cannot go first
    with pytest.raises(sa.exc.IntegrityError), office_target.begin() as conn:
        conn.execute(sa.text("INSERT INTO department VALUES (1, 'x')"))
        conn.execute(sa.text("INSERT INTO product VALUES ('1', 'x', 1, 1, NULL, TRUE)"))
        conn.execute(sa.text("DELETE FROM department"))

    created = handler.run(RunOptions())
    assert [(n, m.created) for n, m in created.models.items()] == [
        ("department", 5), ("vendor", 8), ("product", 2000)]

    removed = _remove_department(pos_path, 50)
    result = handler.run(RunOptions(delete=True, allow_mass_delete=True))
    assert result.committed
    deleted = {name: model.deleted for name, model in result.models.items()}
    assert deleted == {"department": 1, "vendor": 0, "product": removed}
    with office_target.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM product")).scalar() == 2000 - removed
        assert conn.execute(sa.text("SELECT count(*) FROM department WHERE id = 50")).scalar() == 0
