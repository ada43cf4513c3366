"""``syncline new NAME [DIR]``: what it writes, what it refuses, and that a failure leaves
nothing behind (the checklist the project serves is tests/test_checklist.py)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from helpers import run_cli
from syncline.errors import ConfigError
from syncline.project import scaffold


def test_a_new_project_holds_every_file_filled_in(tmp_path: Path) -> None:
    done = run_cli("new", "shop_floor", "work", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    root = tmp_path / "work"
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    [first] = [f for f in files if f.startswith("shop_floor/db/alembic/versions/")]
    assert first.endswith("_shop_floor_branch.py")
    assert files - {first} == {
        ".gitignore", "README.md", "pyproject.toml", "syncline.toml",
        "data/widgets.csv", "data/components.csv", "tests/test_shop_floor.py",
        "shop_floor/__init__.py", "shop_floor/db/__init__.py", "shop_floor/db/model/__init__.py",
        "shop_floor/db/model/base.py", "shop_floor/db/model/widgets.py",
        "shop_floor/importing/__init__.py", "shop_floor/importing/from_csv.py",
        "shop_floor/db/alembic/env.py", "shop_floor/db/alembic/script.py.mako"}
    for name in files:
        text = (root / name).read_text()
        assert "$name" not in text and "$NAME" not in text, name
        if name.endswith(".py"):
            ast.parse(text, filename=name)
        elif name.endswith(".toml"):
            tomllib.loads(text)
    config = tomllib.loads((root / "syncline.toml").read_text())
    assert (config["name"], config["prefix"], config["runas"]) == (
        "shop_floor", "shop_floor_", "shop_floor")
    assert config["target"] == {"url": "sqlite:///shop_floor.db"}
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["syncline.handlers"] == {
        "shop_floor-csv": "shop_floor.importing.from_csv:CsvToShopFloor"}
    assert pyproject["project"]["dependencies"][0].startswith("syncline[db]>=")
    models = (root / "shop_floor" / "db" / "model" / "widgets.py").read_text()
    assert '__tablename__ = "shop_floor_component"' in models
    assert 'name="shop_floor_component_fk_widget"' in models
    assert models.count("\n    __versioned__ = {}\n") == 2
    assert done.stdout.startswith("created work/ (project shop_floor")
    assert "  cd work\n" in done.stdout
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no work folder left


@pytest.mark.parametrize(("name", "said"), [
    ("Poser", "is not a project name"), ("1poser", "is not a project name"),
    ("my-shop", "is not a project name"), ("café", "is not a project name"),
    ("json", "is taken"), ("syncline", "is taken"), ("heads", "is taken"),
])
def test_a_name_that_cannot_be_a_package_is_refused(tmp_path: Path, name: str,
                                                    said: str) -> None:
    done = run_cli("new", name, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(f"Error: new: {name!r} {said}"), done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_is_not_empty_is_refused(tmp_path: Path) -> None:
    (tmp_path / "poser").mkdir()
    (tmp_path / "poser" / "notes.txt").write_text("mine")
    done = run_cli("new", "poser", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == (f"Error: new: the folder {tmp_path / 'poser'} is not empty: give a"
                           " new or empty folder (nothing was written)\n")
    assert [p.name for p in (tmp_path / "poser").iterdir()] == ["notes.txt"]
    (tmp_path / "file").write_text("")
    assert "is not a folder" in run_cli("new", "poser", "file", cwd=tmp_path).stderr
    assert "does not exist" in run_cli("new", "poser", "no/such/dir", cwd=tmp_path).stderr


def test_an_empty_folder_is_used(tmp_path: Path) -> None:
    (tmp_path / "here").mkdir()
    assert run_cli("new", "poser", str(tmp_path / "here"), cwd=tmp_path).returncode == 0
    assert (tmp_path / "here" / "syncline.toml").is_file()


def test_a_failure_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    def broken(config: object) -> Path:
        raise ConfigError("db init: the disk is full")

    monkeypatch.setattr(scaffold, "init_migrations", broken)
    done = run_cli("new", "poser", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (1, "Error: db init: the disk is full\n")
    assert list(tmp_path.iterdir()) == []


def test_the_package_ships_the_skeleton() -> None:
    """Every template is package data (a wheel of syncline carries it)."""
    root = Path(__file__).resolve().parents[1]
    listed = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["syncline"]
    package = scaffold.SKELETON.parents[1]
    templates = [p for p in scaffold.SKELETON.rglob("*") if p.is_file()]
    assert len(templates) > 10
    for path in templates:
        assert path.suffix == ".tmpl", path
        assert any(path in package.glob(glob) for glob in listed), path


def test_the_nightly_units_keep_the_password_out() -> None:
    """examples/systemd: a service run as a dedicated user, its URL from an environment
    file, and a timer that starts it nightly."""
    folder = Path(__file__).resolve().parents[1] / "examples" / "systemd"
    service = (folder / "syncline-import-poser.service").read_text()
    timer = (folder / "syncline-import-poser.timer").read_text()
    settings = {line.split("=", 1)[0]: line.split("=", 1)[1] for line in service.splitlines()
                if "=" in line and not line.startswith("#")}
    assert settings["User"] == "poser" and settings["Type"] == "oneshot"
    assert settings["EnvironmentFile"] == "/etc/syncline/poser.env"
    assert " import poser-csv " in settings["ExecStart"]
    assert "://" not in service and "://" not in timer  # no URL, so no password
    assert "OnCalendar=*-*-* 02:30:00" in timer and "Unit=syncline-import-poser.service" in timer
    assert "POSER_DB_URL=" in (folder / "poser.env").read_text()
