"""The layout validator knows kinds only through the catalogue streamvis.kinds fills: any
process that checks a layout has it filled (the package loads the kinds on first use, and
`import streamvis` alone does not), and an empty one is a clear SpecError."""

from __future__ import annotations

import subprocess
import sys

import pytest

from streamvis.errors import SpecError
from streamvis.layout import catalogue
from streamvis.layout.spec import layout_from_dict

LAYOUT = {"plots": [{"id": "a", "kind": "bar", "stream": "s", "by": "c", "at": [0, 0, 1, 1]}]}


def test_an_empty_catalogue_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    catalogue.catalogue()  # loaded, so the emptied table stays empty
    monkeypatch.setattr(catalogue._REGISTRY, "entries", {})
    with pytest.raises(SpecError, match="no plot kind is registered: import streamvis.kinds"):
        layout_from_dict(LAYOUT)


@pytest.mark.parametrize(
    "code",
    [
        "import streamvis as sv; assert 'streamvis.kinds' not in sys.modules;"
        " sv.load_layout(LAYOUT); sv.Layout(plots=LAYOUT['plots'])",
        "from streamvis.layout.spec import layout_from_dict; layout_from_dict(LAYOUT)",
        "import streamvis.server.operations as o; o.layout_from_dict(LAYOUT)",
    ],
    ids=["public-api", "layout-spec-alone", "server-operations"],
)
def test_each_way_in_knows_the_kinds_in_a_fresh_interpreter(code: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import sys\nLAYOUT = {LAYOUT!r}\n{code}\nprint('ok')"],
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == "ok", result.stderr
