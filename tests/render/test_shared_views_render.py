"""Pages following one stream share its whole-run view (page/shared_views.py): a second page
asking a few rows later gets the first page's view, appends the newer rows as deltas in the
same tick, and draws exactly what the page that made the view draws after its own next
tick (that view plus the same rows as deltas)."""

from __future__ import annotations

import numpy as np

from streamvis.page.shared_views import VIEWS
from tests.render.conftest import one_plot

ROWS = 20_000


def drawn(view) -> tuple[np.ndarray, np.ndarray]:
    return view.column("sv:m:y", "x").astype(float), view.column("sv:m:y", "y").astype(float)


def at_width(view, width: int = 400) -> None:
    """What the browser's report of the plot's inner width does: a whole view is due."""
    lines = view.session.lines["m"]
    lines.width, lines.pending = width, True


def test_a_second_page_reuses_the_view_and_appends_the_rows_since(render) -> None:
    first = render(one_plot())
    hub = first.hub
    second = render(one_plot(), hub=hub)
    for page in (first, second):
        at_width(page)
    steps = np.arange(ROWS)
    hub.stream("s", {"x": steps, "y": np.sin(steps / 50.0)})
    first.session.tick()

    more = np.arange(ROWS, ROWS + 60)  # fewer than a quarter width: the view is shared
    hub.stream("s", {"x": more, "y": np.sin(more / 50.0)})
    computed, shared = VIEWS.computed, VIEWS.shared
    second.session.tick()
    assert (VIEWS.computed, VIEWS.shared) == (computed, shared + 1)

    first.session.tick()  # the first page appends the same rows as deltas to its view
    x, y = drawn(second)
    assert x[-1] == ROWS + 59  # the rows after the shared view came in the same tick
    want_x, want_y = drawn(first)
    np.testing.assert_array_equal(x, want_x)  # the same picture as the page that made it
    np.testing.assert_array_equal(y, want_y)
    assert second.model("sv-lod:m").text == f"{ROWS + 60:,} rows, {len(x):,} drawn"


def test_a_view_too_far_behind_is_made_again(render) -> None:
    first = render(one_plot())
    hub = first.hub
    second = render(one_plot(), hub=hub)
    for page in (first, second):
        at_width(page)
    steps = np.arange(ROWS)
    hub.stream("s", {"x": steps, "y": np.cos(steps / 50.0)})
    first.session.tick()
    more = np.arange(ROWS, ROWS + 101)  # over a quarter of 400 rows behind
    hub.stream("s", {"x": more, "y": np.cos(more / 50.0)})
    computed = VIEWS.computed
    second.session.tick()
    assert VIEWS.computed == computed + 1
    x, _ = drawn(second)
    assert x[-1] == ROWS + 100
