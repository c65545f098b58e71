"""Outside a Jupyter kernel `sv.dashboard` leaves Panel alone: no extension loaded, Panel's
browser-message handler not wrapped (streamvis/page/notebook.py acts only inside a kernel)."""

from __future__ import annotations

from panel.viewable import MimeRenderMixin

import streamvis as sv
from streamvis.core.hub import Hub
from streamvis.page import notebook

LAYOUT = {"plots": [{"id": "a", "kind": "line", "stream": "s", "x": "x", "y": "y",
                     "at": [0, 0, 1, 1]}]}  # fmt: skip


def test_dashboard_outside_a_kernel_changes_nothing_in_panel() -> None:
    assert not notebook.in_kernel()
    page = sv.dashboard(LAYOUT, hub=Hub(), start=False)
    try:
        assert not getattr(MimeRenderMixin._on_msg, "sv_guarded", False)
        assert page.on_timer.__func__ is type(page).on_timer
    finally:
        page.close()
