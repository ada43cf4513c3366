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

@dataclass(frozen=True)
class RejectedLimit:
    """``--max-rejected``: a number of rows (``N``) or a share of the source rows (``P%``)."""

    rows: int | None = None
    percent: float | None = None

    @classmethod
    def parse(cls, text: str) -> RejectedLimit:
        """``"25"`` or ``"2.5%"``; ValueError for anything else."""
        text = text.strip()
        try:
            if text.endswith("%"):
                percent = float(text[:-1])
                if not 0 <= percent <= 100:
                    raise ValueError
                return cls(percent=percent)
            rows = int(text)
            if rows < 0:
                raise ValueError
            return cls(rows=rows)
        except ValueError:
            raise ValueError(f"{text!r} is neither a number of rows (N) nor a percentage"
                             " of the source rows (P%)") from None

    def exceeded(self, rejected: int, source_rows: int) -> bool:
        if self.rows is not None:
            return rejected > self.rows
        assert self.percent is not None
        return rejected > 0 and rejected * 100 > self.percent * source_rows

    def __str__(self) -> str:
        if self.rows is not None:
            return str(self.rows)
        return f"{self.percent:g}%"


#: the default --max-rejected: a run that rejects more than 10% of its rows is refused
MAX_REJECTED_DEFAULT = RejectedLimit(percent=10)

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
    #: prefix ' to rejects cells a spreadsheet would run as a formula (= + - @ tab CR)
    escape_formulas: bool = True
    #: with on_error="skip": refuse the run when more rows than this are rejected
    max_rejected: RejectedLimit = MAX_REJECTED_DEFAULT
    strict_columns: bool = False
    types: TypeOptions = field(default_factory=TypeOptions)
    #: keys mode: only these keys (one tuple per record); None means all records
    keys: Sequence[Key] | None = None
    #: keys mode whose source was read for the given keys only (the datasync's): a record
    #: whose key after the hooks is not one of them is an error, never left out silently
    keys_exact: bool = False
    #: auto: in-database for SQL targets unless a target hook or keys mode needs memory
    engine: EngineName = "auto"
    #: read every change back into the result (the in-database engine can count only)
    collect_changes: bool = True
    #: write versions of versioned tables (``--no-versions``: not, with a warning)
    versions: bool = True
    #: who makes the changes (the ``transaction`` row's user): else the handler's ``runas``,
    #: else ``SYNCLINE_RUNAS``
    runas: str | None = None
    #: why (the ``transaction`` row's comment)
    comment: str | None = None
    create_table: bool = False
    #: row results of unchanged rows too (``--report-skipped``: op ``skip``, reason
    #: ``unchanged``); off, only rows a hook skipped are listed
    report_skipped: bool = False
    #: ``--rows-out FILE.jsonl``: every row's outcome, published after the commit
    rows_out: Path | None = None
    #: row results of errors carry their Python traceback (``--traceback``)
    tracebacks: bool = False
    #: seconds any wait for a lock another session holds may last; then a transient error
    lock_timeout: float = 30.0
    #: seconds to keep trying for the run lock another run holds (``--lock-wait``); 0, the
    #: default: refused at once (exit 5)
    lock_wait: float = 0.0
