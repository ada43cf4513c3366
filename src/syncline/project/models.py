"""A project's models: the tables of the modules its config names, the version tables of
those marked versioned, and the prefix rule.

The config's ``models`` are module names (``poser.db.model``); each is imported (the
project's folder first on ``sys.path``) and searched for SQLAlchemy metadata: a
declarative ``Base`` (its registry's classes and metadata), a mapped class, a ``Table``,
or a ``MetaData``. A package must import its models in its ``__init__``, as Alembic's own
``env.py`` would need.

A model is versioned as SQLAlchemy-Continuum marks it — ``__versioned__ = {}`` on the
mapped class — or by its table's ``info={"versioned": True}``. Its ``<table>_version``
(:func:`syncline.targets.history.version_table`) joins the metadata that autogenerate
compares, so the revision that adds a table adds its versions too.

The prefix rule: every table of the project's models starts with the project's prefix
(``poser_widget``, never ``widget``), so that it never collides with a table syncline or a
framework adds later. Tables of the database that lack the prefix belong to someone else:
a project's revision never creates, changes or drops them.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from syncline.config import FILE, ProjectConfig
from syncline.errors import ConfigError, SynclineError
from syncline.migrations import OWN_TABLES
from syncline.targets import history

#: what ``__versioned__`` may say that syncline's version tables can honour
_VERSIONED_OPTIONS = {"versioning"}


@dataclass(frozen=True)
class ProjectModels:
    """The tables of a project's models, with the version tables of the versioned ones."""

    prefix: str
    #: the models' own metadata, as their modules hold it (never changed here)
    metadata: tuple[sa.MetaData, ...]
    #: the ``<table>_version`` tables of the versioned models
    versions: sa.MetaData
    #: table name -> the model class that maps it (where one does), for messages
    classes: dict[str, str] = field(default_factory=dict)

    @property
    def tables(self) -> list[sa.Table]:
        """Every table of the models, by name."""
        found = {t.name: t for m in self.metadata for t in m.tables.values()}
        return [found[name] for name in sorted(found)]

    @property
    def versioned(self) -> list[str]:
        """The names of the versioned tables."""
        return sorted(t.name[: -len(history.SUFFIX)] for t in self.versions.tables.values())

    @property
    def target_metadata(self) -> list[sa.MetaData]:
        """What autogenerate compares the database to: the models and their versions."""
        return [*self.metadata, self.versions]

    def unprefixed(self) -> list[str]:
        """The tables that break the prefix rule."""
        return [t.name for t in self.tables
                if not t.name.startswith(self.prefix) and t.name not in OWN_TABLES]

    def require_prefix(self, command: str, path: object = None) -> None:
        """Refuse models whose tables lack the prefix, naming each table and the rule."""
        bad = self.unprefixed()
        if not bad:
            return
        named = ", ".join(f"{name} (model {self.classes[name]})" if name in self.classes
                          else name for name in bad)
        raise ConfigError(
            f"{command}: table {named} lacks the project's prefix {self.prefix!r}: every table"
            f" of the project's models must start with it (the prefix rule: rename the table"
            f" to {self.prefix}{bad[0]}, or change prefix in {FILE}); nothing was written",
            model=bad[0], file=None if path is None else str(path))

    def owns(self, name: str) -> bool:
        """Whether a table of the database is the project's: it carries the prefix."""
        return name.startswith(self.prefix) and name not in OWN_TABLES


def load_models(config: ProjectConfig, command: str) -> ProjectModels:
    """Import the config's model modules and collect their tables (no prefix check here:
    :meth:`ProjectModels.require_prefix`)."""
    where = config.path or FILE
    if not config.prefix:
        raise ConfigError(f"{command}: the project has no prefix: give name (or prefix) in"
                          f" {where}", file=str(where))
    if not config.models:
        raise ConfigError(f"{command}: the project names no models: give models ="
                          f' ["package.db.model"] in {where}', file=str(where))
    root = str(config.root)
    if root not in sys.path:
        sys.path.insert(0, root)
    metadata: list[sa.MetaData] = []
    classes: dict[str, type[Any]] = {}
    for name in config.models:
        module = _import(name, command, str(where))
        for found in _scan(module, classes):
            if not any(found is m for m in metadata):
                metadata.append(found)
    if not any(m.tables for m in metadata):
        raise ConfigError(f"{command}: no SQLAlchemy models found in {', '.join(config.models)}"
                          " (a declarative Base, mapped classes, Table or MetaData)",
                          file=str(where))
    versions = sa.MetaData()
    known = {t for m in metadata for t in m.tables}
    for table in sorted({t for m in metadata for t in m.tables.values()}, key=lambda t: t.name):
        cls = classes.get(table.name)
        if _is_versioned(table, cls, command) and history.version_name(table.name) not in known:
            if not table.primary_key.columns:
                raise ConfigError(f"{command}: versioned table {table.name} has no primary key;"
                                  " versions are kept by it", model=table.name)
            history.version_table(table, versions)
    return ProjectModels(config.prefix, tuple(metadata), versions,
                         {t: f"{c.__module__}.{c.__qualname__}" for t, c in classes.items()})


def _import(name: str, command: str, where: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except SynclineError:
        raise
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"{command}: cannot import the models module {name}: {exc} (is the project"
            " installed, or this its folder?)", file=where) from exc
    except Exception as exc:  # a user's module: whatever it raises is reported as one line
        raise ConfigError(f"{command}: importing the models module {name} failed:"
                          f" {type(exc).__name__}: {exc}", file=where) from exc


def _scan(module: ModuleType, classes: dict[str, type[Any]]) -> list[sa.MetaData]:
    """The metadata a module holds, filling ``classes`` with the mapped classes seen."""
    found: list[sa.MetaData] = []
    for value in list(vars(module).values()):
        if isinstance(value, sa.MetaData):
            found.append(value)
        elif isinstance(value, sa.Table):
            found.append(value.metadata)
        elif isinstance(value, type):
            registry = value.__dict__.get("registry")
            if isinstance(registry, orm.registry):  # a declarative Base
                found.append(registry.metadata)
                for mapper in registry.mappers:
                    _mapped(mapper.class_, classes)
            table = getattr(value, "__table__", None)
            if isinstance(table, sa.Table):
                found.append(table.metadata)
                _mapped(value, classes)
    return found


def _mapped(cls: type[Any], classes: dict[str, type[Any]]) -> None:
    table = getattr(cls, "__table__", None)
    if isinstance(table, sa.Table):
        classes.setdefault(table.name, cls)


def _is_versioned(table: sa.Table, cls: type[Any] | None, command: str) -> bool:
    if table.info.get("versioned"):
        return True
    options = getattr(cls, "__versioned__", None) if cls is not None else None
    if options is None:
        return False
    if isinstance(options, dict):
        unknown = sorted(set(options) - _VERSIONED_OPTIONS)
        if unknown:
            raise ConfigError(
                f"{command}: {table.name}: __versioned__ option {unknown[0]!r} is not supported"
                " (syncline's version tables keep every column, as <table>_version)",
                model=table.name)
        return bool(options.get("versioning", True))
    return bool(options)
