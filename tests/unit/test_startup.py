"""The checks a server makes before it listens (streamvis/server/startup.py) and the page address
each command prints (cli.page_url); the real servers are in tests/server/ and tests/ui/."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamvis.cli import page_url, serve_page_at_root
from streamvis.server.startup import app_arguments, refuse_bad_layout, warming_up

GOOD = "title: t\nplots:\n  - {id: a, kind: line, stream: s, x: x, y: a, at: [0, 0, 1, 1]}\n"


def test_app_arguments_are_what_follows_args() -> None:
    command = ["panel", "serve", "apps/dashboard.py", "--port", "1", "--args", "l.yaml", "--run"]
    assert app_arguments(command) == ["l.yaml", "--run"]
    assert app_arguments(["panel", "serve", "apps/dashboard.py"]) == []


def test_a_bad_layout_exits_2_naming_file_and_line(tmp_path: Path, capsys) -> None:
    layout = tmp_path / "bad.yaml"
    layout.write_text(GOOD.replace("kind: line", "kind: lien"))
    with pytest.raises(SystemExit) as stopped:
        refuse_bad_layout([str(layout), "--store", "none"])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith(f"streamvis: {layout}:3:")
    assert "unknown kind 'lien'" in error


def test_the_layout_may_come_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    layout = tmp_path / "bad.yaml"
    layout.write_text(GOOD + GOOD.split("\n", 2)[2])  # the plot twice: duplicate id
    monkeypatch.setenv("STREAMVIS_LAYOUT", str(layout))
    with pytest.raises(SystemExit):
        refuse_bad_layout(["--store", "none"])


def test_good_missing_or_foreign_arguments_pass(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("STREAMVIS_LAYOUT", raising=False)
    layout = tmp_path / "good.yaml"
    layout.write_text(GOOD)
    refuse_bad_layout([str(layout), "--producer", "x.py:main"])
    refuse_bad_layout([])  # no layout: producers may PUT one
    refuse_bad_layout(["--flag-of-another-app"])  # another app served with the plugin
    assert capsys.readouterr().err == ""


def test_no_warm_up_outside_a_server() -> None:
    assert not warming_up()


@pytest.mark.parametrize(
    ("address", "printed"),
    [
        ("127.0.0.1", "http://127.0.0.1:5006/"),
        ("0.0.0.0", "http://127.0.0.1:5006/"),
        ("::", "http://127.0.0.1:5006/"),
        ("::1", "http://[::1]:5006/"),
        ("myhost", "http://myhost:5006/"),
    ],
)
def test_printed_page_address(address: str, printed: str) -> None:
    assert page_url(address, 5006) == printed


def test_printed_page_address_of_a_tls_server() -> None:
    assert page_url("0.0.0.0", 8443, scheme="https") == "https://127.0.0.1:8443/"


def test_streamvis_serve_serves_the_page_at_the_root() -> None:
    command = ["panel", "serve", "serve_app.py", "--plugins", "streamvis.ingest", "--args", "l"]
    assert serve_page_at_root(command) == [
        *command[:5], "--index", "serve_app", "--args", "l"
    ]  # fmt: skip
