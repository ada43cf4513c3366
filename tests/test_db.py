"""``syncline db``: a project's Alembic migrations next to syncline's own branch.

Each test makes a project in a temp folder — ``syncline.toml`` and a models package with a
name of its own (the package is imported in this process) — and runs the commands
in-process, on SQLite, PostgreSQL (a schema of its own) and MariaDB (a database of its own).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from syncline.cli.main import _register, cli
from syncline.config import load_config
from syncline.errors import ConfigError
from syncline.project.migrations import init_migrations

MODELS = '''
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Widget(Base):
    __tablename__ = "{name}_widget"
    __versioned__ = {{}}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String({size}))
    price: Mapped[float | None] = mapped_column(sa.Numeric(10, 2))


class Component(Base):
    __tablename__ = "{name}_component"

    id: Mapped[int] = mapped_column(primary_key=True)
    widget_id: Mapped[int] = mapped_column(
        sa.ForeignKey("{name}_widget.id", name="{name}_component_fk_widget"))
    part: Mapped[str] = mapped_column(sa.String(40), index=True)
'''

UNPREFIXED = '''

class Gadget(Base):
    __tablename__ = "gadget"

    id: Mapped[int] = mapped_column(primary_key=True)
'''


@pytest.fixture(scope="module", autouse=True)
def commands() -> None:
    _register()


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of the test's own: a SQLite file, a PostgreSQL schema (the
    search path of the URL), a MariaDB database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'project.db'}"
        return
    name = f"db_{uuid.uuid4().hex[:12]}"
    if request.param == "postgresql":
        engine: sa.Engine = request.getfixturevalue("pg_engine")
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
        url = engine.url.set(query={"options": f"-csearch_path={name}"})
        drop = f'DROP SCHEMA "{name}" CASCADE'
    else:
        engine = request.getfixturevalue("mysql_engine")
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
        url = engine.url.set(database=name)
        drop = f"DROP DATABASE `{name}`"
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(drop))


@dataclass
class Project:
    root: Path
    name: str
    url: str

    @property
    def versions(self) -> Path:
        return self.root / self.name / "db" / "alembic" / "versions"

    def models(self, size: int = 100, extra: str = "") -> None:
        """(Re)write the models module; the next command imports it afresh."""
        package = self.root / self.name / "db" / "model"
        package.mkdir(parents=True, exist_ok=True)
        for folder in (self.root / self.name, self.root / self.name / "db"):
            (folder / "__init__.py").touch()
        shutil.rmtree(package / "__pycache__", ignore_errors=True)
        (package / "__init__.py").write_text(MODELS.format(name=self.name, size=size) + extra)
        for module in [m for m in sys.modules if m == self.name or m.startswith(self.name + ".")]:
            del sys.modules[module]

    def db(self, *args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(
            cli, ["--config", str(self.root / "syncline.toml"), "db", *args],
            env={"SYNCLINE_TARGET_URL": None, f"{self.name.upper()}_DB": self.url})
        assert result.exit_code == code, (
            f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
            + (f"\n{result.exception!r}" if result.exception else ""))
        return result

    def tables(self) -> set[str]:
        engine = sa.create_engine(self.url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as conn:
                return set(sa.inspect(conn).get_table_names())
        finally:
            engine.dispose()


@pytest.fixture
def project(tmp_path: Path, target_url: str, monkeypatch: pytest.MonkeyPatch) -> Project:
    name = f"p{uuid.uuid4().hex[:8]}"
    root = tmp_path / "project"
    root.mkdir()
    (root / "syncline.toml").write_text(
        f'name = "{name}"\nmodels = ["{name}.db.model"]\nmigrations = "{name}/db/alembic"\n'
        f'[target]\nurl_env = "{name.upper()}_DB"\n', encoding="utf-8")
    monkeypatch.syspath_prepend(str(root))
    made = Project(root, name, target_url)
    made.models()
    return made


def test_init_revision_upgrade_check_downgrade(project: Project) -> None:
    name = project.name
    out = project.db("init").stdout
    assert "env.py" in out and f"branch {name}" in out
    [first] = project.versions.glob(f"*_{name}_branch.py")
    assert f"branch_labels: str | Sequence[str] | None = ('{name}',)" in first.read_text()

    # as the checklist has it: the revision first, on a database never migrated
    out = project.db("revision", "--autogenerate", "-m", "add widgets, components",
                     "--head", f"{name}@head").stdout
    assert f"add table {name}_widget" in out and f"add table {name}_widget_version" in out
    [script] = project.versions.glob("*_add_widgets_components.py")
    text = script.read_text()
    for table in (f"{name}_widget", f"{name}_component", f"{name}_widget_version"):
        assert f"op.create_table('{table}'" in text
    assert f"name='{name}_component_fk_widget'" in text
    assert f"ix_{name}_widget_version_pk_validity" in text
    assert "'transaction'" not in text  # syncline's own branch has it
    assert f"{name}_component_version" not in text  # not versioned

    out = project.db("upgrade", "heads").stdout
    assert "add widgets, components" in out  # (the revision brought it to the heads before)
    assert {f"{name}_widget", f"{name}_component", f"{name}_widget_version", "transaction",
            "transaction_meta", "alembic_version"} <= project.tables()

    current = project.db("current").stdout
    assert f"({name}) (head): add widgets, components" in current
    assert "(syncline) (head)" in current
    assert project.db("heads").stdout.count("(head)") == 2
    history = project.db("history").stdout.splitlines()
    assert len(history) == 4  # newest first (syncline_0001, syncline_0002)
    assert history.index(next(h for h in history if h.endswith("add widgets, components"))) \
        < history.index(next(h for h in history if h.endswith(f"{name} branch")))
    assert project.db("check").stdout.startswith("the database matches the models")

    project.models(size=2000)  # the widget's name grows: a revision is missing
    out = project.db("check", code=1).stdout
    assert f"modify type {name}_widget.name" in out

    out = project.db("downgrade", f"{name}@base").stdout
    assert out.startswith("undid ")
    left = project.tables()
    assert not {t for t in left if t.startswith(name)}
    assert {"transaction", "transaction_meta"} <= left  # syncline's branch stays
    assert "not up to date" in project.db("check", code=1).stdout


@pytest.mark.parametrize("target_url", ["sqlite"], indirect=True)
def test_the_prefix_rule_refuses_revision_and_check(project: Project) -> None:
    project.db("init")
    project.db("upgrade")
    before = sorted(project.versions.iterdir())
    project.models(extra=UNPREFIXED)
    for args in (["revision", "--autogenerate", "-m", "gadgets"], ["check"]):
        error = project.db(*args, code=1).stderr
        assert f"table gadget (model {project.name}.db.model.Gadget)" in error
        assert f"lacks the project's prefix '{project.name}_'" in error
        assert "prefix rule" in error
    assert sorted(project.versions.iterdir()) == before  # nothing written


@pytest.mark.parametrize("target_url", ["sqlite"], indirect=True)
def test_autogenerate_compares_with_the_heads(project: Project) -> None:
    """A SQLite file not there yet is not made (an empty database in memory stands in);
    a database behind the heads is upgraded first, so the revision holds only what the
    models add."""
    project.db("init")
    database = Path(project.url.removeprefix("sqlite:///"))
    out = project.db("revision", "--autogenerate", "-m", "add widgets").stdout
    assert "applied first" in out and not database.exists()
    assert "does not exist" in project.db("current", code=1).stderr
    for script in project.versions.glob("*_add_widgets.py"):
        script.unlink()
    project.db("upgrade")  # makes the file
    assert "applied first" not in project.db("revision", "--autogenerate", "-m",
                                             "add widgets").stdout
    project.models(size=2000)
    out = project.db("revision", "--autogenerate", "-m", "longer names").stdout
    assert out.startswith("the database was behind the heads; applied first:")
    assert "add widgets" in out
    [script] = project.versions.glob("*_longer_names.py")
    text = script.read_text()
    assert "create_table" not in text and "alter_column('name'" in text
    assert "add widgets" in project.db("current").stdout


@pytest.mark.parametrize("target_url", ["sqlite"], indirect=True)
def test_refusals_name_the_fix(project: Project) -> None:
    project.db("init")
    assert "already holds an Alembic environment" in project.db("init", code=1).stderr
    error = project.db("revision", "-m", "x", "--head", "syncline@head", code=1).stderr
    assert "syncline's own branch" in error
    assert list(project.versions.glob("*_x.py")) == []
    assert "Traceback" not in error


def test_init_migrations_for_a_scaffold(tmp_path: Path) -> None:
    """What ``syncline new`` calls: the folder, its env.py, the template, the branch."""
    (tmp_path / "syncline.toml").write_text('name = "poser"\nmigrations = "poser/db/alembic"\n')
    folder = init_migrations(load_config(tmp_path / "syncline.toml"))
    assert folder == tmp_path / "poser" / "db" / "alembic"
    assert sorted(p.name for p in folder.iterdir()) == ["env.py", "script.py.mako", "versions"]
    assert "run_environment()" in (folder / "env.py").read_text()
    [first] = (folder / "versions").iterdir()
    assert first.name.endswith("_poser_branch.py")
    text = first.read_text()
    assert "branch_labels: str | Sequence[str] | None = ('poser',)" in text
    assert "down_revision: str | Sequence[str] | None = None" in text


@pytest.mark.parametrize(("text", "named"), [
    ('migrations = "a"\n', "the project has no name"),
    ('name = "poser"\n', "names no migrations folder"),
    ('name = "syncline"\nmigrations = "a"\n', "cannot label a migration branch"),
])
def test_init_needs_a_name_and_a_folder(tmp_path: Path, text: str, named: str) -> None:
    (tmp_path / "syncline.toml").write_text(text)
    with pytest.raises(ConfigError, match=named):
        init_migrations(load_config(tmp_path / "syncline.toml"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["syncline.toml"]


def test_commands_before_init_say_so(tmp_path: Path) -> None:
    from syncline.project.migrations import heads

    (tmp_path / "syncline.toml").write_text('name = "poser"\nmigrations = "poser/db/alembic"\n')
    with pytest.raises(ConfigError, match=r"^db heads: .* run syncline db init first"):
        heads(load_config(tmp_path / "syncline.toml"))


def test_an_unreachable_target_is_one_line_with_the_password_masked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["db", "upgrade", "--target",
                                      "postgresql://poser:s3cret-pw@127.0.0.1:9/x"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: db upgrade: ") and "s3cret-pw" not in result.stderr
    assert "Traceback" not in result.output


def test_syncline_branch_keeps_tables_versions_enable_made(tmp_path: Path) -> None:
    """Without a project, ``db upgrade`` applies syncline's own branch; a ``transaction``
    that ``versions enable`` made first is kept, and downgrading never drops history."""
    from syncline.config import ProjectConfig
    from syncline.project.migrations import current, downgrade, upgrade
    from syncline.versions.admin import enable

    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE product (upc TEXT PRIMARY KEY)"))
        enable(url, ["product"])
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO \"transaction\" (issued_at) VALUES ('2024-01-01')"))
        steps = upgrade(ProjectConfig(), url)
        assert [s.revision for s in steps] == ["syncline_0001", "syncline_0002"]
        assert [r.revision for r in current(ProjectConfig(), url)] == ["syncline_0002"]
        downgrade(ProjectConfig(), url, "base")
        tables = set(sa.inspect(engine).get_table_names())
        assert "transaction" in tables  # it holds a transaction: kept
        # empty, but product_version is there: kept (a --comment needs it; hostile review)
        assert "transaction_meta" in tables
        assert upgrade(ProjectConfig(), url)[0].revision == "syncline_0001"
    finally:
        engine.dispose()


def test_db_upgrade_runs_as_a_command_without_a_project(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    proc = subprocess.run([sys.executable, "-m", "syncline", "db", "upgrade", "--target", url],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("applied syncline_0001")
    assert "applied syncline_0002" in proc.stdout
    engine = sa.create_engine(url)
    try:
        assert {"transaction", "transaction_meta", "syncline_datasync_queue",
                "syncline_datasync_dead"} <= set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_without_alembic_db_says_how_to_install_it() -> None:
    code = ("import sys; sys.modules['alembic'] = None; from syncline.cli.main import main;"
            " main(['db', 'heads'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    assert proc.stderr == "Error: syncline db needs Alembic: pip install 'syncline[db]'\n"


def test_start_up_imports_no_alembic() -> None:
    code = ("import sys; from syncline.cli.main import _register; _register();"
            " assert not {'alembic', 'sqlalchemy'} & set(sys.modules), 'imported at start-up'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_package_ships_syncline_branch() -> None:
    """Every non-Python file of the migrations folder is package data (wheels carry it)."""
    from syncline.migrations import FOLDER

    root = Path(__file__).resolve().parents[1]
    listed = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["syncline"]
    package = FOLDER.parent
    for path in FOLDER.rglob("*"):
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in \
                path.parts:
            assert any(path.relative_to(package).match(glob) for glob in listed), path
    assert list((FOLDER / "versions").glob("syncline_*.py"))
