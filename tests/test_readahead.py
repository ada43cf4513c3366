"""engines/readahead.py: the columnar path reads the next batch while one is staged."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from syncline.engines.readahead import read_ahead


def test_items_come_in_order_and_all_of_them() -> None:
    assert list(read_ahead(iter(range(1000)))) == list(range(1000))


def test_the_readers_error_is_raised_at_its_batch() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad line 3")

    got = []
    with pytest.raises(ValueError, match="bad line 3"):
        for item in read_ahead(source()):
            got.append(item)
    assert got == [1, 2]


def test_reading_stays_at_most_depth_ahead() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(100):
            produced.append(i)
            yield i

    items = read_ahead(source(), depth=2)
    assert next(items) == 0
    time.sleep(0.3)
    # one handed over, two waiting, one read and blocked on the full queue
    assert len(produced) <= 4
    items.close()


def test_stopping_early_stops_the_reader_and_closes_the_source() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    items = read_ahead(source())
    for item in items:
        if item == 5:
            break
    items.close()
    assert closed.is_set()
    assert not [t for t in threading.enumerate() if t.name == "syncline-read-ahead"]
