"""What one run does, kept apart from what an importer may ever do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from syncline.diff import Key
from syncline.types import TypeOptions

OnDuplicate = Literal["error", "first", "last"]
OnError = Literal["abort", "skip"]
EngineName = Literal["auto", "memory", "database"]

#: the mass-delete guard refuses when deletes exceed BOTH of these (see docs/guards.md)
MASS_DELETE_MIN_ROWS = 10
MASS_DELETE_FRACTION = 0.2


@dataclass
class RunOptions:
    """Options of one run; the defaults are the safe ones."""

    create: bool = True
    update: bool = True
    #: deletes are off unless asked for
    delete: bool = False
    dry_run: bool = False
    max_create: int | None = None
    max_update: int | None = None
    max_delete: int | None = None
    max_total: int | None = None
    allow_mass_delete: bool = False
    on_duplicate: OnDuplicate = "error"
    on_error: OnError = "abort"
    rejects: Path | None = None
    strict_columns: bool = False
    types: TypeOptions = field(default_factory=TypeOptions)
    #: keys mode: only these keys (one tuple per record); None means all records
    keys: Sequence[Key] | None = None
    #: auto: in-database for SQL targets unless a target hook or keys mode needs memory
    engine: EngineName = "auto"
    #: read every change back into the result (the in-database engine can count only)
    collect_changes: bool = True
    create_table: bool = False
    #: seconds any wait for a lock another session holds may last; then a transient error
    lock_timeout: float = 30.0
