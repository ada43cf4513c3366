"""The "add a custom table" checklist of issue 11, end to end, as a user types it::

    syncline new poser && cd poser && pip install -e .
    syncline db revision --autogenerate -m "add widgets, components" --head poser@head
    syncline db upgrade heads
    syncline import poser-csv --source data
    syncline history poser_widget 1
    syncline db check
    syncline db downgrade poser@base

On SQLite (the project's default target, ``sqlite:///poser.db`` beside its syncline.toml)
and PostgreSQL (a schema of its own, first on the search path, named by
``SYNCLINE_TARGET_URL``). The commands run in this process; "installed" there means what an
editable install gives: the project's folder on ``sys.path`` and its entry points in a
dist-info (read from the project's own pyproject.toml). One test installs it for real —
``pip install -e`` into a fresh venv — and runs the project's own tests there.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import fresh_database
from helpers import CliResult, run_cli

NAME = "poser"
UNPREFIXED = '''

class Gadget(Base):
    __tablename__ = "gadget"

    id: Mapped[int] = mapped_column(primary_key=True)
'''


def _forget_the_package() -> None:
    for module in [m for m in sys.modules if m == NAME or m.startswith(NAME + ".")]:
        del sys.modules[module]


def _install_in_this_process(root: Path, site_dir: Path, monkeypatch: pytest.MonkeyPatch
                             ) -> None:
    """What ``pip install -e`` gives, without pip: the folder importable, the entry points
    the project declares in a dist-info."""
    declared = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    dist_info = site_dir / f"{NAME}-{declared['version']}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {declared['version']}\n")
    lines = []
    for group, points in declared["entry-points"].items():
        lines += [f"[{group}]", *(f"{k} = {v}" for k, v in points.items()), ""]
    (dist_info / "entry_points.txt").write_text("\n".join(lines))
    monkeypatch.syspath_prepend(str(site_dir))
    monkeypatch.syspath_prepend(str(root))


@dataclass
class Project:
    """A project ``syncline new`` made, installed in this process, and its target."""

    root: Path
    #: SYNCLINE_TARGET_URL for the commands (None: the project's own SQLite default)
    target: str | None
    #: the target, for the test's own look
    url: str

    def run(self, *args: str, code: int = 0) -> CliResult:
        done = run_cli(*args, cwd=self.root, env={"SYNCLINE_TARGET_URL": self.target,
                                                  f"{NAME.upper()}_CSV_DIR": None})
        assert done.returncode == code, (
            f"syncline {' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def tables(self) -> set[str]:
        engine = sa.create_engine(self.url)
        try:
            return set(sa.inspect(engine).get_table_names())
        finally:
            engine.dispose()

    def rows(self, table: str) -> list[dict[str, object]]:
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                found = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))
                return [dict(r) for r in found.mappings()]
        finally:
            engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def project(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """``syncline new poser`` in a temp folder, installed in this process, with its target:
    the project's default SQLite file, or a PostgreSQL schema of the test's own."""
    _forget_the_package()
    done = run_cli("new", NAME, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"created {NAME}/ (project {NAME}")
    root = tmp_path / NAME
    _install_in_this_process(root, tmp_path / "site", monkeypatch)
    try:
        if request.param == "sqlite":
            yield Project(root, None, f"sqlite:///{root / f'{NAME}.db'}")
        else:
            with fresh_database("postgresql", tmp_path, request) as db:
                yield Project(root, db.url, db.url)
    finally:
        _forget_the_package()


def test_the_checklist(project: Project) -> None:
    versions = project.root / NAME / "db" / "alembic" / "versions"

    # the migration that makes the models' tables, on the project's branch
    out = project.run("db", "revision", "--autogenerate", "-m", "add widgets, components",
                      "--head", f"{NAME}@head").stdout
    [script] = versions.glob("*_add_widgets_components.py")
    text = script.read_text()
    for table in ("poser_widget", "poser_component", "poser_widget_version",
                  "poser_component_version"):
        assert f"op.create_table('{table}'" in text, table
        assert f"add table {table}" in out
    assert "name='poser_component_fk_widget'" in text  # the named foreign key
    assert "'transaction'" not in text  # syncline's own branch makes it

    # (a server's database was brought to the heads before the comparison: the rest now)
    assert "add widgets, components" in project.run("db", "upgrade", "heads").stdout
    assert {"poser_widget", "poser_component", "poser_widget_version",
            "poser_component_version", "transaction", "transaction_meta"} <= project.tables()

    # the handler the project registered fills both tables, parents first
    assert project.run("import", "poser-csv", "--list-models").stdout.split() == [
        "poser_widget", "poser_component"]
    result = json.loads(project.run("import", "poser-csv", "--source", "data", "--json").stdout)
    assert list(result["models"]) == ["poser_widget", "poser_component"]
    assert [(m["created"], m["versions"]) for m in result["models"].values()] == [(3, 3), (3, 3)]
    assert [r["name"] for r in project.rows("poser_widget")] == ["Sprocket", "Flange", "Gizmo"]
    assert [r["widget_id"] for r in project.rows("poser_component")] == [1, 1, 2]

    # a new price, and widget 2 gone with its component: deleted children first (the
    # foreign key is enforced: the other order fails)
    data = project.root / "data"
    widgets = (data / "widgets.csv").read_text().replace("1,Sprocket,A small toothed wheel,2.50",
                                                         "1,Sprocket,A small toothed wheel,2.75")
    (data / "widgets.csv").write_text("".join(
        line for line in widgets.splitlines(keepends=True) if not line.startswith("2,")))
    components = (data / "components.csv").read_text().splitlines(keepends=True)
    (data / "components.csv").write_text("".join(c for c in components if not c.startswith("3,")))
    result = json.loads(project.run("import", "poser-csv", "--source", "data", "--delete",
                                    "--json").stdout)
    counts = {name: (m["updated"], m["deleted"]) for name, m in result["models"].items()}
    assert counts == {"poser_widget": (1, 1), "poser_component": (0, 1)}
    assert [r["id"] for r in project.rows("poser_widget")] == [1, 3]

    # the versions name the config's runas
    history = json.loads(project.run("history", "poser_widget", "1", "--json").stdout)
    assert [(v["operation"], v["user"]) for v in history["versions"]] == [
        ("insert", NAME), ("update", NAME)]
    assert history["versions"][1]["changed"] == {"price": ["2.50", "2.75"]}
    out = project.run("history", "poser_widget", "1").stdout
    assert f"insert by {NAME}" in out and f"update by {NAME}" in out
    assert "price: Decimal('2.50') -> Decimal('2.75')" in out
    deleted = json.loads(project.run("history", "poser_component", "3", "--json").stdout)
    assert [v["operation"] for v in deleted["versions"]] == ["insert", "delete"]

    assert project.run("db", "check").stdout.startswith("the database matches the models")

    # undo: the project's tables go, syncline's own branch (and its history) stays
    out = project.run("db", "downgrade", f"{NAME}@base").stdout
    assert "undid" in out
    left = project.tables()
    assert not {t for t in left if t.startswith(f"{NAME}_")}, left
    assert {"transaction", "transaction_meta"} <= left
    assert "not up to date" in project.run("db", "check", code=1).stdout


@pytest.mark.parametrize("project", ["sqlite"], indirect=True)
def test_a_table_without_the_prefix_is_refused(project: Project) -> None:
    models = project.root / NAME / "db" / "model"
    with (models / "widgets.py").open("a") as f:
        f.write(UNPREFIXED)
    shutil.rmtree(models / "__pycache__", ignore_errors=True)
    _forget_the_package()
    versions = project.root / NAME / "db" / "alembic" / "versions"
    before = sorted(versions.iterdir())
    for args in (("db", "revision", "--autogenerate", "-m", "gadgets"), ("db", "check")):
        error = project.run(*args, code=1).stderr
        assert error.startswith(f"Error: {args[0]} {args[1]}: table gadget (model"
                                f" {NAME}.db.model.widgets.Gadget) lacks the project's prefix"
                                f" '{NAME}_'"), error
        assert "the prefix rule" in error and len(error.splitlines()) == 1
    assert sorted(versions.iterdir()) == before  # nothing written
    assert not (project.root / f"{NAME}.db").exists()


def test_the_new_project_installs_and_its_own_tests_pass(tmp_path: Path) -> None:
    """``pip install -e .`` into a fresh venv, then the project's pytest: before its first
    revision (the migration test skips, saying what to run) and after it.

    The venv sees this interpreter's packages (syncline, pytest, setuptools), as
    ``--system-site-packages`` would if this interpreter were not itself in a venv: a
    ``.pth`` file adds its site folder. No network: ``--no-deps --no-build-isolation``."""
    assert run_cli("new", NAME, cwd=tmp_path).returncode == 0
    root = tmp_path / NAME
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig;"
                              " print(sysconfig.get_paths()['purelib'])"], check=True,
                             capture_output=True, text=True).stdout.strip()
    here = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "outer.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in here))
    env = {k: v for k, v in os.environ.items()
           if k not in ("SYNCLINE_TARGET_URL", "PYTHONPATH", "VIRTUAL_ENV")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(python), *args], cwd=root, env=env, capture_output=True,
                              text=True, timeout=300, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
        return done

    run("-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
        "--no-index", "-e", ".")
    assert (Path(purelib) / f"{NAME}-0.1.0.dist-info" / "entry_points.txt").is_file()
    assert run("-m", "syncline", "import", f"{NAME}-csv", "--list-models").stdout.split() == [
        "poser_widget", "poser_component"]
    first = run("-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider").stdout
    assert "3 passed, 1 skipped" in first, first
    assert "syncline db revision --autogenerate" in first  # the skip says what to run
    run("-m", "syncline", "db", "revision", "--autogenerate", "-m", "add widgets, components",
        "--head", f"{NAME}@head")
    second = run("-m", "pytest", "-q", "-p", "no:cacheprovider").stdout
    assert "4 passed" in second and "skipped" not in second, second
