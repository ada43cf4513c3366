"""syncline: keep business systems in step.

Read every record of a source, diff it per row against a target, and apply the creates,
updates and deletes in one transaction — with a dry run, guards, and clear errors.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncline.diff import ChangeSet, Create, Delete, Update
    from syncline.errors import (
        AlreadyRunningError,
        CoercionError,
        ConfigError,
        GuardError,
        HeaderError,
        HookError,
        KeyProblemError,
        OutputError,
        PartlyAppliedError,
        RowErrors,
        SourceDecodeError,
        SourceError,
        SourceParseError,
        SynclineError,
        TargetError,
        TransientError,
        TransientSourceError,
        TransientTargetError,
    )
    from syncline.exporting import TargetHandler
    from syncline.handler import Handler
    from syncline.importer import Importer
    from syncline.options import RejectedLimit, RunOptions
    from syncline.result import ModelResult, Result
    from syncline.sources.csv import CsvSource
    from syncline.sources.memory import IterableSource
    from syncline.sources.sql import SqlSource
    from syncline.targets.files import FileTarget
    from syncline.targets.protocol import Applied, Target, TargetCapabilities, TargetModel
    from syncline.targets.sql import SqlTarget
    from syncline.types import ColumnSpec, TypeOptions

# Names are imported on first use, so that `syncline --version` does not pay for SQLAlchemy.
_WHERE = {
    "AlreadyRunningError": "syncline.errors",
    "Applied": "syncline.targets.protocol",
    "ChangeSet": "syncline.diff",
    "CoercionError": "syncline.errors",
    "ColumnSpec": "syncline.types",
    "ConfigError": "syncline.errors",
    "Create": "syncline.diff",
    "CsvSource": "syncline.sources.csv",
    "Delete": "syncline.diff",
    "FileTarget": "syncline.targets.files",
    "GuardError": "syncline.errors",
    "Handler": "syncline.handler",
    "HeaderError": "syncline.errors",
    "HookError": "syncline.errors",
    "Importer": "syncline.importer",
    "IterableSource": "syncline.sources.memory",
    "KeyProblemError": "syncline.errors",
    "ModelResult": "syncline.result",
    "OutputError": "syncline.errors",
    "PartlyAppliedError": "syncline.errors",
    "RejectedLimit": "syncline.options",
    "Result": "syncline.result",
    "RowErrors": "syncline.errors",
    "RunOptions": "syncline.options",
    "SourceDecodeError": "syncline.errors",
    "SourceError": "syncline.errors",
    "SourceParseError": "syncline.errors",
    "SqlSource": "syncline.sources.sql",
    "SqlTarget": "syncline.targets.sql",
    "SynclineError": "syncline.errors",
    "Target": "syncline.targets.protocol",
    "TargetCapabilities": "syncline.targets.protocol",
    "TargetError": "syncline.errors",
    "TargetHandler": "syncline.exporting",
    "TargetModel": "syncline.targets.protocol",
    "TransientError": "syncline.errors",
    "TransientSourceError": "syncline.errors",
    "TransientTargetError": "syncline.errors",
    "TypeOptions": "syncline.types",
    "Update": "syncline.diff",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'syncline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AlreadyRunningError",
    "Applied",
    "ChangeSet",
    "CoercionError",
    "ColumnSpec",
    "ConfigError",
    "Create",
    "CsvSource",
    "Delete",
    "FileTarget",
    "GuardError",
    "Handler",
    "HeaderError",
    "HookError",
    "Importer",
    "IterableSource",
    "KeyProblemError",
    "ModelResult",
    "OutputError",
    "PartlyAppliedError",
    "RejectedLimit",
    "Result",
    "RowErrors",
    "RunOptions",
    "SourceDecodeError",
    "SourceError",
    "SourceParseError",
    "SqlSource",
    "SqlTarget",
    "SynclineError",
    "Target",
    "TargetCapabilities",
    "TargetError",
    "TargetHandler",
    "TargetModel",
    "TransientError",
    "TransientSourceError",
    "TransientTargetError",
    "TypeOptions",
    "Update",
]
