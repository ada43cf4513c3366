"""A project's settings: ``syncline.toml``, or ``[tool.syncline]`` in its ``pyproject.toml``.

Found by ``--config FILE``, else from the working directory upwards (the first folder
holding a ``syncline.toml``, or a ``pyproject.toml`` with a ``[tool.syncline]`` table)::

    name = "poser"                   # the project: its migration branch, its handlers' prefix
    prefix = "poser_"                # every project table's name starts with it (never empty)
    models = ["poser.db.model"]      # modules whose SQLAlchemy models are the project's tables
    handlers = ["poser-import"]      # entry point names or module:Class
    runas = "poser"                  # the user versions name, unless a run says --runas
    migrations = "poser/db/alembic"  # the project's Alembic folder (relative to this file)

    [target]
    url = "sqlite:///poser.db"       # or url_env = "POSER_DB_URL"; SYNCLINE_TARGET_URL wins

    [sources.pos]
    url_env = "POS_URL"              # or url = "..."

A URL may always come from the environment instead, so that no password sits in a file.
A database file named by a relative path in the file (``sqlite:///poser.db``) is the one
beside the file, wherever the command runs; in the environment it is the working
directory's, as on the command line.
A bad file is a :class:`ConfigError` naming the file, the key and what is wrong.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncline.errors import ConfigError
from syncline.masking import mask_url

FILE = "syncline.toml"
PYPROJECT = "pyproject.toml"
#: the environment variable that names the target, over any file
TARGET_ENV = "SYNCLINE_TARGET_URL"

_KEYS = {"name", "prefix", "models", "handlers", "runas", "migrations", "target", "sources"}
_URL_KEYS = {"url", "url_env"}


@dataclass(frozen=True)
class ProjectConfig:
    """The resolved settings of one project (empty where the file says nothing)."""

    #: the file they came from (None: no file, only the environment)
    path: Path | None = None
    name: str | None = None
    prefix: str | None = None
    models: tuple[str, ...] = ()
    handlers: tuple[str, ...] = ()
    runas: str | None = None
    #: the project's Alembic folder, absolute
    migrations: Path | None = None
    target_url: str | None = None
    #: where target_url came from: "SYNCLINE_TARGET_URL", "url_env X", "url" or None
    target_from: str | None = None
    #: named source systems: name -> URL (None where its variable is unset)
    sources: dict[str, str | None] = field(default_factory=dict)
    #: source system name -> the variable its url_env names (where it gives one)
    source_env: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        """The project's folder (the config file's), or the working directory."""
        return self.path.parent if self.path is not None else Path.cwd()

    def require_target(self, given: str | None, command: str) -> str:
        """The target URL: ``given`` (``--target``), else the config's; else an error."""
        if given:
            return given
        if self.target_url:
            return self.target_url
        if self.target_from is not None and self.target_from.startswith("url_env "):
            variable = self.target_from.removeprefix("url_env ")
            raise ConfigError(f"{command}: no target: the environment variable {variable}"
                              f" that [target] url_env names in {self.path or FILE} is not set"
                              " (or empty): set it, or pass --target URL")
        where = f" ({self.path} has no [target] url)" if self.path is not None else ""
        raise ConfigError(f"{command}: no target: pass --target URL, set {TARGET_ENV}, or"
                          f" give [target] url or url_env in {FILE}{where}")

    def resolve_source(self, given: str | None) -> str | None:
        """``--source`` as given, or the URL of the source system it names (unless a file
        or folder of that name is here: a path is taken as a path)."""
        if given is not None and given in self.sources and not os.path.exists(given):
            return self.source_url(given)
        return given

    def source_url(self, name: str) -> str:
        """The URL of the source system ``name`` (``[sources.NAME]``)."""
        if name not in self.sources:
            known = ", ".join(sorted(self.sources)) or "none"
            raise ConfigError(f"no source system {name!r} in {self.path or FILE}"
                              f" (sources: {known})")
        url = self.sources[name]
        if not url:
            variable = self.source_env.get(name, "")
            raise ConfigError(f"source system {name!r}: the environment variable {variable}"
                              f" that [sources.{name}] url_env names in {self.path or FILE}"
                              " is not set (or empty)")
        return url

    def as_dict(self) -> dict[str, Any]:
        """The settings for people: every URL masked."""
        return {
            "config": None if self.path is None else str(self.path),
            "name": self.name, "prefix": self.prefix, "models": list(self.models),
            "handlers": list(self.handlers), "runas": self.runas,
            "migrations": None if self.migrations is None else str(self.migrations),
            "target": {"url": None if self.target_url is None else mask_url(self.target_url),
                       "from": self.target_from},
            "sources": {n: None if u is None else mask_url(u) for n, u in self.sources.items()},
        }


