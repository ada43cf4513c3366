"""Change-log triggers on the three databases (syncline.targets.triggers)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import drop_table
from syncline.errors import ConfigError
from syncline.targets import triggers
from syncline.targets.triggers import ChangeWaiter, install, uninstall, watched


def _changes(engine: sa.Engine, table: str) -> list[tuple[list[Any], str]]:
    """(key, op) of the table's change rows, in the order written."""
    log = triggers.changes_table(sa.MetaData())
    with engine.connect() as conn:
        rows = conn.execute(sa.select(log.c.key_json, log.c.op)
                            .where(log.c.table_name == table).order_by(log.c.id)).all()
    return [(json.loads(key), op) for key, op in rows]


def _trigger_names(engine: sa.Engine, table: str) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"
        elif engine.dialect.name == "postgresql":
            sql = ("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
                   " AND tgrelid = (SELECT oid FROM pg_class WHERE relname = :t"
                   " AND relnamespace = current_schema()::regnamespace)")
        else:
            sql = ("SELECT trigger_name FROM information_schema.triggers"
                   " WHERE event_object_schema = DATABASE() AND event_object_table = :t")
        return {row[0] for row in conn.execute(sa.text(sql), {"t": table})}


class Watched:
    """Tables made by one test, uninstalled and dropped after it."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.tables: list[str] = []

    def make(self, *columns: sa.Column[Any], name: str | None = None) -> sa.Table:
        name = name or f"t_{uuid.uuid4().hex[:10]}"
        table = sa.Table(name, sa.MetaData(), *columns)
        self.tables.append(name)
        with self.engine.begin() as conn:
            table.create(conn)
        return table

    def cleanup(self) -> None:
        for name in self.tables:
            if name in watched(self.engine):
                uninstall(self.engine, name)
            drop_table(self.engine, name)


@pytest.fixture
def made(any_engine: sa.Engine) -> Iterator[Watched]:
    tables = Watched(any_engine)
    try:
        yield tables
    finally:
        tables.cleanup()


def _simple(made: Watched, name: str | None = None) -> sa.Table:
    return made.make(sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                     sa.Column("v", sa.String(20)), name=name)


def test_insert_update_delete(made: Watched) -> None:
    engine, table = made.engine, _simple(made)
    install(engine, table.name, ["id"])
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}])
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == 1).values(v="x"))
    with engine.begin() as conn:
        conn.execute(table.delete().where(table.c.id == 2))
    assert _changes(engine, table.name) == [([1], "c"), ([2], "c"), ([1], "u"), ([2], "d")]
    assert watched(engine)[table.name] == ("id",)


def test_composite_key_and_key_change(made: Watched) -> None:
    engine = made.engine
    table = made.make(sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
                      sa.Column("code", sa.String(20), primary_key=True),
                      sa.Column("v", sa.String(20)))
    install(engine, table.name, ["n", "code"])
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"n": 1, "code": "a", "v": "x"}])
        conn.execute(table.update().values(v="y"))
        conn.execute(table.update().values(code="A"))  # a change of case is a change of key
        conn.execute(table.update().values(n=2, code="b"))
        conn.execute(table.delete())
    assert _changes(engine, table.name) == [
        ([1, "a"], "c"), ([1, "a"], "u"), ([1, "a"], "d"), ([1, "A"], "c"),
        ([1, "A"], "d"), ([2, "b"], "c"), ([2, "b"], "d")]
    assert watched(engine)[table.name] == ("n", "code")


def test_install_twice_is_one_row_per_change(made: Watched) -> None:
    engine, table = made.engine, _simple(made)
    install(engine, table.name, ["id"])
    install(engine, table.name, ["id"])
    with engine.begin() as conn:
        conn.execute(table.insert().values(id=7, v="a"))
    assert _changes(engine, table.name) == [([7], "c")]
    assert list(watched(engine)).count(table.name) == 1


def test_uninstall(made: Watched) -> None:
    engine, table = made.engine, _simple(made)
    install(engine, table.name, ["id"])
    assert len(_trigger_names(engine, table.name)) == 3
    with engine.begin() as conn:
        conn.execute(table.insert().values(id=1, v="a"))
    uninstall(engine, table.name)
    assert _changes(engine, table.name) == []  # pending rows went with it
    with engine.begin() as conn:
        conn.execute(table.insert().values(id=2, v="b"))
        conn.execute(table.update().values(v="c"))
        conn.execute(table.delete())
    assert _changes(engine, table.name) == []
    assert table.name not in watched(engine)
    assert _trigger_names(engine, table.name) == set()
    with pytest.raises(ConfigError, match=table.name):
        uninstall(engine, table.name)
    assert sa.inspect(engine).has_table(triggers.CHANGES)  # the log tables stay
    assert sa.inspect(engine).has_table(triggers.WATCHED)


def test_refusals(made: Watched) -> None:
    engine, table = made.engine, _simple(made)
    missing = f"t_{uuid.uuid4().hex[:10]}"
    with pytest.raises(ConfigError, match=missing) as raised:
        install(engine, missing, ["id"])
    assert engine.dialect.name in str(raised.value)  # names the database by its URL
    with pytest.raises(ConfigError, match="nope"):
        install(engine, table.name, ["id", "nope"])
    assert table.name not in watched(engine)
    assert _trigger_names(engine, table.name) == set()


def test_failed_install_leaves_nothing(made: Watched, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, table = made.engine, _simple(made)
    if engine.dialect.name == "mysql":
        pytest.skip("MariaDB's DDL commits as it goes")
    create = triggers._Sql.create
    monkeypatch.setattr(triggers._Sql, "create",
                        lambda self: [*create(self), "CREATE TRIGGER broken"])
    with pytest.raises(sa.exc.DBAPIError):
        install(engine, table.name, ["id"])
    assert _trigger_names(engine, table.name) == set()
    assert table.name not in watched(engine)


def test_unwatched_on_a_fresh_database(tmp_path: Any) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert watched(engine) == {}
        with pytest.raises(ConfigError, match="'x'"):
            uninstall(engine, "x")
    finally:
        engine.dispose()


def test_awkward_table_name(made: Watched) -> None:
    engine = made.engine
    name = f"My Table {uuid.uuid4().hex[:6]}'s"
    table = made.make(sa.Column("Key Col", sa.Integer, primary_key=True, autoincrement=False),
                      name=name)
    install(engine, name, ["Key Col"])
    with engine.begin() as conn:
        conn.execute(table.insert().values({"Key Col": 5}))
        conn.execute(table.update().values({"Key Col": 6}))
    assert _changes(engine, name) == [([5], "c"), ([5], "d"), ([6], "c")]
    assert watched(engine)[name] == ("Key Col",)


def test_long_table_name(made: Watched) -> None:
    engine = made.engine
    name = f"t_{uuid.uuid4().hex}_" + "x" * 20  # 54 characters: the trigger names are longer
    table = _simple(made, name)
    install(engine, name, ["id"])
    names = _trigger_names(engine, name)
    assert len(names) == 3 and all(len(n) <= triggers.MAX_NAME for n in names)
    with engine.begin() as conn:
        conn.execute(table.insert().values(id=1))
    assert _changes(engine, name) == [([1], "c")]


def test_thousand_rows_in_one_statement(made: Watched) -> None:
    engine, table = made.engine, _simple(made)
    install(engine, table.name, ["id"])
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i, "v": str(i)} for i in range(1000)])
        conn.execute(table.update().values(v="z"))
    changes = _changes(engine, table.name)
    assert sorted(k[0] for k, op in changes if op == "c") == list(range(1000))
    assert sorted(k[0] for k, op in changes if op == "u") == list(range(1000))
    assert len(changes) == 2000


def test_changed_at_is_a_datetime_and_increases(made: Watched) -> None:
    engine, table = made.engine, _simple(made)
    install(engine, table.name, ["id"])
    for i in range(3):
        with engine.begin() as conn:
            conn.execute(table.insert().values(id=i))
        time.sleep(0.02)
    log = triggers.changes_table(sa.MetaData())
    with engine.connect() as conn:
        stamps = conn.execute(sa.select(log.c.changed_at).where(log.c.table_name == table.name)
                              .order_by(log.c.id)).scalars().all()
    assert len(stamps) == 3 and all(isinstance(s, dt.datetime) for s in stamps)
    assert stamps[0] < stamps[1] < stamps[2]  # sub-second precision


def test_trigger_names_are_short_and_distinct() -> None:
    a, b = "x" * 80 + "a", "x" * 80 + "b"
    assert triggers.trigger_name("t", "c") == "syncline_t_c"
    assert len(triggers.trigger_name(a, "fn")) <= triggers.MAX_NAME
    assert triggers.trigger_name(a, "c") != triggers.trigger_name(b, "c")


def test_change_waiter_wakes_on_commit(pg_engine: sa.Engine) -> None:
    made = Watched(pg_engine)
    table = _simple(made)
    # other runs on the shared server notify the same channel: listen for this table only
    waiter = ChangeWaiter(pg_engine, tables=[table.name])
    try:
        install(pg_engine, table.name, ["id"])
        start = time.monotonic()
        assert waiter.wait(0.3) is False  # nothing committed: the timeout
        assert 0.25 <= time.monotonic() - start < 1

        def commit() -> None:
            time.sleep(0.2)
            with pg_engine.begin() as conn:
                conn.execute(table.insert(), [{"id": 1}, {"id": 2}])
                conn.execute(table.delete())

        writer = threading.Thread(target=commit)
        start = time.monotonic()
        writer.start()
        assert waiter.wait(5) is True
        assert time.monotonic() - start < 1.2
        writer.join()
        assert waiter.wait(0.1) is False  # the rest were drained
    finally:
        waiter.close()
        waiter.close()
        made.cleanup()


def test_change_waiter_wakes_for_any_table(pg_engine: sa.Engine) -> None:
    made = Watched(pg_engine)
    waiter = ChangeWaiter(pg_engine)
    try:
        table = _simple(made)
        install(pg_engine, table.name, ["id"])
        with pg_engine.begin() as conn:
            conn.execute(table.insert().values(id=1))
        start = time.monotonic()
        assert waiter.wait(5) is True  # committed before the wait: already queued
        assert time.monotonic() - start < 1
    finally:
        waiter.close()
        made.cleanup()


def test_change_waiter_sleeps_elsewhere(sqlite_engine: sa.Engine) -> None:
    waiter = ChangeWaiter(sqlite_engine)
    start = time.monotonic()
    assert waiter.wait(0.05) is False
    assert time.monotonic() - start >= 0.05
    waiter.close()


def test_syncline_own_tables_are_never_watched(any_engine: sa.Engine) -> None:
    """Watching the change log would make each logged change log a change, for ever: every
    write of the application would fail."""
    for name in (triggers.CHANGES, triggers.WATCHED, "syncline_datasync_queue"):
        with pytest.raises(ConfigError, match="syncline's own"):
            install(any_engine, name, ["id"])


def test_a_user_table_named_like_the_change_log_is_refused(
        tmp_path: Any, request: pytest.FixtureRequest) -> None:
    """An application's own ``syncline_changes`` (another layout) is never written to by
    triggers that would then fail every write of the watched table: refused, nothing made."""
    from conftest import fresh_database

    for kind in ("sqlite", "postgresql"):
        folder = tmp_path / kind
        folder.mkdir()
        with fresh_database(kind, folder, request) as db:
            with db.engine.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE syncline_changes (id INTEGER, note TEXT)")
                conn.exec_driver_sql("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT)")
            with pytest.raises(ConfigError, match="syncline_changes") as raised:
                install(db.engine, "items", ["id"])
            assert "not syncline's" in str(raised.value)
            assert _trigger_names(db.engine, "items") == set()
            with db.engine.begin() as conn:  # the application still writes
                conn.exec_driver_sql("INSERT INTO items VALUES (1, 'a')")


def test_a_writer_without_rights_on_the_change_log_still_writes(
        tmp_path: Any, request: pytest.FixtureRequest) -> None:
    """PostgreSQL: installed by an administrator, the triggers log the changes of an
    application role that has no right on syncline_changes (the trigger function runs as
    its owner), instead of failing every write of that role."""
    from conftest import fresh_database

    role = f"app_{uuid.uuid4().hex[:8]}"
    with fresh_database("postgresql", tmp_path, request) as db:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT)")
        install(db.engine, "items", ["id"])
        schema = sa.make_url(db.url).query["options"].split("=", 1)[1]
        try:
            with db.engine.begin() as conn:
                conn.exec_driver_sql(f"CREATE ROLE {role} NOLOGIN")
                conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
                conn.exec_driver_sql(f"GRANT INSERT, UPDATE, SELECT ON items TO {role}")
            with db.engine.begin() as conn:
                conn.exec_driver_sql(f"SET LOCAL ROLE {role}")
                conn.exec_driver_sql("INSERT INTO items VALUES (1, 'a')")
                conn.exec_driver_sql("UPDATE items SET v = 'b' WHERE id = 1")
            assert _changes(db.engine, "items") == [([1], "c"), ([1], "u")]
        finally:
            with db.engine.begin() as conn:
                conn.exec_driver_sql(f"DROP OWNED BY {role}")
                conn.exec_driver_sql(f"DROP ROLE {role}")
