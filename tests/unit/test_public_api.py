"""The public API and its documentation stay in step."""

from __future__ import annotations

import re
from pathlib import Path

import streamvis

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_all_is_sorted_and_exists() -> None:
    assert streamvis.__all__ == sorted(streamvis.__all__)
    for name in streamvis.__all__:
        assert hasattr(streamvis, name), name


def test_every_public_name_is_documented_in_the_readme_table() -> None:
    rows = [line for line in README.splitlines() if line.startswith("| `sv.")]
    documented = {name for row in rows for name in re.findall(r"`sv\.(\w+)", row)}
    assert documented == set(streamvis.__all__)


def test_every_sv_name_the_docs_use_exists() -> None:
    texts = [README, *(p.read_text() for p in (ROOT / "docs").glob("*.md"))]
    used = {name for text in texts for name in re.findall(r"\bsv\.(\w+)", text)}
    assert used <= set(streamvis.__all__), used - set(streamvis.__all__)
