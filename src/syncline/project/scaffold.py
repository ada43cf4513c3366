"""``syncline new NAME [DIR]``: a project to grow custom tables in, like Rattail's "poser".

What it writes (NAME = ``poser``, DIR = ``./poser`` unless given)::

    DIR/syncline.toml                 name, prefix, models, migrations, handlers, runas, target
    DIR/pyproject.toml                depends on syncline[db]; the handler's entry point; [test]
    DIR/README.md                     the checklist, as commands
    DIR/data/widgets.csv, components.csv   sample files for the handler
    DIR/poser/db/model/               Widget and Component (poser_widget, poser_component)
    DIR/poser/db/alembic/             env.py, script.py.mako, versions/ (the root of branch poser)
    DIR/poser/importing/from_csv.py   the handler poser-csv: widgets, then components
    DIR/tests/test_poser.py           the project's own tests

The texts are the ``.tmpl`` files of ``skeleton/`` (``NAME`` in a path is the name),
filled in by :class:`string.Template`: ``$name``, ``$Name`` (``Poser``), ``$NAME``
(``POSER``) and ``$syncline`` (this syncline's version). The Alembic folder is made by
:func:`~syncline.project.migrations.init_migrations`, as ``syncline db init`` makes it.

Everything is written into a hidden folder beside DIR and renamed into place at the end, so
a failure leaves nothing behind and DIR is never half made.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import string
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from syncline.config import FILE, load_config
from syncline.errors import ConfigError
from syncline.project.migrations import init_migrations

__all__ = ["SKELETON", "NewProject", "check_name", "create_project"]

#: the templates of a new project's files
SKELETON = Path(__file__).resolve().parent / "skeleton"
_SUFFIX = ".tmpl"
#: templates kept without their leading dot (package data globs skip dot files)
_DOTTED = {"gitignore": ".gitignore"}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: names a project cannot take: its package would hide (or be hidden by) these
_TAKEN = frozenset({"syncline", "alembic", "sqlalchemy", "pytest", "test", "tests",
                    "head", "heads", "base"})


@dataclass(frozen=True)
class NewProject:
    """A project just made."""

    name: str
    folder: Path
    #: every file written, relative to ``folder``, sorted
    files: tuple[Path, ...]


def check_name(name: str) -> None:
    """Refuse a NAME that cannot be the project's package, table prefix and migration branch."""
    if not _NAME.match(name) or not name.isidentifier():
        raise ConfigError(f"new: {name!r} is not a project name: use lowercase letters, digits"
                          " and _, starting with a letter (it names a Python package, the"
                          " tables' prefix and the migration branch)", value=name)
    if name in _TAKEN or name in sys.stdlib_module_names:
        raise ConfigError(f"new: {name!r} is taken (by Python, syncline or its tools): its"
                          " package would hide theirs; choose another name", value=name)


def create_project(name: str, folder: str | os.PathLike[str] | None = None) -> NewProject:
    """Write the project ``name`` into ``folder`` (default: ``./name``), which must not
    exist or be empty. Returns what was made; on any error nothing is left behind."""
    check_name(name)
    target = Path(folder if folder is not None else name).absolute()
    if target.exists() and not target.is_dir():
        raise ConfigError(f"new: {target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()):
        raise ConfigError(f"new: the folder {target} is not empty: give a new or empty folder"
                          " (nothing was written)")
    if not target.parent.is_dir():
        raise ConfigError(f"new: the folder {target.parent} does not exist")
    work = target.parent / f".{target.name}.new-{secrets.token_hex(4)}"
    try:
        work.mkdir()
        _render(name, work)
        init_migrations(load_config(work / FILE))
        _drop_caches(work)
        files = sorted(p.relative_to(work) for p in work.rglob("*") if p.is_file())
        os.replace(work, target)  # target missing, or an empty folder: replaced whole
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise ConfigError(f"new: cannot write {exc.filename or target}: {exc.strerror}"
                          " (nothing was written)") from exc
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return NewProject(name, target, tuple(files))


def _render(name: str, folder: Path) -> None:
    values = {"name": name, "Name": "".join(p.capitalize() for p in name.split("_")),
              "NAME": name.upper(), "syncline": version("syncline")}
    for template in sorted(SKELETON.rglob(f"*{_SUFFIX}")):
        parts = [name if p == "NAME" else p for p in template.relative_to(SKELETON).parts]
        parts[-1] = parts[-1].removesuffix(_SUFFIX).replace("NAME", name)
        parts[-1] = _DOTTED.get(parts[-1], parts[-1])
        path = folder.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = string.Template(template.read_text(encoding="utf-8")).substitute(values)
        path.write_text(text, encoding="utf-8")


def _drop_caches(folder: Path) -> None:
    """Alembic imported the first revision to check it: no bytecode in a new project."""
    for cache in list(folder.rglob("__pycache__")):
        shutil.rmtree(cache)
