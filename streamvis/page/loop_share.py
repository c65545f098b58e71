"""The share of the server's event loop that all open pages together may spend drawing.

Each page already rests after a slow tick (`TICK_DUTY_LIMIT` in page/session.py), but ten
pages that each draw half the time would still fill the loop, and the ingest API, whose
handlers run on the same loop, would wait behind them: producers' acknowledgements slow
down and their queues fill. So the ticks of every page in the process draw from one budget:
within any sliding second, at most `share` of it (a quarter: the share counts the ticks
themselves, and sending their changes to the browsers costs about as much again). A page
whose turn comes when the budget is spent skips that timer tick; its rows arrive with a
later one (the page's lag badge says so), none are lost, and producers' requests get the
rest of the loop.
"""

from __future__ import annotations

import threading
import time
from collections import deque

# of each second, at most this much is spent in page ticks; sending their changes to the
# browsers (serialising, writing the websockets, after the tick) costs about as much again
PAGES_SHARE = 0.25
WINDOW_SECONDS = 1.0


class LoopShare:
    """A sliding-window budget of tick time shared by every page of the process."""

    def __init__(self, share: float = PAGES_SHARE, window: float = WINDOW_SECONDS) -> None:
        self.share = share
        self.window = window
        self._spent: deque[tuple[float, float]] = deque()  # (tick end, seconds it took)
        self._total = 0.0
        self._lock = threading.Lock()
        self.skipped = 0  # ticks refused (benchmarks and tests read it)

    def _forget_before(self, now: float) -> None:
        while self._spent and self._spent[0][0] < now - self.window:
            self._total -= self._spent.popleft()[1]

    def allows(self, now: float | None = None) -> bool:
        """May a page tick now? False while the last window's ticks used the share."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._forget_before(now)
            allowed = self._total < self.share * self.window
            if not allowed:
                self.skipped += 1
            return allowed

    def spent(self, seconds: float, now: float | None = None) -> None:
        """A tick ended that took `seconds`."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._spent.append((now, seconds))
            self._total += seconds
            self._forget_before(now)


PAGES = LoopShare()  # the one budget of this process's served pages
