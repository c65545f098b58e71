"""The producer of the lag-and-loss browser test (tests/ui/test_lag_and_loss_page.py), run
inside `panel serve` (`--producer tests/lag_producer.py:rows`).

Importing it (the server does, before the first page is built) also installs the test's
way of making the server fall behind: while the gate file STREAMVIS_TEST_GATES/slow exists,
every page tick first blocks the server's event loop for SLOW_SECONDS, like a tick that has
far too much to draw. Nothing of this is in streamvis itself.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import streamvis as sv
from streamvis.errors import StoreFailing
from streamvis.page.session import LiveSession

SLOW_SECONDS = 2.0
GATE = Path(os.environ.get("STREAMVIS_TEST_GATES", "/nonexistent")) / "slow"
_tick = LiveSession.tick


def _slow_tick(self: LiveSession) -> Any:
    if GATE.exists():
        time.sleep(SLOW_SECONDS)  # deliberately: the event loop is blocked, like a slow tick
    return _tick(self)


LiveSession.tick = _slow_tick  # type: ignore[method-assign]


def rows(delay: float = 0.05) -> None:
    """`metrics`: a row every `delay` seconds, for as long as the server runs."""
    step = 0
    while True:
        try:
            sv.stream("metrics", {"step": step, "v": float(step % 10)})
        except StoreFailing:  # the server is shutting down
            return
        step += 1
        time.sleep(delay)
