"""Serving one dashboard from several processes on one real redis-server (docs/scale-out.md).

Two `panel serve --plugins streamvis.ingest` processes on one Redis (STREAMVIS_REDIS) take
each other's rows and layouts; `streamvis serve --redis URL --num-procs 2` forks two children
that both serve pages and the API (shown by stopping one child with SIGSTOP while the other
answers: no response header or log is needed to tell which one did); a child killed with
kill -9 under a Client's load, and Redis killed and restarted on its AOF, lose and duplicate
no row; a wrong Redis URL, refused credentials or SQLite with --num-procs stop the server
with one line and exit 2 before Panel starts."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

import streamvis as sv
from streamvis import cli
from streamvis.core.hub import Hub
from streamvis.server.operations import ApiError, BatchLedger
from streamvis.server.operations import store as store_rows
from streamvis.store import hub_from_store, open_store
from tests.conftest import ROOT, PanelServer, end_process, free_port, wait_until
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.server]

API = "/api/v1"
LAYOUT = textwrap.dedent("""\
    title: several processes
    refresh_ms: 100
    plots:
      - {id: curve, kind: line, stream: s, x: step, y: v, at: [0, 0, 1, 1]}
""")
STREAMVIS = str(Path(sys.executable).with_name("streamvis"))


# ------------------------------------------------------------------------------- helpers
def call(
    port: int, method: str, path: str, body: Any = None, batch: str | None = None
) -> tuple[int, Any]:
    """One request on a fresh connection (so any forked child may take it): status, JSON."""
    headers = {"Content-Type": "application/json"}
    if batch is not None:
        headers["X-Streamvis-Batch"] = batch
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        payload = None if body is None else json.dumps(body)
        connection.request(method, path, payload, headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    is_json = response.getheader("Content-Type", "").startswith("application/json")
    return response.status, json.loads(raw) if is_json and raw else raw


def post(port: int, run: str, stream: str, data: Any, batch: str | None = None) -> Any:
    return call(port, "POST", f"{API}/runs/{run}/streams/{stream}", data, batch)


def column(port: int, run: str, stream: str, name: str) -> list[Any] | None:
    """A stream's column as this process's API gives it (None while it has no such stream)."""
    status, body = call(port, "GET", f"{API}/runs/{run}/streams/{stream}")
    if status == 404:
        return None
    assert status == 200, (status, body)
    return list(body["columns"].get(name, []))


def running(pid: int) -> bool:
    """True while process `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children(parent: int) -> list[int]:
    """The pids of `parent`'s child processes, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


class ForkedServer:
    """`streamvis serve LAYOUT --redis URL --num-procs 2` on a free port: a Tornado parent
    (the pid Popen knows: `streamvis serve` becomes `panel serve`) and two children."""

    def __init__(self, layout: Path, redis_url: str, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        command = [STREAMVIS, "serve", str(layout), "--redis", redis_url, "--num-procs", "2"]
        command += ["--port", str(self.port)]
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT
        )
        try:
            wait_until(self.both_ready, timeout=90, interval=0.2, message="two children")
        except BaseException:
            self.stop()
            raise

    def children(self) -> list[int]:
        return children(self.process.pid)

    def both_ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"streamvis serve exited early:\n{self.output()}")
        if len(self.children()) != 2:
            return False
        try:
            return call(self.port, "GET", f"{API}/runs")[0] == 200
        except OSError:
            return False

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        """SIGTERM to the parent (what a service manager sends): its children follow."""
        kids = self.children()
        end_process(self.process)
        wait_until(
            lambda: not any(running(kid) for kid in kids),
            message=f"children {kids} ended with their parent",
        )
        self._log.close()


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PanelServer, PanelServer]]:
    """Two `panel serve --plugins streamvis.ingest` processes on one Redis."""
    folder = tmp_path_factory.mktemp("pair")
    redis = RedisServer(folder / "redis").start()
    env = {"STREAMVIS_REDIS": redis.url}
    servers: list[PanelServer] = []
    try:
        for name in ("a", "b"):
            servers.append(PanelServer([], folder / f"{name}.log", env=env, plugins=True))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()
            print(f"---- {server.log_path} ----\n{server.output()[-5000:]}")
            assert "Traceback" not in server.output(), server.output()[-5000:]
        redis.stop()


@pytest.fixture(scope="module")
def forked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The Redis of the forked server: a test kills and restarts it."""
    redis = RedisServer(tmp_path_factory.mktemp("forked-redis")).start()
    yield redis
    redis.stop()


@pytest.fixture(scope="module")
def forked(
    tmp_path_factory: pytest.TempPathFactory, forked_redis: RedisServer
) -> Iterator[ForkedServer]:
    folder = tmp_path_factory.mktemp("forked")
    layout = folder / "layout.yaml"
    layout.write_text(LAYOUT)
    server = ForkedServer(layout, forked_redis.url, folder / "serve.log")
    yield server
    server.stop()


# ----------------------------------------------------------------------- two processes
def test_rows_sent_to_either_process_are_read_through_the_other(
    pair: tuple[PanelServer, PanelServer],
) -> None:
    a, b = pair
    assert post(a.port, "ab", "s", {"step": list(range(10)), "v": [0.5] * 10})[0] == 200
    wait_until(lambda: column(b.port, "ab", "s", "step") == list(range(10)), message="A -> B")
    assert post(b.port, "ab", "s", {"step": list(range(10, 20)), "v": [0.25] * 10})[0] == 200
    for port in (a.port, b.port):  # numbered once, by Redis: the same rows in the same order
        wait_until(
            lambda port=port: column(port, "ab", "s", "step") == list(range(20)),
            message=f"20 rows through {port}",
        )


def test_a_layout_put_through_one_process_is_served_by_the_other(
    pair: tuple[PanelServer, PanelServer],
) -> None:
    a, b = pair
    layout = {**yaml.safe_load(LAYOUT), "title": "put through B"}
    status, reply = call(b.port, "PUT", f"{API}/runs/laid/layout", layout)
    assert status == 200, reply

    def served_by_a() -> Any:
        status, body = call(a.port, "GET", f"{API}/runs/laid/layout")
        return status == 200 and body["title"] == "put through B" and body

    assert wait_until(served_by_a, message="B's layout on A")["plots"][0]["stream"] == "s"


def test_processes_racing_the_first_write_of_a_stream_keep_one_schema(
    pair: tuple[PanelServer, PanelServer],
) -> None:
    """Each stream's first write goes to A (numbers) and B (text) at once: one is stored,
    the other is 422 invalid_data naming run, stream and column (never a 503), and both
    processes then take the stored type."""
    a, b = pair
    answers: dict[tuple[int, str], tuple[int, Any]] = {}

    def send(port: int, stream: str, values: list[Any], start: threading.Barrier) -> None:
        start.wait()
        answers[port, stream] = post(port, "race", stream, {"x": values})

    for index in range(12):
        stream = f"s{index}"
        start = threading.Barrier(2)
        threads = [
            threading.Thread(target=send, args=(a.port, stream, [1.5, 2.5], start)),
            threading.Thread(target=send, args=(b.port, stream, ["one", "two"], start)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = sorted(answers[port, stream][0] for port in (a.port, b.port))
        assert statuses == [200, 422], (stream, answers)
        port_refused = a.port if answers[a.port, stream][0] == 422 else b.port
        refused = answers[port_refused, stream][1]
        assert refused["error"] == "invalid_data"
        assert (refused["run"], refused["stream"], refused["column"]) == ("race", stream, "x")
        stored = [1.5, 2.5] if port_refused == b.port else ["one", "two"]
        for port in (a.port, b.port):  # every process converges to what Redis holds
            wait_until(
                lambda port=port, stream=stream, stored=stored: (
                    column(port, "race", stream, "x") == stored
                ),
                message=f"{stream} on {port}",
            )
        for port in (a.port, b.port):  # and both take the stored type from now on
            assert post(port, "race", stream, {"x": stored[:1]})[0] == 200


def test_a_conflict_only_redis_sees_is_422_naming_the_column(tmp_path: Path) -> None:
    """Deterministic version of the race: a process that has not yet heard of a stream
    (its follower stopped) writes a type Redis refuses: 422 invalid_data, not 503."""
    redis = RedisServer(tmp_path / "redis").start()
    hubs: list[Hub] = []
    try:
        late, first = (hub_from_store(open_store(redis.url)) for _ in range(2))
        hubs += [late, first]
        assert late.store is not None
        assert first.store is not None
        late.store.backend.follower.close()  # it hears of nothing from here on
        ticket = first.write("s", {"x": [1, 2]}, run="r")[1]
        first.durable(ticket).result(60)  # type: ignore[union-attr]
        # on a thread of its own: an earlier test in this process may have left an event
        # loop marked running on this one, where asyncio.run refuses to start
        writing = store_rows(late, BatchLedger(), "r", "s", {"x": ["a"]}, "append")
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(asyncio.run, writing)
            with pytest.raises(ApiError) as caught:
                answer.result(300)
        assert caught.value.status == 422
        body = caught.value.body
        assert (body["error"], body["run"], body["stream"], body["column"]) == (
            "invalid_data",
            "r",
            "s",
            "x",
        )
        assert [r.rows for r in first.store.streams("r")] == [2]  # nothing of it stored
    finally:
        for hub in hubs:
            hub.store.close()  # type: ignore[union-attr]
        redis.stop()


# --------------------------------------------------------------------- --num-procs 2
def test_both_forked_children_serve_pages_and_the_api(forked: ForkedServer) -> None:
    """With one child stopped (SIGSTOP) every request is the other's: each child in turn
    serves the page, takes rows and reads back the rows the other one took."""
    pids = forked.children()
    assert len(pids) == 2
    written: list[int] = []
    for serving, stopped in (pids, pids[::-1]):
        os.kill(stopped, signal.SIGSTOP)
        try:
            status, page = call(forked.port, "GET", "/")
            assert status == 200
            assert b"<title>streamvis</title>" in page
            assert b"docs_json" in page  # a document this child built
            step = len(written)
            assert post(forked.port, "both", "s", {"step": [step], "v": [1.0]})[0] == 200
            written.append(step)
            wait_until(
                lambda: column(forked.port, "both", "s", "step") == written,
                message=f"child {serving} holds {written}",
            )
        finally:
            os.kill(stopped, signal.SIGCONT)


def sent_by_client(port: int, run: str, count: int, during: Any) -> None:
    """A Client sends rows step=0..count-1 one at a time while `during()` runs."""
    client = sv.Client(f"http://127.0.0.1:{port}", run, flush_interval=0.001, batch_rows=50)
    stop = threading.Event()

    def produce() -> None:
        for step in range(count):
            client.stream("s", {"step": step, "v": float(step)})
            if stop.wait(0.002):
                stop.clear()  # `during()` is over: send the rest at full speed

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        during()
    finally:
        stop.set()
        producer.join()
        assert client.flush(timeout=120 * 3), "the Client could not deliver everything"
        client.close()
    assert client.errors == []


def test_a_child_killed_under_load_loses_and_duplicates_nothing(forked: ForkedServer) -> None:
    """Each child in turn is killed with kill -9 while a Client sends (so the Client's
    connection certainly breaks once); Tornado forks a replacement, which replays from Redis.
    Every row arrives exactly once, read back through the surviving processes."""
    count = 3000

    def kill_each_child() -> None:
        for victim in forked.children():
            wait_until(lambda: column(forked.port, "killed", "s", "step"), message="rows")
            os.kill(victim, signal.SIGKILL)
            wait_until(
                lambda victim=victim: (
                    len(forked.children()) == 2 and victim not in forked.children()
                ),
                message="Tornado's replacement child",
            )

    sent_by_client(forked.port, "killed", count, kill_each_child)
    for _ in range(4):  # several fresh connections: any child answers the same
        wait_until(
            lambda: column(forked.port, "killed", "s", "step") == list(range(count)),
            message="every row once, in order",
        )


def test_redis_killed_answers_503_then_everything_acknowledged_is_there_once(
    forked: ForkedServer, forked_redis: RedisServer
) -> None:
    """Redis dies (SIGKILL) under a Client's load: ingest answers 503, the Client retries;
    Redis restarts on its AOF (appendfsync always) and every row is there exactly once."""
    count = 1500
    acknowledged: list[int] = []  # raw posts answered 200
    kept: list[int] = []  # raw posts answered 503 store_pending: stored once Redis is back

    def outage() -> None:
        wait_until(lambda: column(forked.port, "outage", "s", "step"), message="rows")
        assert forked_redis.process is not None
        forked_redis.process.kill()  # Redis itself dies: nothing is flushed on the way out
        forked_redis.process.wait()
        forked_redis.process = None
        try:

            def refused() -> Any:
                step = 10**6 + len(acknowledged) + len(kept)
                status, body = post(forked.port, "outage", "raw", {"n": [step]}, f"raw-{step}")
                if status == 200:  # taken before the failure was noticed: it must stay
                    acknowledged.append(step)
                    return False
                assert status == 503, body
                assert body["error"] in ("store_unavailable", "store_pending"), body
                assert (body["run"], body["stream"]) == ("outage", "raw")
                if body["error"] == "store_pending":
                    kept.append(step)
                refusals.append(body["error"])
                return len(refusals) >= 10  # Redis stays down a while: the Client meets it

            refusals: list[str] = []
            wait_until(refused, message="503s while Redis is down")
        finally:
            forked_redis.start()  # same port, same directory: the AOF

    sent_by_client(forked.port, "outage", count, outage)
    wait_until(
        lambda: column(forked.port, "outage", "s", "step") == list(range(count)),
        message="every Client row once, in order",
    )
    final = 2 * 10**6
    wait_until(
        lambda: post(forked.port, "outage", "raw", {"n": [final]}, "raw-final")[0] == 200,
        message="writes acknowledged again",
    )
    expected = sorted([*acknowledged, *kept, final])
    wait_until(
        lambda: sorted(column(forked.port, "outage", "raw", "n") or []) == expected,
        message="the rows acknowledged (or kept) around the outage, once each",
    )


# ------------------------------------------------------------------------- at start
def test_a_bad_store_stops_streamvis_serve_with_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked before `panel serve` is started (run in this process: nothing is exec'd)."""

    def no_exec(*args: Any) -> None:
        raise AssertionError(f"panel serve was started: {args[1]}")

    monkeypatch.setattr(os, "execve", no_exec)
    monkeypatch.chdir(tmp_path)
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    redis = RedisServer(tmp_path / "redis").start()
    try:
        stranger = redis.url.replace("redis://", "redis://someone:hunter2@")
        cases = {
            "unreachable": (["serve", "--redis", closed], f"{closed}: cannot reach Redis"),
            "no port": (["serve", "--redis", "redis://127.0.0.1:x/0"], "could not be cast"),
            "credentials": (["serve", "--redis", stranger], "redis://someone:***@127.0.0.1"),
            "sqlite forked": (["serve", "--num-procs", "2"], "--num-procs 2 needs the shared"),
            "memory forked": (["serve", "--num-procs", "2", "--store", "none"], "memory only"),
        }
        for name, (argv, expected) in cases.items():
            assert cli.main(argv) == 2, name
            err = capsys.readouterr().err
            assert len(err.strip().splitlines()) == 1, (name, err)
            assert expected in err, (name, err)
            assert "hunter2" not in err
        monkeypatch.setenv("STREAMVIS_REDIS", closed)  # the variable, as --redis
        assert cli.main(["serve"]) == 2
        assert f"{closed}: cannot reach Redis" in capsys.readouterr().err
        assert cli.streamvis_server(["--redis", closed]) == 2  # the seed-compatible command
        assert f"streamvis_server: {closed}: cannot reach Redis" in capsys.readouterr().err
    finally:
        redis.stop()


def test_streamvis_serve_picks_the_store_in_the_order_the_app_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--redis, a redis:// --store, STREAMVIS_REDIS unless --store names a file."""
    monkeypatch.setenv("STREAMVIS_REDIS", "redis://h:1/0")
    monkeypatch.delenv("STREAMVIS_STORE", raising=False)
    for argv, chosen in (
        (["serve"], "redis://h:1/0"),
        (["serve", "--store", "runs.db"], None),
        (["serve", "--store", "redis://other:2/0"], "redis://other:2/0"),
        (["serve", "--store", "runs.db", "--redis", "redis://x:3/0"], "redis://x:3/0"),
    ):
        args = cli.build_parser().parse_args(argv)
        cli._choose_redis(args)
        assert args.redis == chosen, argv


def test_forked_serving_drops_warm_up_and_passes_redis_by_the_environment() -> None:
    args = cli.build_parser().parse_args(
        ["serve", "l.yaml", "--redis", "redis://:pw@h:1/0", "--num-procs", "2"]
    )
    command = cli.panel_serve_command(args, {})
    assert command[command.index("--num-procs") + 1] == "2"
    assert "--warm" not in command  # Panel would run the page in the parent, before the fork
    assert not any("pw" in part for part in command)  # no password in `ps`
    single = cli.panel_serve_command(cli.build_parser().parse_args(["serve", "l.yaml"]), {})
    assert "--warm" in single
    assert "--num-procs" not in single


def test_a_bad_store_stops_panel_serve_with_the_plugin_with_one_line_and_exit_2(
    tmp_path: Path,
) -> None:
    """`panel serve --plugins streamvis.ingest`: refused when Panel loads the plugin, before
    it listens (an unreachable STREAMVIS_REDIS; SQLite with --num-procs)."""
    closed = f"redis://127.0.0.1:{free_port()}/0"
    dashboard = str(ROOT / "apps" / "dashboard.py")
    plugin = [sys.executable, "-m", "panel", "serve", dashboard, "--port", str(free_port())]
    plugin += ["--plugins", "streamvis.ingest"]
    cases = {
        "unreachable": (plugin, {"STREAMVIS_REDIS": closed}, f"{closed}: cannot reach Redis"),
        "sqlite forked": ([*plugin, "--num-procs", "2"], {}, "--num-procs 2 needs the shared"),
    }
    store = str(tmp_path / "sqlite.db")
    processes = {
        name: subprocess.Popen(
            command,
            cwd=tmp_path,
            env={**os.environ, "STREAMVIS_STORE": store, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (command, env, _) in cases.items()
    }
    try:
        for name, process in processes.items():
            out, err = process.communicate(timeout=120 * 3)
            assert process.returncode == 2, (name, out, err)
            assert err.strip().splitlines() == [f"streamvis: {err.strip()[11:]}"], (name, err)
            assert cases[name][2] in err, (name, err)
    finally:
        for process in processes.values():
            end_process(process)
