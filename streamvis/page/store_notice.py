"""The line above a page's plots saying its data service is unavailable: shown while the
hub's store reports a failure (`Hub.store_failure()`: the store cannot write, or, shared over
Redis, this process's follower cannot read it), gone again once it recovers. The page keeps
what it shows meanwhile. The reason is shown as text, never markup. docs/lag-and-loss.md.
"""

from __future__ import annotations

import time

from streamvis.core.hub import Hub

NOTICE_STYLE = {
    "color": "#8a5a00",
    "background": "#fff4d6",
    "padding": "4px 8px",
    "font-size": "12px",
}
RESTATE_S = 1.0  # while it stays unavailable, the reason changes on the page at most this often


def notice_text(failure: BaseException | None) -> str:
    """What the page says for the store's `failure` ('' when there is none)."""
    if failure is None:
        return ""
    reason = str(failure).strip() or type(failure).__name__
    return (
        f"data service unavailable ({reason}): this page keeps what it shows and "
        "updates again once the service is back"
    )


class StoreNotice:
    """The notice pane of one page (hidden while the store is fine), brought up to date by
    the timer of a served page; it changes only when its text does."""

    def __init__(self) -> None:
        from streamvis.page.panes import literal

        self._changed_at = -1e18  # when the pane's text last changed (monotonic seconds)
        self.pane = literal(
            "",
            visible=False,
            styles=NOTICE_STYLE,
            sizing_mode="stretch_width",
            css_classes=["sv-store-notice"],
        )

    def refresh(self, hub: Hub) -> None:
        """Show, restate or hide the notice for `hub`'s store as it is now."""
        text = notice_text(hub.store_failure())
        if text == self.pane.object:
            return
        now = time.monotonic()
        if text and self.pane.object and now - self._changed_at < RESTATE_S:
            return  # a new reason while still unavailable: restated at most once a second
        self._changed_at = now
        self.pane.object = text
        self.pane.visible = bool(text)

    @property
    def shown(self) -> str:
        """The notice's text ('' while hidden)."""
        return str(self.pane.object) if self.pane.visible else ""
