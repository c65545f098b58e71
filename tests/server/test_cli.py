"""`streamvis ls | export | rm` as a user types them (the installed entry point, in a
subprocess): listings, exported files equal to the stored rows, deleting runs from a file
and through a running server, the refusal to write a store a server holds, `--help` with
examples for every subcommand, and user mistakes as one line on stderr with exit 2."""

from __future__ import annotations

import http.client
import json
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streamvis.store import hub_from_store, open_store
from tests.conftest import ROOT

pytestmark = [pytest.mark.server]

STREAMVIS = Path(sys.executable).with_name("streamvis")
SUBCOMMANDS = ["serve", "demo", "ls", "export", "layout", "rm"]
STEPS = 300


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(STREAMVIS), *args],
        cwd=cwd or ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(*args: str) -> str:
    done = cli(*args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def user_mistake(done: subprocess.CompletedProcess) -> str:
    """Exit 2 with exactly one line on stderr starting 'streamvis:' and no traceback."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("streamvis: "), lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    return lines[0]


def loss_of(step: int) -> float:
    return math.nan if step % 10 == 9 else 1.0 / (1 + step)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store with run train-3 (streams loss, lr) and run eval (stream acc)."""
    path = tmp_path / "runs.db"
    hub = hub_from_store(open_store(path))
    steps = np.arange(STEPS)
    for start in range(0, STEPS, 100):  # several segments
        part = steps[start : start + 100]
        tags = np.empty(len(part), dtype=object)
        tags[:] = [None if s % 3 == 0 else f"t{s}" for s in part]
        hub.stream(
            "loss",
            {"step": part, "loss": [loss_of(s) for s in part], "tag": tags},
            run="train-3",
        )
        assert hub.flush(10)
    hub.stream("lr", {"step": [0, 1, 2], "lr": [0.1, 0.05, 0.025]}, run="train-3")
    hub.stream("acc", {"epoch": [1, 2], "acc": [0.5, 0.75], "best": [False, True]}, run="eval")
    assert hub.flush(10)
    hub.store.close()
    return path


def test_ls_lists_runs_and_streams(store: Path) -> None:
    with ThreadPoolExecutor(4) as pool:
        table, runs_json, streams, streams_json = pool.map(
            lambda args: ok(*args),
            [
                ("ls", "--store", str(store)),
                ("ls", "--store", str(store), "--json"),
                ("ls", "train-3", "--store", str(store)),
                ("ls", "train-3", "--store", str(store), "--json"),
            ],
        )
    lines = table.splitlines()
    assert lines[0].split() == ["run", "started", "last_write", "streams", "rows"]
    assert [line.split()[0] for line in lines[1:]] == ["eval", "train-3"]
    assert lines[2].split()[-2:] == ["2", str(STEPS + 3)]

    runs = json.loads(runs_json)
    assert [(r["run"], r["streams"], r["rows"]) for r in runs] == [
        ("eval", 1, 2),
        ("train-3", 2, STEPS + 3),
    ]
    assert all(r["started"] <= r["last_write"] for r in runs)

    assert [line.split()[0] for line in streams.splitlines()] == ["stream", "loss", "lr"]
    assert "step:i8, loss:f8, tag:text" in streams
    records = {r["stream"]: r for r in json.loads(streams_json)}
    assert records["loss"]["rows"] == STEPS
    assert (records["loss"]["first_seq"], records["loss"]["next_seq"]) == (0, STEPS)
    assert records["lr"]["columns"] == "step:i8, lr:f8"


def test_layout_from_run_prints_the_automatic_layout_as_yaml_that_loads_back(
    store: Path, tmp_path: Path
) -> None:
    from streamvis.layout.spec import load_layout

    text = ok("layout", "--from-run", "train-3", "--store", str(store))
    assert text.startswith("# the automatic layout of run 'train-3'")
    target = tmp_path / "layout.yaml"
    target.write_text(text)
    layout = load_layout(target)
    charts = [(p.id, p.stream, p.x, p.y, p.title) for p in layout.checked_plots]
    assert charts == [
        ("loss.loss", "loss", "step", ("loss",), "loss / loss"),
        ("lr.lr", "lr", "step", ("lr",), "lr / lr"),
    ]
    assert layout.run == "train-3"
    eval_layout = ok("layout", "--from-run", "eval", "--store", str(store))
    assert "x: epoch" in eval_layout  # a step-like column; `best` (booleans) gets no chart
    assert "best" not in eval_layout
    missing = user_mistake(cli("layout", "--from-run", "nope", "--store", str(store)))
    assert "no run 'nope'" in missing


def test_export_writes_files_equal_to_the_stored_rows(store: Path, tmp_path: Path) -> None:
    target = tmp_path / "loss.csv"
    folder = tmp_path / "all"
    with ThreadPoolExecutor(2) as pool:
        one, every = pool.map(
            lambda args: ok(*args),
            [
                ("export", "--run", "train-3", "--stream", "loss", "-o", str(target),
                 "--store", str(store)),
                ("export", "--run", "train-3", "-o", str(folder) + "/", "--store", str(store)),
            ],
        )  # fmt: skip
    assert f"{STEPS} rows of run 'train-3', stream 'loss'" in one
    frame = pd.read_csv(target)
    assert list(frame.columns) == ["step", "loss", "tag"]
    assert frame["step"].tolist() == list(range(STEPS))
    np.testing.assert_array_equal(frame["loss"].to_numpy(), [loss_of(s) for s in range(STEPS)])
    assert [None if pd.isna(v) else v for v in frame["tag"]] == [
        None if s % 3 == 0 else f"t{s}" for s in range(STEPS)
    ]
    assert target.read_text().splitlines()[:3] == ["step,loss,tag", "0,1.0,", "1,0.5,t1"]

    assert sorted(p.name for p in folder.iterdir()) == ["loss.csv", "lr.csv"]
    assert (folder / "loss.csv").read_text() == target.read_text()
    assert (folder / "lr.csv").read_text().splitlines() == [
        "step,lr",
        "0,0.1",
        "1,0.05",
        "2,0.025",
    ]
    assert "lr.csv: 3 rows" in every


def test_rm_deletes_a_run_from_the_file(store: Path) -> None:
    out = ok("rm", "train-3", "--yes", "--store", str(store))
    assert "deleted run 'train-3' (2 streams)" in out
    runs = json.loads(ok("ls", "--store", str(store), "--json"))
    assert [r["run"] for r in runs] == ["eval"]
    line = user_mistake(cli("ls", "train-3", "--store", str(store)))
    assert "no run 'train-3'" in line


def post(port: int, run: str, data: dict) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "POST",
            f"/api/v1/runs/{run}/streams/s",
            json.dumps(data),
            {"Content-Type": "application/json"},
        )
        response = connection.getresponse()
        assert response.status == 200, response.read()
        response.read()
    finally:
        connection.close()


