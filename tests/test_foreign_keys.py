"""Foreign keys of a SQLite target are enforced: the shipped example handler, run through a
source change that would orphan rows, fails naming model, key and constraint; nothing is
written (issue 8 item 4)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import drop_table, engine_url
from helpers import CliResult, build_pos, pos_example


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def synced(tmp_path: Path) -> Path:
    """The example's databases, the back office already in step with the POS."""
    build_pos.build(tmp_path / "work")
    done = pos_example(tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path


def _error(done: CliResult) -> dict[str, object]:
    out = json.loads(done.stdout)
    error: dict[str, object] = out["error"]
    return error


@pytest.mark.parametrize("models", [[], ["department"]], ids=["all-models", "model-subset"])
def test_deleting_a_department_its_products_still_need_fails(synced: Path,
                                                               models: list[str]) -> None:
    """The POS loses department 50 but keeps its items: deleting the department would
    orphan them. Full run or the subset `department`: exit 1, the target unchanged."""
    office = synced / "work" / "backoffice.db"
    with sqlite3.connect(synced / "work" / "pos.db") as pos:
        pos.execute("DELETE FROM dept WHERE dept_no = 50")
    before = _digest(office)
    done = pos_example(synced, *models, "--delete", "--allow-mass-delete", "--json")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    error = _error(done)
    assert error["model"] == "department"
    assert error["key"] in ([50], ["50"], 50, "50")
    message = str(error["message"])
    assert "product" in message and "department_id" in message, message
    assert "nothing was written" in message
    assert _digest(office) == before
    with sqlite3.connect(office) as conn:
        assert conn.execute("SELECT count(*) FROM department WHERE id = 50").fetchone() == (1,)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_an_item_pointing_at_a_missing_department_fails(synced: Path) -> None:
    office = synced / "work" / "backoffice.db"
    with sqlite3.connect(synced / "work" / "pos.db") as pos:
        upc = pos.execute("SELECT min(upc) FROM item WHERE dept_no = 50").fetchone()[0]
        pos.execute("DELETE FROM item WHERE dept_no = 50 AND upc <> ?", (upc,))
        pos.execute("DELETE FROM dept WHERE dept_no = 50")
    before = _digest(office)
    done = pos_example(synced, "--delete", "--allow-mass-delete", "--json")
    assert done.returncode == 1, (done.stdout, done.stderr)
    error = _error(done)
    assert error["model"] == "department", error
    assert "product" in str(error["message"])
    assert _digest(office) == before

    with sqlite3.connect(synced / "work" / "pos.db") as pos:
        pos.execute("UPDATE item SET dept_no = 99 WHERE upc = ?", (upc,))
    done = pos_example(synced, "product", "--json")
    assert done.returncode == 1, (done.stdout, done.stderr)
    error = _error(done)
    assert "FOREIGN KEY" in json.dumps(error), error
    assert upc in json.dumps(error), error
    assert _digest(office) == before


def test_deferred_foreign_keys_are_checked_before_commit(tmp_path: Path) -> None:
    """A DEFERRABLE INITIALLY DEFERRED key is checked at COMMIT: the run fails naming the
    table, the row's key and the constraint; rows that were orphans before do not block."""
    from syncline import Handler, Importer, RunOptions
    from syncline.errors import TargetError

    source = tmp_path / "source.db"
    target = tmp_path / "target.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE p (id INTEGER PRIMARY KEY)")
        conn.execute("INSERT INTO p VALUES (2)")
    with sqlite3.connect(target) as conn:
        conn.execute("CREATE TABLE p (id INTEGER PRIMARY KEY)")
        conn.execute("CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p (id)"
                     " DEFERRABLE INITIALLY DEFERRED)")
        conn.executemany("INSERT INTO p VALUES (?)", [(1,), (2,)])
        conn.executemany("INSERT INTO c VALUES (?, ?)", [(10, 1), (11, 77)])  # 11: orphan

    class Parents(Importer):
        table = "p"
        key = ("id",)
        source_query = "SELECT id FROM p"

    class Job(Handler):
        importers = (Parents,)

    job = Job(source_url=f"sqlite:///{source}", target_url=f"sqlite:///{target}")
    before = _digest(target)
    with pytest.raises(TargetError) as caught:
        job.run(RunOptions(delete=True, allow_mass_delete=True))
    message = str(caught.value)
    assert caught.value.model == "p"
    assert "table c" in message and "p_id" in message, message
    assert _digest(target) == before

    with sqlite3.connect(target) as conn:
        conn.execute("DELETE FROM c WHERE id = 10")
    result = job.run(RunOptions(delete=True, allow_mass_delete=True))
    assert result.committed  # the orphan row 11 was there before: not this run's doing
    engine = sa.create_engine(f"sqlite:///{target}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id FROM p")).scalars().all() == [2]
    engine.dispose()


