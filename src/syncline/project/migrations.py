"""``syncline db``: a project's Alembic migrations, next to syncline's own branch.

Alembic runs through its Python API, configured here — no ``alembic.ini``:

- ``script_location`` is the project's folder (``migrations`` in ``syncline.toml``, made by
  :func:`init_migrations`), else syncline's own (:mod:`syncline.migrations`);
- ``version_locations`` are syncline's ``versions/`` (branch ``syncline``) and the
  project's ``versions/`` (branch NAME), so ``upgrade heads`` applies both;
- the target URL comes from the config (or ``--target``), the models from its ``models``
  (:mod:`syncline.project.models`), handed to ``env.py`` through
  :mod:`syncline.project.environment`.

A project's folder, as :func:`init_migrations` makes it::

    <migrations>/env.py            calls syncline.project.migrations.run_environment()
    <migrations>/script.py.mako    the template of new revisions
    <migrations>/versions/<rev>_<name>_branch.py   the empty root of branch NAME
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from syncline.config import FILE, ProjectConfig
from syncline.errors import ConfigError, SynclineError, TargetError
from syncline.masking import mask_text
from syncline.migrations import BRANCH, FOLDER, VERSIONS
from syncline.project.environment import STATE, Environment, Step, describe, run_environment
from syncline.project.models import load_models
from syncline.targets.refusals import translate
from syncline.targets.sql import SqlTarget

try:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import Script, ScriptDirectory
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError
except ModuleNotFoundError as exc:  # pragma: no cover - the dev install has it
    raise ConfigError("syncline db needs Alembic: pip install 'syncline[db]'") from exc

__all__ = [
    "CheckResult", "NewRevision", "RevisionInfo", "Step", "check", "current", "downgrade",
    "heads", "history", "init_migrations", "revision", "run_environment", "upgrade",
]

_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RESERVED = {BRANCH, "head", "heads", "base"}

ENV_PY = '''"""Alembic's environment of the {name} project.

syncline gives it the target database and the models (syncline.toml: target, models,
prefix), so this file stays this small. Run migrations through syncline:

    syncline db revision --autogenerate -m "add widgets" --head {name}@head
    syncline db upgrade heads
