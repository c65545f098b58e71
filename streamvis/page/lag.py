"""The header badge saying a page is behind: "behind 2.3 s" when what the page shows was read
from the hub longer ago than a few refresh periods, gone again once it catches up.

It measures on the server, where the page's updates are made, at every firing of the
page's refresh timer: how long the page goes without new data, i.e. the larger of the time
since its session's last tick read the hub (`polled_at`) and the time between its last two
reads. A slow tick, ticks skipped to keep the server responsive, or an event loop busy with
other work (other pages, ingest) all make it grow. The badge travels with the page's other
updates, so it cannot report a page whose server stopped answering at all (Bokeh shows its
own notice when the connection drops). docs/lag-and-loss.md.
"""

from __future__ import annotations

import html
import time
from typing import Any

BEHIND_PERIODS = 5  # the age must pass this many refresh periods...
BEHIND_FLOOR_S = 1.0  # ...and this many seconds, before the badge shows
HOLD_S = 1.0  # after the page caught up the badge stays this long (no flicker)
RESTATE_S = 1.0  # while a page stays behind its badge's age changes at most this often


def threshold(refresh_ms: int) -> float:
    """Seconds of age past which a page with this refresh period counts as behind."""
    return max(BEHIND_FLOOR_S, BEHIND_PERIODS * refresh_ms / 1000)


def age_text(age: float) -> str:
    """'behind 2.3 s' (tenths below 10 s, whole seconds above: fewer changes to send)."""
    return f"behind {age:.1f} s" if age < 10 else f"behind {age:.0f} s"


class Lag:
    """What the badge says (None: hidden), from the reads of the hub seen at each timer
    firing."""

    def __init__(self) -> None:
        self.text: str | None = None
        self.age = 0.0  # the last age measured, seconds
        self.gap = 0.0  # seconds between the last two reads seen
        self._polled_at: float | None = None
        self._behind_at = -1e18  # when the age was last over the threshold

    def observe(self, polled_at: float | None, refresh_ms: int, now: float) -> str | None:
        """The age at `now` of a page whose last read of the hub was at `polled_at`
        (monotonic seconds; None: not read yet, nothing to say): the longer of the time
        since and the gap before it. Returns the badge's text."""
        if polled_at is None:
            self.text = None
            return None
        if polled_at != self._polled_at:
            if self._polled_at is not None:
                self.gap = max(0.0, polled_at - self._polled_at)
            self._polled_at = polled_at
        self.age = max(0.0, now - polled_at, self.gap)
        if self.age > threshold(refresh_ms):
            self._behind_at = now
            self.text = age_text(self.age)
        elif now - self._behind_at > HOLD_S:
            self.text = None
        return self.text


BADGE_STYLE = "color:#8a5a00;background:#fff4d6;border-radius:4px;padding:1px 6px;font-size:12px"


class LagNote:
    """The badge pane of one page (in its header row), updated by the timer of a served
    page. The pane stays in place and only its text changes (empty: nothing shows); while
    the page stays behind, at most once a second (each change is a message to the page)."""

    def __init__(self) -> None:
        import panel as pn

        self.lag = Lag()
        self._changed_at = -1e18  # when the pane's text last changed (monotonic seconds)
        self.pane = pn.pane.HTML("", width=130, align="center", css_classes=["sv-lag"])

    def refresh(self, session: Any, refresh_ms: int) -> None:
        """Measure the age of what `session` (a LiveSession, or None) shows; show or hide
        the badge. Changes the pane only when its text changes."""
        polled_at = getattr(session, "polled_at", None) if session is not None else None
        text = self.lag.observe(polled_at, refresh_ms, time.monotonic())
        shown = ""
        if text is not None:
            period = f"{refresh_ms / 1000:g} s"
            shown = (
                f"<span style='{BADGE_STYLE}' title='the page updates every {period}'>"
                f"{html.escape(text)}</span>"
            )
        if shown == self.pane.object:
            return
        now = time.monotonic()
        if shown and self.pane.object and now - self._changed_at < RESTATE_S:
            return  # still behind: the age is restated at most once a second
        self._changed_at = now
        self.pane.object = shown
