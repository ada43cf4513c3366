"""One writer per handler and target at a time (placeholder: replaced by the real locks)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from syncline.targets.sql import SqlTarget


@contextmanager
def run_lock(target: SqlTarget, name: str) -> Iterator[None]:
    yield
