"""The one place that knows which databases syncline has a class for.

A database is looked up by SQLAlchemy's dialect name (``engine.dialect.name``); one it has
no class for is driven as plain SQL by :class:`~syncline.targets.dialect.Dialect`. Adding
a database is one module in ``targets/`` and one line here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from syncline.errors import ConfigError
from syncline.masking import mask_text, mask_url, remember_url
from syncline.targets.dialect import Dialect
from syncline.targets.mysql import MySQL
from syncline.targets.postgresql import PostgreSQL
from syncline.targets.sqlite import SQLite

#: SQLAlchemy dialect name -> the class for it
DIALECTS: dict[str, type[Dialect]] = {
    "sqlite": SQLite,
    "postgresql": PostgreSQL,
    "mysql": MySQL,
    "mariadb": MySQL,
}


def dialect_for(name: str) -> Dialect:
    """The dialect of a database by SQLAlchemy's name for it (generic SQL where syncline
    has no class for it)."""
    return DIALECTS.get(name, Dialect)(name)


def dialect_of_type(sql_type: Any) -> Dialect:
    """The database a SQLAlchemy type is one of (by its module,
    ``sqlalchemy.dialects.<name>``): generic SQL for SQLAlchemy's generic types."""
    module = type(sql_type).__module__.split(".")
    if len(module) > 2 and module[1] == "dialects" and module[2] in DIALECTS:
        return dialect_for(module[2])
    return Dialect("")


def _classes() -> list[type[Dialect]]:
    return list(dict.fromkeys(DIALECTS.values()))


def make_engine(url: str | sa.Engine) -> sa.Engine:
    """An engine for a URL; where the URL names no driver, the one syncline uses (psycopg 3
    for PostgreSQL, PyMySQL for MySQL/MariaDB), with the driver arguments it needs. The
    driver's loggers that report what syncline reports itself are quieted."""
    if isinstance(url, sa.Engine):
        remember_url(url.url)
        _quiet_driver_loggers(dialect_for(url.dialect.name))
        return url
    remember_url(url)
    url = _with_driver(url)
    try:
        parsed = sa.engine.make_url(url)
        remember_url(parsed)
        dialect = dialect_for(parsed.get_backend_name())
        extra: dict[str, Any] = {}
        connect_args = dialect.connect_args(parsed)
        if connect_args:
            extra["connect_args"] = connect_args
        engine = sa.create_engine(parsed, **extra)
    except (sa.exc.ArgumentError, ImportError, ValueError) as exc:
        raise ConfigError(f"cannot use database URL {mask_url(url)}: {mask_text(str(exc))}"
                          ) from exc
    _quiet_driver_loggers(dialect)
    return engine


def anchored_url(url: str, folder: Path) -> str:
    """A URL of a config file with a relative database file (``sqlite:///shop.db``) taken
    from the file's ``folder``; any other URL (or text that is no URL) as it is."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return url  # the command that uses it says what is wrong
    anchored = dialect_for(parsed.get_backend_name()).anchored(parsed, folder)
    return url if anchored is parsed else anchored.render_as_string(hide_password=False)


def _with_driver(url: str) -> str:
    for cls in _classes():
        for scheme in cls.url_schemes:
            if url.startswith(f"{scheme}://"):
                return f"{cls.driver}://{url.split('://', 1)[1]}"
    return url


def _quiet_driver_loggers(dialect: Dialect) -> None:
    """The driver's loggers that report what syncline reports itself (psycopg: what it
    ignores while ending a failed pipeline) write nowhere: the error reaches the user once,
    from syncline."""
    for name in dialect.driver_loggers:
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
