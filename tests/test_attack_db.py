"""Hostile review of the project config and ``syncline db`` (issue 11).

Config cases run in-process (helpers.run_cli) in a temp folder; ``syncline db`` cases on a
SQLite file, and where the server matters on PostgreSQL and MariaDB (``versions_db``).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import VersionsDb
from helpers import CliResult, make_tables, product, run_cli, sync, versions
from syncline.config import load_config
from syncline.errors import ConfigError
from syncline.versions.admin import enable


def no_traceback(done: CliResult) -> None:
    assert "Traceback (most recent" not in done.stderr, done.stderr
    assert "unexpected" not in done.stderr, done.stderr


# -- the config: a url_env whose variable is unset -------------------------------------------
def test_an_unset_url_env_variable_is_named(tmp_path: Path) -> None:
    """``[target] url_env = "POSER_DB"`` with POSER_DB unset: the error names the variable,
    not "has no [target] url" (which sends the user looking for a setting that is there)."""
    (tmp_path / "syncline.toml").write_text(
        '[target]\nurl_env = "POSER_DB_UNSET"\n[sources.pos]\nurl_env = "POS_URL_UNSET"\n',
        encoding="utf-8")
    env: dict[str, str | None] = {"SYNCLINE_TARGET_URL": None, "POSER_DB_UNSET": None,
                                  "POS_URL_UNSET": None}
    done = run_cli("versions", "status", env=env, cwd=tmp_path)
    no_traceback(done)
    assert done.returncode == 1, done
    assert "POSER_DB_UNSET" in done.stderr and "not set" in done.stderr, done.stderr
    config = load_config(start=tmp_path, environ={})
    with pytest.raises(ConfigError, match=r"POS_URL_UNSET.*not set"):
        config.source_url("pos")


@pytest.mark.parametrize("text", [
    'name = 5', 'models = [1]', 'models = [""]', 'handlers = {a = 1}', 'target = "x"',
    '[target]\nurl = 5', '[target]\nurl = "a"\nurl_env = "B"', '[target]\npassword = "x"',
    '[sources]\npos = 1', '[sources.pos]\nuser = "u"', 'prefix = ""', 'prefix = 0',
    'migrations = ["a"]', '[tool]\nx = 1', 'name = "a"\nname = "b"', '\x00',
    '[target]\nurl_env = ""',
])
def test_hostile_config_is_one_line_exit_1_naming_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "syncline.toml"
    path.write_text(text, encoding="utf-8")
    for args in (("config",), ("config", "--json"), ("db", "heads")):
        done = run_cli(*args, env={"SYNCLINE_TARGET_URL": None}, cwd=tmp_path)
        no_traceback(done)
        assert done.returncode == 1, (args, done)
        assert "syncline.toml" in done.stderr, (args, done.stderr)


def test_pyproject_tool_syncline_not_a_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool]\nsyncline = "x"\n', encoding="utf-8")
    done = run_cli("config", env={"SYNCLINE_TARGET_URL": None}, cwd=tmp_path)
    no_traceback(done)
    # a [tool.syncline] that is not a table: either no project at all, or a clear error
    assert done.returncode in (0, 1), done


# -- syncline db against the version history ---------------------------------------------------
@pytest.fixture
def shop(versions_db: VersionsDb) -> Iterator[VersionsDb]:
    make_tables(versions_db)
    yield versions_db


def db_cli(db: VersionsDb, *args: str, cwd: Path) -> CliResult:
    return run_cli("db", *args, "--target", db.url, env={"SYNCLINE_TARGET_URL": None}, cwd=cwd)


def test_downgrade_keeps_an_empty_transaction_table_that_versions_need(
        shop: VersionsDb, tmp_path: Path) -> None:
    """``versions enable`` then ``db upgrade`` then ``db downgrade base`` before any run:
    ``transaction`` is empty, but ``product_version`` needs it. Dropping it breaks the
    versions of every versioned table (and its sequence numbering on PostgreSQL)."""
    enable(shop.url, ["product"])
    assert db_cli(shop, "upgrade", cwd=tmp_path).returncode == 0
    done = db_cli(shop, "downgrade", "base", cwd=tmp_path)
    no_traceback(done)
    assert done.returncode == 0, done
    tables = set(sa.inspect(shop.engine).get_table_names())
    assert {"transaction", "transaction_meta", "product_version"} <= tables, tables
    result = sync(shop, [product("A1", "apple", 1)])
    assert result.models["product"].versions == 1
    assert len(versions(shop)) == 1


def test_downgrade_keeps_transaction_with_history(shop: VersionsDb, tmp_path: Path) -> None:
    assert db_cli(shop, "upgrade", cwd=tmp_path).returncode == 0
    enable(shop.url, ["product"])
    sync(shop, [product("A1", "apple", 1)], comment="first")
    done = db_cli(shop, "downgrade", "base", cwd=tmp_path)
    no_traceback(done)
    assert done.returncode == 0, done
    tables = set(sa.inspect(shop.engine).get_table_names())
    assert {"transaction", "transaction_meta", "product_version"} <= tables, tables
    with shop.engine.connect() as conn:
        assert conn.execute(sa.text('SELECT COUNT(*) FROM "transaction"' if shop.kind != "mysql"
                                    else "SELECT COUNT(*) FROM `transaction`")).scalar() == 1
    # upgrading again works over what was kept, and the next run continues the ids
    assert db_cli(shop, "upgrade", cwd=tmp_path).returncode == 0
    again = sync(shop, [product("A1", "apple", 2)])
    assert again.transaction_id is not None and again.transaction_id > 1


def test_upgrade_leaves_a_business_transaction_table_alone_and_downgrade_too(
        shop: VersionsDb, tmp_path: Path) -> None:
    """A point of sale's own (empty) ``transaction`` table: syncline's first revision did
    not make it, so undoing that revision must not drop it."""
    metadata = sa.MetaData()
    sa.Table("transaction", metadata, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("store", sa.String(10)), sa.Column("total", sa.Numeric(10, 2)))
    metadata.create_all(shop.engine)
    up = db_cli(shop, "upgrade", cwd=tmp_path)
    no_traceback(up)
    assert up.returncode in (0, 1), up
    done = db_cli(shop, "downgrade", "base", cwd=tmp_path)
    no_traceback(done)
    assert "transaction" in set(sa.inspect(shop.engine).get_table_names())


# -- autogenerate and check against tables outside the models -----------------------------------
MODELS = '''
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Widget(Base):
    __tablename__ = "{name}_widget"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(50))
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str, str]]:
    name = f"p{uuid.uuid4().hex[:8]}"
    root = tmp_path / "project"
    (root / name / "db" / "model").mkdir(parents=True)
    for folder in (root / name, root / name / "db"):
        (folder / "__init__.py").touch()
    (root / name / "db" / "model" / "__init__.py").write_text(MODELS.format(name=name))
    (root / "syncline.toml").write_text(
        f'name = "{name}"\nmodels = ["{name}.db.model"]\nmigrations = "{name}/db/alembic"\n',
        encoding="utf-8")
    monkeypatch.syspath_prepend(str(root))
    url = f"sqlite:///{tmp_path / 'p.db'}"
    yield root, name, url
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]


def pdb(root: Path, *args: str) -> CliResult:
    return run_cli("db", *args, env={"SYNCLINE_TARGET_URL": None}, cwd=root)


def test_autogenerate_never_drops_history_of_a_table_versions_enable_made(
        project: tuple[Path, str, str]) -> None:
    """The model ``<name>_widget`` is not marked versioned, but its versions were turned
    on with ``syncline versions enable`` (the docs say that keeps working) and hold history.
    ``<name>_widget_version`` carries the prefix: autogenerate must not write a
    ``drop_table`` of it (nor ``db check`` call the database dirty for ever)."""
    root, name, url = project
    assert pdb(root, "init").returncode == 0
    first = pdb(root, "revision", "--autogenerate", "-m", "widgets", "--target", url)
    assert first.returncode == 0, first
    assert pdb(root, "upgrade", "--target", url).returncode == 0
    enable(url, [f"{name}_widget"])
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"INSERT INTO {name}_widget (id, name) VALUES (1, 'a')"))
    finally:
        engine.dispose()
    from syncline.versions.catchup import catch_up
    assert catch_up(url).models[f"{name}_widget"].versions == 1
    check = pdb(root, "check", "--target", url)
    no_traceback(check)
    second = pdb(root, "revision", "--autogenerate", "-m", "nothing", "--target", url)
    assert second.returncode == 0, second
    scripts = sorted((root / name / "db" / "alembic" / "versions").glob("*nothing*.py"))
    assert scripts, list((root / name / "db" / "alembic" / "versions").iterdir())
    text = scripts[0].read_text()
    assert "drop_table" not in text or f"{name}_widget_version" not in text, text
    assert check.returncode == 0, check


def test_check_exit_codes(project: tuple[Path, str, str]) -> None:
    root, _name, url = project
    assert pdb(root, "init").returncode == 0
    behind = pdb(root, "check", "--target", url)
    no_traceback(behind)
    assert behind.returncode == 1, behind  # missing file: an error, exit 1
    assert pdb(root, "revision", "--autogenerate", "-m", "w", "--target", url).returncode == 0
    assert pdb(root, "check", "--target", url).returncode == 1  # behind the heads
    assert pdb(root, "upgrade", "--target", url).returncode == 0
    clean = pdb(root, "check", "--target", url)
    assert clean.returncode == 0, clean
    broken = pdb(root, "check", "--target", url.replace("p.db", "nosuchdir/x.db"))
    no_traceback(broken)
    assert broken.returncode == 1