def api_runs(port: int) -> list[str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/api/v1/runs")
        return [r["run"] for r in json.loads(connection.getresponse().read())["runs"]]
    finally:
        connection.close()


def test_rm_with_a_running_server(panel_server, tmp_path: Path) -> None:
    db = tmp_path / "served.db"
    server = panel_server("--store", str(db), plugins=True)
    for run in ("keep", "drop"):
        post(server.port, run, {"step": [0, 1, 2], "v": [1.0, 2.0, 3.0]})

    # the file is the server's: writing it from outside is refused, and nothing changes
    line = user_mistake(cli("rm", "drop", "--yes", "--store", str(db)))
    assert str(db) in line
    assert "in use" in line
    assert f"pid {server.process.pid}" in line
    # reading while the server runs works
    runs = json.loads(ok("ls", "--store", str(db), "--json"))
    assert [r["run"] for r in runs] == ["drop", "keep"]

    # through the server's API it works
    out = ok("rm", "drop", "--url", f"http://127.0.0.1:{server.port}")
    assert "deleted run 'drop' (1 streams)" in out
    assert api_runs(server.port) == ["keep"]
    runs = json.loads(ok("ls", "--store", str(db), "--json"))
    assert [(r["run"], r["rows"]) for r in runs] == [("keep", 3)]
    assert server.process.poll() is None


def test_every_subcommand_help_shows_examples() -> None:
    with ThreadPoolExecutor(len(SUBCOMMANDS)) as pool:
        outputs = list(pool.map(lambda command: ok(command, "--help"), SUBCOMMANDS))
    for command, out in zip(SUBCOMMANDS, outputs, strict=True):
        assert f"usage: streamvis {command}" in out, command
        assert "examples:" in out, command
        assert f"streamvis {command}" in out.split("examples:", 1)[1], command


def test_user_mistakes_are_one_line_and_exit_2(store: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    cases = {
        "ls missing store": (("ls", "--store", str(missing)), [f"no store at {missing}"]),
        "export missing store": (
            ("export", "--run", "x", "-o", str(tmp_path / "x.csv"), "--store", str(missing)),
            [f"no store at {missing}"],
        ),
        "rm missing store": (("rm", "x", "--yes", "--store", str(missing)), ["no store at"]),
        "ls unknown run": (("ls", "ghost", "--store", str(store)), ["no run 'ghost'"]),
        "export unknown run": (
            ("export", "--run", "ghost", "-o", str(tmp_path / "g"), "--store", str(store)),
            ["no run 'ghost'"],
        ),
        "export unknown stream": (
            (
                "export",
                "--run",
                "train-3",
                "--stream",
                "los",
                "-o",
                str(tmp_path / "l.csv"),
                "--store",
                str(store),
            ),
            ["run 'train-3' has no stream 'los'"],
        ),  # fmt: skip
        "export unknown type": (
            (
                "export",
                "--run",
                "train-3",
                "--stream",
                "loss",
                "-o",
                str(tmp_path / "l.xlsx"),
                "--store",
                str(store),
            ),
            ["unknown file type '.xlsx'"],
        ),  # fmt: skip
        "rm unknown run": (("rm", "ghost", "--yes", "--store", str(store)), ["no run 'ghost'"]),
        "rm without --yes": (("rm", "eval", "--store", str(store)), ["add --yes to confirm"]),
        "not a store": (("ls", "--store", str(ROOT / "pyproject.toml")), ["cannot open it"]),
    }
    with ThreadPoolExecutor(6) as pool:
        results = dict(
            zip(
                cases,
                pool.map(lambda case: cli(*case[0], cwd=tmp_path), cases.values()),
                strict=True,
            )
        )
    for name, (_, expected) in cases.items():
        line = user_mistake(results[name])
        for text in expected:
            assert text in line, (name, line)
    assert not missing.exists(), "a mistake created a store file"
    assert not list(tmp_path.glob("*.csv"))
    assert not (tmp_path / "l.xlsx").exists()
    # the refused commands left the store as it was
    runs = json.loads(ok("ls", "--store", str(store), "--json"))
    assert [r["run"] for r in runs] == ["eval", "train-3"]


def test_sigterm_to_streamvis_serve_stops_the_server(tmp_path: Path) -> None:
    """`streamvis serve` becomes the server (no child left listening): a SIGTERM to the pid
    a service manager started stops it, and the port is released."""
    import os
    import signal

    from tests.conftest import accepts_connections, wait_until
    from tests.serve_process import ServeProcess

    layout = tmp_path / "layout.yaml"
    layout.write_text("plots:\n  - {id: a, kind: line, stream: s, x: x, y: y, at: [0, 0, 1, 1]}\n")
    server = ServeProcess(
        layout, ["--store", str(tmp_path / "s.db")], tmp_path / "serve.log", env={}
    )
    try:
        os.kill(server.process.pid, signal.SIGTERM)  # the pid only, not its group
        server.process.wait(60)
        wait_until(
            lambda: not accepts_connections(server.port),
            timeout=60,
            message="the port released after SIGTERM",
        )
    finally:
        server.stop()
