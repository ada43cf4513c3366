"""The package's public face: exported names, start-up cost, docs of every command; and the
test suite's own shape."""

from __future__ import annotations

import ast
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import syncline
from helpers import run_cli, run_process

TESTS = Path(__file__).resolve().parent


def test_every_exported_name_resolves() -> None:
    for name in syncline.__all__:
        assert getattr(syncline, name).__name__ == name
    assert syncline.__all__ == sorted(syncline.__all__)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        syncline.NoSuchThing  # noqa: B018


def test_start_up_does_not_import_sqlalchemy() -> None:
    code = ("import sys; from syncline.cli.main import cli;"
            " assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported at start-up'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("command", [[], ["sync"], ["export"], ["import"], ["db"], ["new"]])
def test_every_command_has_help_with_exit_codes(command: list[str]) -> None:
    proc = run_cli(*command, "--help", check=True)
    assert "Usage: syncline" in proc.stdout
    assert "Exit codes" in proc.stdout


def test_version() -> None:
    assert run_cli("--version", check=True).stdout.startswith("syncline, version ")


def test_python_m_syncline_is_the_command() -> None:
    """The ``python -m syncline`` entry as a real process: the version, and a usage error
    that exits 2 with one JSON object under --json."""
    assert run_process("--version", check=True).stdout.startswith("syncline, version ")
    usage = run_process("sync", "--no-such-option", "--json")
    assert usage.returncode == 2, usage.stderr
    assert usage.stderr.startswith("Usage: syncline sync"), usage.stderr
    assert '"exit_code": 2' in usage.stdout, usage.stdout


def test_a_run_in_this_process_leaves_the_process_as_it_found_it(tmp_path: Path) -> None:
    """run_cli undoes what a run changes in the process: the secrets it remembered, the
    logging handler it added, the working directory on sys.path, the working directory."""
    from syncline import masking

    def state() -> tuple[object, ...]:
        return (list(sys.path), list(logging.getLogger("psycopg").handlers),
                set(masking._known), os.getcwd(), os.environ.get("SYNCLINE_X"))

    before = state()
    done = run_cli("import", "no_such_module:Job", "--source",
                   "postgresql://u:Secret-1@127.0.0.1:1/x", cwd=tmp_path,
                   env={"SYNCLINE_X": "1"})
    assert done.returncode == 1 and "no_such_module" in done.stderr, done.stderr
    assert state() == before


def imported_modules(source: str) -> set[str]:
    """Every module a file imports, wherever the import stands (``from m import n`` gives
    ``m`` and ``m.n``: n may be a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_test_modules_import_no_other_test_module() -> None:
    """What tests share lives in helpers.py or conftest.py, imported by those names: a test
    module imported by another runs twice and ties the two together, and ``tests.helpers``
    would be a second copy of ``helpers``."""
    assert imported_modules("def f():\n    from tests import test_x\n") >= {"tests.test_x"}
    files = sorted(TESTS.glob("test_*.py"))
    assert len(files) > 30, files
    offenders = {}
    for path in files:
        found = sorted(name for name in imported_modules(path.read_text(encoding="utf-8"))
                       if name.split(".")[0] == "tests" or name.split(".")[0].startswith("test_"))
        if found:
            offenders[path.name] = found
    assert offenders == {}, f"test modules that import test modules: {offenders}"
