"""Reading the source while the database stages: one batch ahead, in a thread.

On the columnar path the reading (pyarrow's CSV parser, Arrow compute) and the staging
(the database's COPY or LOAD DATA, the ADBC driver) both run mostly outside Python's GIL,
so reading the next batch while the last one is staged uses the second core. At most
``depth`` batches wait between the two (bounded memory). Everything the reader records
(``Computed``'s errors and rejects) is read by the run only after the last batch.

The reader's exception is raised in the run's thread, at the batch where it happened;
when the run stops early (an error, Ctrl-C), the reader is stopped and its source closed
before :func:`read_ahead` returns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(items: Iterator[T], depth: int = 2) -> Generator[T, None, None]:
    """The items of ``items``, produced in a thread up to ``depth`` ahead of their use."""
    handed: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        handed.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handed.put(_DONE)
        except BaseException as exc:  # handed to the run's thread, raised there
            handed.put(_Failed(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # the source's file, in the thread that reads it

    thread = threading.Thread(target=produce, name="syncline-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = handed.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # let a reader blocked on a full queue see ``stop``
            try:
                handed.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()
