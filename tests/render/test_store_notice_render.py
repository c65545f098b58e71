"""The page's "data service unavailable" notice without a browser: shown on the page's timer
while the hub's store reports a failure (here a real SQLite store whose follower failure is
set as the Redis follower sets it), with the reason as text, never markup, and gone once the
store is back; what the plots show stays (page/store_notice.py)."""

from __future__ import annotations

import html
from pathlib import Path

from streamvis.core.hub import Hub
from streamvis.page.store_notice import notice_text
from streamvis.store import open_store
from tests.render.conftest import one_plot

NOTICE = "sv-store-notice"


def notice_models(rendered) -> list:
    """The Bokeh models of the notice pane in the page's document."""
    return [m for m in rendered.root.references() if NOTICE in (getattr(m, "css_classes", ()))]


def test_the_notice_shows_while_the_store_fails_and_goes_when_it_is_back(
    render, tmp_path: Path
) -> None:
    store = open_store(tmp_path / "notice.db")
    assert store is not None
    hub = Hub(store=store)
    try:
        hub.stream("s", {"x": [0.0, 1.0, 2.0], "y": [1.0, 2.0, 3.0]})
        rendered = render(one_plot(), hub=hub)
        live = rendered.live
        live.on_timer()
        assert live.store_notice.shown == ""
        [model] = notice_models(rendered)
        assert model.visible is False
        rows = rendered.rows("sv:m:y")
        assert rows == 3

        store.reader_failure = ConnectionError("Error 111 connecting to <b>redis</b>:6379.")
        live.on_timer()
        assert live.store_notice.shown == notice_text(store.reader_failure)
        assert live.store_notice.shown.startswith(
            "data service unavailable (Error 111 connecting to <b>redis</b>:6379.)"
        )
        assert model.visible is True
        markup = html.unescape(model.text)  # what the browser puts into the page
        assert "&lt;b&gt;redis&lt;/b&gt;" in markup
        assert "<b>" not in markup
        assert rendered.rows("sv:m:y") == rows  # the page keeps what it shows

        store.reader_failure = None
        live.on_timer()
        assert live.store_notice.shown == ""
        assert model.visible is False
    finally:
        rendered.live.close()
        store.close()


def test_a_reason_without_text_names_its_type() -> None:
    assert notice_text(None) == ""
    assert notice_text(TimeoutError()).startswith("data service unavailable (TimeoutError)")
