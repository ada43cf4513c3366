"""What a project's Alembic ``env.py`` gets from syncline, and how differences read.

``syncline db`` puts an :class:`Environment` — the open connection, the project's models —
into the Alembic config's ``attributes``; the ``env.py`` it writes calls
:func:`run_environment`, which configures Alembic from it. One set of options serves
``upgrade``, ``revision --autogenerate`` and ``check``, so they compare alike:

- the target metadata is the models' with the version tables of the versioned ones;
- syncline's own tables (``transaction``, ...) are left to syncline's branch;
- a table only in the database is the project's business only if it carries the prefix:
  tables of other systems in the same database are never dropped by a project revision;
- types are compared; scripts are rendered in batch mode (SQLite can alter tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from syncline.errors import ConfigError
from syncline.migrations import OWN_TABLES

if TYPE_CHECKING:
    from syncline.project.models import ProjectModels

#: the key of the :class:`Environment` in Alembic's ``Config.attributes``
STATE = "syncline.environment"


@dataclass(frozen=True)
class Step:
    """One revision applied (``upgrade``) or undone (``downgrade``)."""

    revision: str
    upgrade: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"revision": self.revision, "upgrade": self.upgrade, "message": self.message}


@dataclass
class Environment:
    """The state one ``syncline db`` command shares with ``env.py``."""

    connection: sa.Connection | None = None
    models: ProjectModels | None = None
    #: filled in while migrations run
    steps: list[Step] = field(default_factory=list)

    def options(self) -> dict[str, Any]:
        """The options of Alembic's ``context.configure`` (and of a MigrationContext)."""
        return {
            "target_metadata": None if self.models is None else self.models.target_metadata,
            "include_object": self.include_object,
            "compare_type": True,
            "render_as_batch": True,
            "on_version_apply": [self._applied],
        }

    def include_object(self, obj: Any, name: str | None, type_: str, reflected: bool,
                       compare_to: Any) -> bool:
        if type_ != "table":
            return True
        if name in OWN_TABLES:
            return False
        if reflected and compare_to is None:  # only in the database
            return self.models is not None and name is not None and self.models.owns(name)
        return True

    def _applied(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        revision = step.up_revision_id or ""
        script = step.revision_map.get_revision(revision) if revision else None
        self.steps.append(Step(revision, bool(step.is_upgrade), getattr(script, "doc", "") or ""))


def run_environment() -> None:
    """The body of a project's ``env.py`` (and of syncline's own)."""
    from alembic import context

    env = context.config.attributes.get(STATE)
    if not isinstance(env, Environment) or env.connection is None:
        raise ConfigError("this Alembic environment is run by syncline: use syncline db"
                          " (upgrade, downgrade, revision, check), not alembic itself")
    context.configure(connection=env.connection, **env.options())
    with context.begin_transaction():
        context.run_migrations()


def describe(diff: Any) -> str:
    """One autogenerate difference (``UpgradeOps.as_diffs()``) in words."""
    if isinstance(diff, list):
        return "; ".join(describe(d) for d in diff)
    kind, *rest = diff
    words = kind.replace("_fk", "_foreign_key").replace("_", " ")
    if kind.startswith("modify_"):
        _schema, table, column, _existing, old, new = rest
        return f"{words} {table}.{column}: {_text(old)} -> {_text(new)}"
    if kind in ("add_column", "remove_column"):
        _schema, table, column = rest
        return f"{words} {table}.{column.name}"
    obj = rest[0]
    if isinstance(obj, sa.Table):
        return f"{words} {obj.name}"
    table = getattr(obj, "table", None)
    on = f" on {table.name}" if isinstance(table, sa.Table) else ""
    return f"{words} {getattr(obj, 'name', None) or '(unnamed)'}{on}"


def _text(value: Any) -> str:
    if isinstance(value, sa.types.TypeEngine):
        try:
            return str(value)
        except sa.exc.CompileError:
            return repr(value)
    return repr(value)
