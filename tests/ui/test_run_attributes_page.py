"""Run attributes set over HTTP reach a real page: each run's row in the runs panel shows
them, the header's "group by" offers each attribute the compared runs carry, and grouping by
one draws its values as legend text. A value carrying markup payloads is shown as those
characters and never runs (the payload trap of tests/ui/test_xss.py)."""

from __future__ import annotations

import textwrap
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import api_json, wait_until
from tests.ui.test_xss import FIGURE_TEXT, MODELS, Watched, payload

pytestmark = [pytest.mark.server, pytest.mark.ui]

LAYOUT = textwrap.dedent("""\
    title: attributes
    run: ra
    refresh_ms: 100
    plots:
      - {id: loss, kind: line, stream: metrics, x: step, y: loss, at: [0, 0, 1, 1]}
""")
NOTE = payload("attr")  # 184 characters: within the 200 a value may have
ATTRIBUTES = {
    "ra": {"seed": 1, "note": NOTE},
    "rb": {"seed": 2, "note": "plain"},
    "rc": {"seed": 1, "note": NOTE},
    "rd": {"seed": 2},
}
GROUP_BY_OPTIONS = (
    "() => {"
    + MODELS
    + """
    const select = models.find((m) => /Select$/.test(m.type) && m.title === "group by");
    return select ? select.options.map((o) => (Array.isArray(o) ? o[1] : o)) : null;
}"""
)
SHOTS = Path("/work/shots")


def send(port: int, method: str, path: str, body: Any) -> Any:
    return api_json(port, method, f"runs/{path}", body, timeout=20)


def test_attributes_group_runs_on_the_page_and_their_text_never_runs(
    tmp_path: Path, panel_server, browser
) -> None:
    layout = tmp_path / "attributes.yaml"
    layout.write_text(LAYOUT)
    server = panel_server(str(layout), plugins=True)
    for index, (run, attributes) in enumerate(ATTRIBUTES.items()):
        assert send(server.port, "PUT", f"{run}/attributes", attributes)["attributes"] == (
            attributes
        )
        rows = {"step": list(range(50)), "loss": [1.0 / (s + 1) + index for s in range(50)]}
        send(server.port, "POST", f"{run}/streams/metrics", rows)

    query = urllib.parse.urlencode({"runs": "r.*", "group": "attr:note"})
    page = Watched(browser, f"{server.url}?{query}")
    try:
        check_page(page)
    finally:
        page.close()


def check_page(page: Watched) -> None:
    options = wait_until(lambda: page.evaluate(GROUP_BY_OPTIONS), message="the group-by select")
    assert {"attribute: note", "attribute: seed"} <= set(options)

    def legend() -> list[str]:
        found = page.evaluate(FIGURE_TEXT, "sv-figure:loss")
        return found["legend"] if found else []

    expected = {f"note={NOTE}", "note=plain", "note: (not set)"}
    wait_until(lambda: expected <= set(legend()), message="the groups' legend entries")

    # the runs panel: each run's attributes under its facts, as text
    def details() -> list[str]:
        return page.texts(".sv-run-details")

    wait_until(lambda: "seed=2 note=plain" in details(), message="attributes in the runs panel")
    assert "seed=2" in details()
    assert any(text.startswith("seed=1 note=") and "<script>sv_pwn('attr')" in text
               for text in details())  # fmt: skip
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.page.screenshot(path=str(SHOTS / "attrs.png"))
    page.nothing_ran()