def _parent_child(engine: sa.Engine, deferred: bool) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    parent, child = f"fkp_{suffix}", f"fkc_{suffix}"
    when = " DEFERRABLE INITIALLY DEFERRED" if deferred else ""
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {parent} (id INTEGER PRIMARY KEY)"))
        conn.execute(sa.text(f"CREATE TABLE {child} (id INTEGER PRIMARY KEY, p_id INTEGER,"
                             f" CONSTRAINT {child}_p FOREIGN KEY (p_id)"
                             f" REFERENCES {parent} (id){when})"))
        conn.execute(sa.text(f"INSERT INTO {parent} VALUES (1), (2), (3)"))
        conn.execute(sa.text(f"INSERT INTO {child} VALUES (10, 2)"))
    return parent, child


@pytest.mark.parametrize("engine_choice", ["memory", "database"])
def test_orphaning_delete_named_on_every_database(any_engine: sa.Engine, tmp_path: Path,
                                                   engine_choice: str) -> None:
    """Both diff engines, all three databases: the delete is refused naming the key that is
    still referenced, the child table and the constraint; nothing is written."""
    from syncline import Handler, Importer, RunOptions
    from syncline.errors import TargetError


    parent, child = _parent_child(any_engine, deferred=False)
    source = tmp_path / "source.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE p (id INTEGER PRIMARY KEY)")
        conn.execute("INSERT INTO p VALUES (1)")

    class Parents(Importer):
        table = parent
        key = ("id",)
        source_query = "SELECT id FROM p"

    class Job(Handler):
        importers = (Parents,)

    try:
        job = Job(source_url=f"sqlite:///{source}", target_url=engine_url(any_engine))
        with pytest.raises(TargetError) as caught:
            job.run(RunOptions(delete=True, allow_mass_delete=True, engine=engine_choice))
        message = str(caught.value)
        assert caught.value.model is not None, message
        assert caught.value.key == (2,), message
        assert child in message and "p_id" in message and "nothing was written" in message
        with any_engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT count(*) FROM {parent}")).scalar() == 3
    finally:
        drop_table(any_engine, child)
        drop_table(any_engine, parent)


def test_deferred_foreign_keys_checked_before_commit_postgresql(pg_engine: sa.Engine,
                                                                  tmp_path: Path) -> None:
    from syncline import Handler, Importer, RunOptions
    from syncline.errors import TargetError


    parent, child = _parent_child(pg_engine, deferred=True)
    source = tmp_path / "source.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE p (id INTEGER PRIMARY KEY)")
        conn.execute("INSERT INTO p VALUES (1)")

    class Parents(Importer):
        table = parent
        key = ("id",)
        source_query = "SELECT id FROM p"

    class Job(Handler):
        importers = (Parents,)

    try:
        job = Job(source_url=f"sqlite:///{source}", target_url=engine_url(pg_engine))
        with pytest.raises(TargetError) as caught:
            job.run(RunOptions(delete=True, allow_mass_delete=True))
        message = str(caught.value)
        assert f"{child}_p" in message and "(id)=(2)" in message, message
        assert "nothing was written" in message
        with pg_engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT count(*) FROM {parent}")).scalar() == 3
    finally:
        drop_table(pg_engine, child)
        drop_table(pg_engine, parent)