def find_config(start: Path | None = None) -> Path | None:
    """The nearest ``syncline.toml`` (or ``pyproject.toml`` with ``[tool.syncline]``) from
    ``start`` (the working directory) upwards."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / FILE
        if candidate.is_file():
            return candidate
        pyproject = folder / PYPROJECT
        if pyproject.is_file() and "tool" in (data := _read(pyproject)) and isinstance(
                data["tool"], dict) and "syncline" in data["tool"]:
            return pyproject
    return None


def load_config(explicit: str | Path | None = None, start: Path | None = None,
                environ: Mapping[str, str] | None = None) -> ProjectConfig:
    """The project's settings: from ``explicit`` (``--config``), else the nearest file;
    with no file, only what the environment says (``SYNCLINE_TARGET_URL``)."""
    env = os.environ if environ is None else environ
    path: Path | None = None
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist", file=str(path))
    else:
        path = find_config(start)
    data: dict[str, Any] = {}
    if path is not None:
        data = _read(path)
        if path.name == PYPROJECT:
            data = data.get("tool", {}).get("syncline", {})
            if not isinstance(data, dict):
                raise _bad(path, "tool.syncline", "must be a table")
    return _parse(path, data, env)


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML: {exc}", file=str(path)) from exc
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it: {exc.strerror}",
                          file=str(path)) from exc


def _bad(path: Path | None, key: str, what: str) -> ConfigError:
    return ConfigError(f"config file {path}: {key} {what}", file=None if path is None
                       else str(path), field=key)


def _parse(path: Path | None, data: dict[str, Any], env: Mapping[str, str]) -> ProjectConfig:
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise _bad(path, unknown[0], f"is not a setting (settings: {', '.join(sorted(_KEYS))})")
    text = {k: _text(path, data, k) for k in ("name", "prefix", "runas", "migrations")}
    if "prefix" in data and not text["prefix"]:
        raise _bad(path, "prefix", "must not be empty (every project table carries it)")
    name = text["name"]
    prefix = text["prefix"] if "prefix" in data else (f"{name}_" if name else None)
    root = path.parent if path is not None else Path.cwd()
    migrations = text["migrations"]
    target_url, target_from = None, None
    target = data.get("target", {})
    if not isinstance(target, dict):
        raise _bad(path, "target", "must be a table ([target] with url or url_env)")
    if env.get(TARGET_ENV):
        target_url, target_from = env[TARGET_ENV], TARGET_ENV
    else:
        target_url, target_from = _url(path, "target", target, env)
    sources_data = data.get("sources", {})
    if not isinstance(sources_data, dict):
        raise _bad(path, "sources", "must be a table of source systems ([sources.NAME])")
    sources: dict[str, str | None] = {}
    source_env: dict[str, str] = {}
    for source_name, entry in sources_data.items():
        if not isinstance(entry, dict):
            raise _bad(path, f"sources.{source_name}", "must be a table with url or url_env")
        sources[source_name], where = _url(path, f"sources.{source_name}", entry, env)
        if where is not None and where.startswith("url_env "):
            source_env[source_name] = where.removeprefix("url_env ")
    return ProjectConfig(
        path=None if path is None else path.resolve(), name=name, prefix=prefix,
        models=_names(path, data, "models"), handlers=_names(path, data, "handlers"),
        runas=text["runas"], migrations=None if migrations is None else (root / migrations),
        target_url=target_url, target_from=target_from, sources=sources,
        source_env=source_env)


def _text(path: Path | None, data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise _bad(path, key, f"must be a string, not {type(value).__name__} {value!r}")
    return value


def _names(path: Path | None, data: dict[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _bad(path, key, "must be a list of names")
    return tuple(value)


def _url(path: Path | None, key: str, entry: dict[str, Any], env: Mapping[str, str]
         ) -> tuple[str | None, str | None]:
    unknown = sorted(set(entry) - _URL_KEYS)
    if unknown:
        raise _bad(path, f"{key}.{unknown[0]}", "is not a setting (url or url_env)")
    if "url" in entry and "url_env" in entry:
        raise _bad(path, key, "has both url and url_env: give one")
    if "url_env" in entry:
        variable = entry["url_env"]
        if not isinstance(variable, str) or not variable:
            raise _bad(path, f"{key}.url_env", "must name an environment variable")
        return env.get(variable) or None, f"url_env {variable}"
    url = entry.get("url")
    if url is not None and not isinstance(url, str):
        raise _bad(path, f"{key}.url", "must be a string")
    if url and path is not None:
        from syncline.targets.registry import anchored_url

        url = anchored_url(url, path.parent.resolve())
    return url, "url" if url else None