"""

from syncline.project.migrations import run_environment

run_environment()
'''


@dataclass(frozen=True)
class RevisionInfo:
    """One revision of the migration folders."""

    revision: str
    down: tuple[str, ...]
    branches: tuple[str, ...]
    message: str
    is_head: bool
    path: Path | None

    def as_dict(self) -> dict[str, Any]:
        return {"revision": self.revision, "down_revisions": list(self.down),
                "branches": list(self.branches), "message": self.message,
                "head": self.is_head, "path": None if self.path is None else str(self.path)}


@dataclass(frozen=True)
class NewRevision:
    """A revision script just written, and what autogenerate found for it."""

    path: Path
    revision: str
    #: the differences it holds, in words (autogenerate only)
    changes: tuple[str, ...] = ()
    #: revisions applied first: autogenerate compares the models with the database at
    #: the heads, so a database behind them is upgraded first
    applied: tuple[Step, ...] = ()


@dataclass(frozen=True)
class CheckResult:
    """``db check``: the database against the migration heads and the models."""

    #: the revisions the database is at, and the heads of the migration folders
    current: tuple[str, ...]
    heads: tuple[str, ...]
    #: differences between the models and the database (only looked for when up to date)
    changes: tuple[str, ...] = ()

    @property
    def up_to_date(self) -> bool:
        return set(self.current) == set(self.heads)

    @property
    def clean(self) -> bool:
        return self.up_to_date and not self.changes

    def as_dict(self) -> dict[str, Any]:
        return {"clean": self.clean, "up_to_date": self.up_to_date,
                "current": list(self.current), "heads": list(self.heads),
                "changes": list(self.changes)}


def init_migrations(config: ProjectConfig) -> Path:
    """Create the project's Alembic folder (``migrations`` in its config): ``env.py``,
    ``script.py.mako``, ``versions/`` with an empty first revision that starts the branch
    labelled with the project's name. Refuses a folder that already has an ``env.py``;
    returns the folder."""
    name = _branch_name(config, "db init")
    folder = _declared_folder(config, "db init")
    if (folder / "env.py").exists():
        raise ConfigError(f"db init: {folder} already holds an Alembic environment (env.py);"
                          " nothing was written", file=str(folder / "env.py"))
    made = [p for p in (folder, folder / "versions") if not p.exists()]
    written: list[Path] = []
    try:
        (folder / "versions").mkdir(parents=True, exist_ok=True)
        env_py = folder / "env.py"
        env_py.write_text(ENV_PY.format(name=name), encoding="utf-8")
        written.append(env_py)
        template = folder / "script.py.mako"
        if not template.exists():
            shutil.copyfile(FOLDER / "script.py.mako", template)
            written.append(template)
        cfg = _alembic_config(config, Environment(), "db init")
        with _translated("db init"):
            command.revision(cfg, message=f"{name} branch", head="base", branch_label=name,
                             version_path=str(folder / "versions"))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        for path in reversed(made):
            shutil.rmtree(path, ignore_errors=True)
        raise
    return folder


def revision(config: ProjectConfig, message: str, *, autogenerate: bool = False,
             head: str | None = None, url: str | None = None) -> NewRevision:
    """Write a new revision on the project's branch (``head``: default ``NAME@head``);
    with ``autogenerate``, holding the differences between the models and the database at
    ``url`` as the heads leave it: a database behind them is upgraded first (a SQLite file
    not there yet is not made: an empty one in memory stands in). The models must keep
    the prefix rule; nothing is written when they do not."""
    command_name = "db revision"
    name = _branch_name(config, command_name)
    folder = _project_folder(config, command_name)
    models = None
    if autogenerate or config.models:
        models = load_models(config, command_name)
        models.require_prefix(command_name, config.path)
    env = Environment(models=models)
    cfg = _alembic_config(config, env, command_name)
    script = _script_directory(cfg, command_name)
    head = head or f"{name}@head"
    with _translated(command_name):
        for base in script.get_revisions(head):
            if base is not None and BRANCH in base.branch_labels:
                raise ConfigError(f"{command_name}: --head {head} is on syncline's own branch;"
                                  f" the project's revisions go on {name}@head")
    changes: list[str] = []

    def collect(context: Any, rev: Any, directives: Any) -> None:
        for ops in directives[0].upgrade_ops_list:
            changes.extend(describe(d) for d in ops.as_diffs())

    versions = str(folder / "versions")
    if autogenerate:
        if url is None:
            raise ConfigError(f"{command_name} --autogenerate: no target database")
        # a SQLite file not there yet: compared in memory, no file made
        with _connection(url, command_name, create=True, scratch=True) as conn:
            env.connection = conn
            with _translated(command_name):
                if _behind(conn, script):  # compare the models with the database at heads
                    command.upgrade(cfg, "heads")
                made = command.revision(cfg, message, autogenerate=True, head=head,
                                        version_path=versions,
                                        process_revision_directives=collect)
    else:
        with _translated(command_name):
            made = command.revision(cfg, message, head=head, version_path=versions)
    written = made[0] if isinstance(made, list) else made
    if written is None:  # pragma: no cover - only a directive hook that drops it
        raise ConfigError(f"{command_name}: Alembic wrote no script")
    return NewRevision(Path(written.path), written.revision, tuple(changes), tuple(env.steps))


def upgrade(config: ProjectConfig, url: str, target: str = "heads") -> list[Step]:
    """Apply the revisions up to ``target`` (``heads``: every branch, syncline's own too);
    returns the steps applied. A SQLite file is created if missing: that is the point."""
    return _migrate(config, url, target, "db upgrade", command.upgrade, create=True)


def downgrade(config: ProjectConfig, url: str, target: str) -> list[Step]:
    """Undo revisions down to ``target`` (``NAME@base``: the project's branch only)."""
    return _migrate(config, url, target, "db downgrade", command.downgrade, create=False)


def current(config: ProjectConfig, url: str) -> list[RevisionInfo]:
    """The revisions the database is at (none: never migrated)."""
    cfg = _alembic_config(config, Environment(), "db current")
    script = _script_directory(cfg, "db current")
    with _connection(url, "db current") as conn:
        at = MigrationContext.configure(conn).get_current_heads()
    return [_info(script, rev) for rev in at]


def heads(config: ProjectConfig) -> list[RevisionInfo]:
    """The newest revision of each branch."""
    script = _script_directory(_alembic_config(config, Environment(), "db heads"), "db heads")
    with _translated("db heads"):
        return [_info(script, rev) for rev in script.get_heads()]


def history(config: ProjectConfig) -> list[RevisionInfo]:
    """Every revision, newest first."""
    script = _script_directory(_alembic_config(config, Environment(), "db history"),
                               "db history")
    with _translated("db history"):
        return [_info(script, s.revision) for s in script.walk_revisions()]


def check(config: ProjectConfig, url: str) -> CheckResult:
    """Whether the database is at the heads and matches the models (as ``alembic check``:
    a difference means a revision is missing). The models must keep the prefix rule."""
    command_name = "db check"
    models = load_models(config, command_name)
    models.require_prefix(command_name, config.path)
    env = Environment(models=models)
    script = _script_directory(_alembic_config(config, env, command_name), command_name)
    with _connection(url, command_name) as conn:
        context = MigrationContext.configure(conn, opts=env.options())
        at = context.get_current_heads()
        wanted = tuple(script.get_heads())
        if set(at) != set(wanted):
            return CheckResult(tuple(at), wanted)
        with _translated(command_name):
            diffs = compare_metadata(context, models.target_metadata)  # type: ignore[arg-type]
    return CheckResult(tuple(at), wanted, tuple(describe(d) for d in diffs))


def _migrate(config: ProjectConfig, url: str, target: str, command_name: str,
             run: Callable[[Config, str], None], *, create: bool) -> list[Step]:
    env = Environment()
    cfg = _alembic_config(config, env, command_name)
    with _connection(url, command_name, create=create) as conn:
        env.connection = conn
        with _translated(command_name):
            run(cfg, target)
    return env.steps


def _alembic_config(config: ProjectConfig, env: Environment, command_name: str) -> Config:
    folder = _project_folder(config, command_name) if config.migrations is not None else None
    locations = [VERSIONS] + ([folder / "versions"] if folder is not None else [])
    # quiet: Alembic prints no "Generating ..." of its own (the commands report)
    cfg = Config(cmd_opts=argparse.Namespace(quiet=True))
    cfg.set_main_option("script_location", _ini(folder or FOLDER))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_path_separator", "os")  # Alembic < 1.16 reads this one
    cfg.set_main_option("version_locations", os.pathsep.join(_ini(p) for p in locations))
    cfg.attributes[STATE] = env
    return cfg


def _ini(path: Path) -> str:
    return str(path).replace("%", "%%")  # the config is a ConfigParser: % interpolates


def _script_directory(cfg: Config, command_name: str) -> ScriptDirectory:
    with _translated(command_name):
        return ScriptDirectory.from_config(cfg)


def _declared_folder(config: ProjectConfig, command_name: str) -> Path:
    if config.migrations is None:
        where = config.path or FILE
        raise ConfigError(f"{command_name}: the project names no migrations folder: give"
                          f' migrations = "{config.name or "NAME"}/db/alembic" in {where}',
                          file=str(where))
    return config.migrations


def _project_folder(config: ProjectConfig, command_name: str) -> Path:
    folder = _declared_folder(config, command_name)
    if not (folder / "env.py").is_file():
        raise ConfigError(f"{command_name}: {folder} holds no Alembic environment (env.py):"
                          " run syncline db init first", file=str(folder))
    return folder


def _branch_name(config: ProjectConfig, command_name: str) -> str:
    name = config.name
    where = config.path or FILE
    if not name:
        raise ConfigError(f"{command_name}: the project has no name (its migration branch):"
                          f" give name in {where}", file=str(where))
    if not _LABEL.match(name) or name in _RESERVED:
        raise ConfigError(f"{command_name}: name {name!r} cannot label a migration branch:"
                          " use letters, digits and _, starting with a letter, and not"
                          f" {', '.join(sorted(_RESERVED))}", file=str(where))
    return name


def _info(script: ScriptDirectory, rev: str) -> RevisionInfo:
    try:
        found: Script | None = script.get_revision(rev)
    except (CommandError, RevisionError):
        found = None
    if found is None:
        return RevisionInfo(rev, (), (), "(not in the migration folders)", False, None)
    down = found.down_revision
    return RevisionInfo(found.revision, (down,) if isinstance(down, str) else tuple(down or ()),
                        tuple(sorted(found.branch_labels)), found.doc, found.is_head,
                        Path(found.path))


def _behind(conn: sa.Connection, script: ScriptDirectory) -> bool:
    return set(MigrationContext.configure(conn).get_current_heads()) != set(script.get_heads())


@contextmanager
def _connection(url: str, command_name: str, *, create: bool = False, scratch: bool = False
                ) -> Iterator[sa.Connection]:
    """One connection in one transaction: everything commits together, or nothing.
    ``create``: a SQLite file may be made (else a missing one is refused: a mistyped path);
    ``scratch`` with it: an empty in-memory database stands in for the missing file."""
    target = SqlTarget(url)
    try:
        path = target.dialect.database_file(target.engine.url)
        if not create and path is not None and not path.exists():
            raise ConfigError(f"{command_name}: the database file {path} does not exist"
                              " (a mistyped path?); syncline db upgrade makes it",
                              file=str(path))
        target.require_database(create=create, dry_run=scratch)
        with _translated(command_name), target.engine.begin() as conn:
            yield conn
    finally:
        target.close()


@contextmanager
def _translated(command_name: str) -> Iterator[None]:
    """Alembic's and the driver's errors as syncline's, credentials masked."""
    try:
        yield
    except SynclineError:
        raise
    except (CommandError, RevisionError) as exc:
        raise ConfigError(f"{command_name}: {mask_text(str(exc))}") from exc
    except sa.exc.DBAPIError as exc:
        raise translate(exc, command_name) from exc
    except sa.exc.SQLAlchemyError as exc:
        raise TargetError(f"{command_name}: {mask_text(str(exc))}") from exc
