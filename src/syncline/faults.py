"""Named points where a test can pause a real run (to kill it there).

Set ``SYNCLINE_TEST_PAUSE_AT`` to a point's name and ``SYNCLINE_TEST_PAUSE_FILE`` to a
path: when the run reaches that point it writes its pid to the file and sleeps, so a
test can SIGKILL it at exactly that moment. Unset, a pause point costs one dict lookup.
"""

from __future__ import annotations

import os
import time

POINTS = ("mid_read", "after_read", "mid_apply", "before_commit", "after_commit")


def pause_point(name: str) -> None:
    if os.environ.get("SYNCLINE_TEST_PAUSE_AT") != name:
        return
    marker = os.environ.get("SYNCLINE_TEST_PAUSE_FILE")
    if marker:
        with open(marker, "w") as handle:
            handle.write(str(os.getpid()))
    time.sleep(float(os.environ.get("SYNCLINE_TEST_PAUSE_SECONDS", "60")))
