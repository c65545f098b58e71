"""The docs say what the code does: every layout key the validator accepts is in
docs/layout.md, option tables name exactly the kinds that take each option, quoted error
messages are the ones the code prints, and docs/architecture.md names every module and
every public error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import streamvis as sv
from streamvis import errors
from streamvis.kinds import KINDS
from streamvis.layout import spec
from streamvis.layout.checks import OPTION_CHECKS
from streamvis.sources.registry import TYPES as SOURCE_TYPES

ROOT = Path(__file__).resolve().parents[2]
LAYOUT_DOC = (ROOT / "docs" / "layout.md").read_text()
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()
README = (ROOT / "README.md").read_text()


def quoted(text: str) -> set[str]:
    """Every `code span` of a markdown text."""
    return set(re.findall(r"`([^`\n]+)`", text))


def accepted_layout_keys() -> set[str]:
    """Every key a layout, a plot of any kind, its options or a source of any type may have."""
    keys = {*spec.LAYOUT_KEYS, *spec.PLOT_KEYS, *spec.SOURCE_KEYS, *OPTION_CHECKS}
    for kind in KINDS.values():
        keys.update(kind.fields)
    for source_class in SOURCE_TYPES.values():
        keys.update(source_class.SETTINGS)
    return keys


def test_every_key_the_validator_accepts_is_in_the_layout_reference() -> None:
    missing = accepted_layout_keys() - quoted(LAYOUT_DOC)
    assert not missing, f"docs/layout.md does not mention: {sorted(missing)}"


def test_every_kind_and_source_type_is_in_the_layout_reference() -> None:
    names = quoted(LAYOUT_DOC)
    assert set(KINDS) <= names, set(KINDS) - names
    assert set(SOURCE_TYPES) <= names, set(SOURCE_TYPES) - names


def test_the_reference_says_nothing_is_missing_that_is_built() -> None:
    assert "not built yet" not in LAYOUT_DOC
    assert "## Crossfilter groups" in LAYOUT_DOC


def documented_option_kinds() -> dict[str, set[str]]:
    """option -> kinds, from the Options table of docs/layout.md."""
    section = LAYOUT_DOC.split("## Options", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        kinds = set(KINDS) if cells[1] == "all" else {k.strip() for k in cells[1].split(",")}
        for option in re.findall(r"`(\w+)`", cells[0]):
            table[option] = kinds
    return table


def test_the_options_table_names_exactly_the_kinds_that_take_each_option() -> None:
    table = documented_option_kinds()
    assert set(table) == set(OPTION_CHECKS), set(table) ^ set(OPTION_CHECKS)
    for option, kinds in table.items():
        taking = {name for name, kind in KINDS.items() if option in kind.options}
        assert kinds == taking, f"option {option}: docs say {sorted(kinds)}, code {sorted(taking)}"


def spec_error(text: str, tmp_path: Path) -> str:
    """The first line of the error `load_layout` gives for this YAML, as a file."""
    path = tmp_path / "layout.yaml"
    path.write_text(text)
    with pytest.raises(sv.SpecError) as caught:
        sv.load_layout(str(path))
    return str(caught.value).splitlines()[0].replace(str(path), "layout.yaml")


@pytest.mark.parametrize("document", ["README.md", "docs/layout.md"])
def test_quoted_unknown_kind_error_is_what_the_code_prints(document: str, tmp_path: Path) -> None:
    message = spec_error(
        "title: t\nplots:\n  - id: loss\n    stream: loss\n    at: [0, 0, 1, 1]\n    kind: lien\n",
        tmp_path,
    )
    tail = message.split(": ", 1)[1]  # the position differs between the two examples
    assert tail in (ROOT / document).read_text()


def test_quoted_unknown_key_error_is_what_the_code_prints(tmp_path: Path) -> None:
    message = spec_error(
        "plots:\n  - id: loss\n    kind: line\n    at: [0, 0, 1, 1]\n    strem: loss\n",
        tmp_path,
    )
    assert message.split(": ", 1)[1] in LAYOUT_DOC


def test_the_readme_lists_every_kind() -> None:
    rows = [line for line in README.splitlines() if line.startswith("| `")]
    listed = {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert set(KINDS) <= listed, set(KINDS) - listed


def package_modules() -> list[str]:
    """Every module of the package, as the architecture table names it (`store/sqlite.py`)."""
    package = ROOT / "streamvis"
    names = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if relative.startswith("kinds/"):
            continue  # one row covers the kinds; checked below
        names.append(relative)
    return names


def test_the_architecture_table_names_every_module() -> None:
    names = quoted(ARCHITECTURE)
    missing = [m for m in package_modules() if m not in names and f"streamvis/{m}" not in names]
    assert not missing, f"docs/architecture.md has no row for {missing}"


def test_the_architecture_names_every_kind_module() -> None:
    row = next(line for line in ARCHITECTURE.splitlines() if line.startswith("| `kinds/`"))
    modules = {path.stem for path in (ROOT / "streamvis" / "kinds").glob("*.py")}
    missing = {m for m in modules - {"__init__", "base"} if f"`{m}`" not in row}
    assert not missing, missing
    assert all(f"`{kind}`" in row for kind in KINDS), row


def test_the_error_tree_is_complete() -> None:
    public = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.StreamvisError)
    }
    assert public <= quoted(ARCHITECTURE), public - quoted(ARCHITECTURE)
    tree = errors.__doc__ or ""
    assert all(name in tree for name in public), public
