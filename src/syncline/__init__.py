"""syncline: keep business systems in step.

Read every record of a source, diff it per row against a target, and apply the creates,
updates and deletes in one transaction — with a dry run, guards, and clear errors.
"""

from syncline.diff import ChangeSet, Create, Delete, Update
from syncline.errors import (
    AlreadyRunningError,
    CoercionError,
    ConfigError,
    GuardError,
    HeaderError,
    KeyProblemError,
    RowErrors,
    SourceDecodeError,
    SourceError,
    SourceParseError,
    SynclineError,
    TargetError,
    TransientTargetError,
)
from syncline.handler import Handler
from syncline.importer import Importer
from syncline.options import RunOptions
from syncline.result import ModelResult, Result
from syncline.sources.memory import IterableSource
from syncline.sources.sql import SqlSource
from syncline.targets.sql import SqlTarget
from syncline.types import ColumnSpec, TypeOptions

__all__ = [
    "AlreadyRunningError",
    "ChangeSet",
    "CoercionError",
    "ColumnSpec",
    "ConfigError",
    "Create",
    "Delete",
    "GuardError",
    "Handler",
    "HeaderError",
    "Importer",
    "IterableSource",
    "KeyProblemError",
    "ModelResult",
    "Result",
    "RowErrors",
    "RunOptions",
    "SourceDecodeError",
    "SourceError",
    "SourceParseError",
    "SqlSource",
    "SqlTarget",
    "SynclineError",
    "TargetError",
    "TransientTargetError",
    "TypeOptions",
    "Update",
]
