"""The project config: found upwards or by --config, URLs from the environment, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from syncline import ConfigError
from syncline.config import load_config


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def cli(cwd: Path, *args: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "SYNCLINE_TARGET_URL"}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "syncline", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_found_from_a_subfolder_with_urls_from_the_environment(tmp_path: Path) -> None:
    write(tmp_path / "syncline.toml", 'name = "poser"\nmodels = ["poser.db.model"]\n'
          'runas = "poser"\n[target]\nurl_env = "POSER_DB"\n[sources.pos]\nurl_env = "POS_URL"\n')
    (tmp_path / "a" / "b").mkdir(parents=True)
    config = load_config(start=tmp_path / "a" / "b",
                         environ={"POSER_DB": "postgresql://u:secret@h/db", "POS_URL": "sqlite://"})
    assert config.path == (tmp_path / "syncline.toml").resolve()
    assert config.prefix == "poser_"  # the name's, unless given
    assert config.target_url == "postgresql://u:secret@h/db"
    assert config.sources == {"pos": "sqlite://"}
    assert "secret" not in json.dumps(config.as_dict())


def test_the_environment_names_the_target_over_the_file(tmp_path: Path) -> None:
    write(tmp_path / "syncline.toml", '[target]\nurl = "sqlite:///a.db"\n')
    config = load_config(start=tmp_path, environ={"SYNCLINE_TARGET_URL": "sqlite:///b.db"})
    assert (config.target_url, config.target_from) == ("sqlite:///b.db", "SYNCLINE_TARGET_URL")


def test_pyproject_tool_table(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n[tool.syncline]\nprefix = "x_"\n')
    assert load_config(start=tmp_path, environ={}).prefix == "x_"


@pytest.mark.parametrize(("text", "named"), [
    ('prefix = ""\n', "prefix must not be empty"),
    ('prefx = "a_"\n', "prefx is not a setting"),
    ('models = 3\n', "models must be a list"),
    ('[target]\nurl = "a"\nurl_env = "B"\n', "target has both url and url_env"),
    ('name = \n', "not valid TOML"),
])
def test_a_bad_file_names_file_key_and_problem(tmp_path: Path, text: str, named: str) -> None:
    path = write(tmp_path / "syncline.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(start=tmp_path, environ={})
    assert str(path) in str(caught.value) and named in str(caught.value)


def test_cli_config_prints_masked_settings_and_bad_config_exits_1(tmp_path: Path) -> None:
    write(tmp_path / "syncline.toml", '[target]\nurl = "postgresql://u:pw123@h/db"\n')
    done = cli(tmp_path, "config")
    assert done.returncode == 0, done.stderr
    assert "pw123" not in done.stdout and "target.url" in done.stdout
    write(tmp_path / "syncline.toml", 'prefix = ""\n')
    done = cli(tmp_path, "config")
    assert done.returncode == 1 and "prefix must not be empty" in done.stderr


def test_commands_fall_back_to_the_configs_target(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE item (sku TEXT PRIMARY KEY, name TEXT)")
    write(tmp_path / "syncline.toml", f'runas = "robot"\n[target]\nurl = "sqlite:///{db}"\n')
    write(tmp_path / "items.csv", "sku,name\na,Apple\n")
    assert cli(tmp_path, "versions", "enable", "item").returncode == 0
    done = cli(tmp_path, "sync", "items.csv", "--table", "item", "--key", "sku", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["models"]["item"]["versions"] == 1
    done = cli(tmp_path, "history", "item", "a", "--json")
    assert json.loads(done.stdout)["versions"][0]["user"] == "robot"  # the config's runas
    done = cli(tmp_path / "..", "--config", str(tmp_path / "syncline.toml"),
               "versions", "status", "--json")
    assert json.loads(done.stdout)["tables"][0]["versions"] == 1
    done = cli(tmp_path.parent, "versions", "status")
    assert done.returncode == 1 and "no target" in done.stderr


def test_a_relative_database_file_in_the_file_is_beside_the_file(tmp_path: Path) -> None:
    """``sqlite:///poser.db`` in syncline.toml names one database wherever a command runs
    (run from a subfolder, it used to make a second, empty one there); in the environment
    it is the working directory's, as on the command line."""
    write(tmp_path / "syncline.toml", '[target]\nurl = "sqlite:///poser.db"\n'
          '[sources.pos]\nurl = "sqlite:///data/pos.db"\n'
          '[sources.mem]\nurl = "sqlite://"\n[sources.pg]\nurl = "postgresql://u:pw@h/db"\n')
    (tmp_path / "sub").mkdir()
    config = load_config(start=tmp_path / "sub", environ={})
    assert config.target_url == f"sqlite:///{tmp_path.resolve() / 'poser.db'}"
    assert config.sources == {"pos": f"sqlite:///{tmp_path.resolve() / 'data' / 'pos.db'}",
                              "mem": "sqlite://", "pg": "postgresql://u:pw@h/db"}
    absolute = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    write(tmp_path / "syncline.toml", f'[target]\nurl = "{absolute}"\n')
    assert load_config(start=tmp_path, environ={}).target_url == absolute
    assert load_config(start=tmp_path / "sub", environ={
        "SYNCLINE_TARGET_URL": "sqlite:///b.db"}).target_url == "sqlite:///b.db"
