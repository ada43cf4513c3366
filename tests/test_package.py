"""The package's public face: exported names, start-up cost, docs of every command."""

from __future__ import annotations

import subprocess
import sys

import pytest

import syncline
from helpers import run_cli


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


@pytest.mark.parametrize("command", [[], ["sync"], ["import"]])
def test_every_command_has_help_with_exit_codes(command: list[str]) -> None:
    proc = run_cli(*command, "--help", check=True)
    assert "Usage: syncline" in proc.stdout
    assert "Exit codes" in proc.stdout


def test_version() -> None:
    assert run_cli("--version", check=True).stdout.startswith("syncline, version ")
