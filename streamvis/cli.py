"""Command lines: `streamvis serve | demo | ls | export | layout | rm` and the first release's
`streamvis_server`. Each subcommand has `--help` with examples."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from streamvis.core.storage import DeleteRun
from streamvis.errors import StoreBusy, StreamvisError
from streamvis.server.access import DEFAULT_MAX_BODY, is_loopback, make_access, token_problem
from streamvis.server.viewer_auth import (
    add_viewer_options,
    check_viewer_options,
    forwarded_origins,
    viewer_flags,
)
from streamvis.store import DEFAULT_PATH, RedisStore, SQLiteStore, StoreError
from streamvis.store.redis_streams import is_redis_url

SERVE_EXAMPLES = """examples:
  streamvis serve layout.yaml                 # keeps data in ./.streamvis/streamvis.db
  streamvis serve layout.yaml --port 8000 --producer train.py:main
  streamvis serve layout.yaml --store runs.db --keep-seconds 604800   # a week of history
  streamvis serve layout.yaml --memory 8GB    # rows kept in memory (docs/memory.md)
  streamvis serve layout.yaml --store none    # memory only
  # several processes on one shared Redis (docs/scale-out.md)
  streamvis serve layout.yaml --redis redis://127.0.0.1:6379/0 --num-procs 2
  STREAMVIS_TOKEN=s3cret streamvis serve layout.yaml --address 0.0.0.0 --allow-host myhost

  # viewers log in, producers keep the token (docs/security.md); users.json: {"ann": "pw"}
  export STREAMVIS_TOKEN=s3cret PANEL_COOKIE_SECRET=$(openssl rand -hex 32)
  streamvis serve layout.yaml --basic-auth users.json
  streamvis serve layout.yaml --oauth-provider github --oauth-key ID --oauth-secret SECRET \\
      --oauth-redirect-uri https://dash.example.org --oauth-encryption-key KEY
  # behind a TLS proxy at https://dash.example.org (nginx example in docs/security.md)
  streamvis serve layout.yaml --basic-auth users.json --use-xheaders \\
      --allow-host dash.example.org --allow-origin https://dash.example.org
"""
LS_EXAMPLES = """examples:
  streamvis ls                      # runs in ./.streamvis/streamvis.db
  streamvis ls train-3              # the streams of one run, with columns
  streamvis ls --store runs.db --json
"""
EXPORT_EXAMPLES = """examples:
  streamvis export --run train-3 --stream loss -o loss.csv
  streamvis export --run train-3 --stream loss -o loss.parquet   # needs pyarrow
  streamvis export --run train-3 -o train-3/      # every stream, one CSV each
"""
LAYOUT_EXAMPLES = """examples:
  streamvis layout --from-run train-3 > layout.yaml   # edit it, then: streamvis serve layout.yaml
  streamvis layout --from-run train-3 --store runs.db
"""
RM_EXAMPLES = """examples:
  streamvis rm train-3 --yes                       # from ./.streamvis/streamvis.db
  streamvis rm train-3 --url http://127.0.0.1:5006 # through a running server
"""
SERVER_EXAMPLES = """examples:
  streamvis_server --rest_port 8080 --bokeh_port 5006 --run_name myapp
  python my-app-client.py localhost:8080 myapp     # Client('localhost:8080', 'myapp')
  # then open http://localhost:5006
"""


def _origins(address: str, port: int, extra: Sequence[str]) -> list[str]:
    hosts = ["127.0.0.1", "localhost", *extra]
    if address not in ("0.0.0.0", "::") and address not in hosts:
        hosts.append(address)
    return [f"{host}:{port}" for host in hosts]


def page_url(address: str, port: int, scheme: str = "http") -> str:
    """The address to print for a page served on `address`: one a browser on this machine
    can open and the server accepts (a wildcard address is reached as 127.0.0.1)."""
    host = "127.0.0.1" if address in ("", "0.0.0.0", "::") else address
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}/"


def serve_command(args: argparse.Namespace) -> int:
    """Run `panel serve` on the packaged page with the ingest routes mounted (and the store
    opened and replayed as it starts)."""
    from streamvis.core.memory import configured_memory
    from streamvis.layout import limits
    from streamvis.layout.spec import load_layout

    limits.current()  # a bad STREAMVIS_MAX_* value: one line now
    configured_memory(args.memory, "--memory")  # a bad --memory or STREAMVIS_MEMORY: too
    if args.layout:  # an invalid layout (or one beyond the limits) is refused here, not in a page
        load_layout(args.layout)
    _choose_redis(args)  # before the command: it passes --store only for a file
    command = panel_serve_command(args)
    env = dict(os.environ)
    if args.token is not None:
        env["STREAMVIS_TOKEN"] = args.token
    problem = token_problem(env.get("STREAMVIS_TOKEN"))
    if problem is not None:
        print(f"streamvis serve: {problem}", file=sys.stderr)
        return 2
    for warning in check_viewer_options(args, env, env.get("STREAMVIS_TOKEN")):
        print(f"streamvis serve: warning: {warning}", file=sys.stderr)
    if args.allow_host:
        env["STREAMVIS_ALLOWED_HOSTS"] = ",".join(args.allow_host)
    if args.allow_origin:
        env["STREAMVIS_ALLOWED_ORIGINS"] = ",".join(args.allow_origin)
    if not is_loopback(args.address) and not env.get("STREAMVIS_TOKEN"):
        print(
            f"streamvis serve: --address {args.address} is reachable from other machines; "
            "give --token (or STREAMVIS_TOKEN) so only your producers can write.",
            file=sys.stderr,
        )
        return 2
    if args.num_procs < 0:
        print("streamvis serve: --num-procs must be 0 (one per core) or more", file=sys.stderr)
        return 2
    if args.redis:  # reaches `panel serve` by the environment: no password in `ps`
        env["STREAMVIS_REDIS"] = args.redis
    _check_store(args)  # unreachable, refused, locked or foreign: one line now, not a trace
    scheme = "https" if getattr(args, "ssl_certfile", None) else "http"
    url = page_url(args.address, args.port, scheme)  # takes ?run= and ?runs= (docs/urls.md)
    print(f"streamvis: dashboard at {url}, ingest API at {url}api/v1", flush=True)
    # `panel serve` takes this process's place, so a signal to it (SIGTERM from a service
    # manager, Ctrl-C) reaches the server itself and no child is left behind
    command = serve_page_at_root(command)
    os.execve(command[0], command, env)
    return 0  # not reached


def _check_store(args: argparse.Namespace) -> None:
    """Open the store `streamvis serve` will use and close it again: a StoreError (one line,
    exit 2) for a Redis that cannot be reached or refuses the password, a locked SQLite file,
    or several processes (--num-procs) on anything but Redis."""
    if args.num_procs != 1:
        from streamvis.server.processes import check_shared_store

        check_shared_store(args.num_procs, ["--store", args.redis or args.store])
    elif args.redis:
        RedisStore(args.redis).close()
    elif args.store.lower() != "none":
        SQLiteStore(args.store).close()


def serve_page_at_root(command: list[str]) -> list[str]:
    """The `panel serve` command with `--index serve_app` before the app's arguments: the
    page is served at / itself instead of a redirect to /serve_app, which would drop the
    query, so the printed address takes ?run= and ?runs= (docs/urls.md)."""
    at = command.index("--args")
    return [*command[:at], "--index", "serve_app", *command[at:]]


def panel_serve_command(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> list[str]:
    """The `panel serve` command line `streamvis serve` runs for `args` (`environ`: the
    variables it will run with, default this process's)."""
    environ = os.environ if environ is None else environ
    app = Path(__file__).with_name("server") / "serve_app.py"
    command = [
        sys.executable,
        "-m",
        "panel",
        "serve",
        str(app),
        "--address",
        args.address,
        "--port",
        str(args.port),
        "--plugins",
        "streamvis.ingest",
    ]
    num_procs = getattr(args, "num_procs", 1)
    if num_procs == 1:  # one page built before it listens: the first browser's page opens warm
        command.append("--warm")
    else:  # forked children, each opening its own hub (server/processes.py): no warm-up,
        command += ["--num-procs", str(num_procs)]  # it would run in the parent
    for origin in _origins(args.address, args.port, args.allow_host):
        command += ["--allow-websocket-origin", origin]
    for origin in forwarded_origins(args.allow_origin):  # pages reached through a proxy
        command += ["--allow-websocket-origin", origin]
    command += viewer_flags(args, environ)  # Panel's flags: all of them before --args
    command += ["--args", args.layout] if args.layout else ["--args"]
    if not getattr(args, "redis", None):  # Redis: STREAMVIS_REDIS (serve_command sets it)
        command += ["--store", args.store]
    for flag in ("keep_rows", "keep_seconds", "keep_bytes", "memory"):
        if getattr(args, flag, None) is not None:
            command += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
    if args.producer:
        command += ["--producer", args.producer]
    if args.run:
        command += ["--run", args.run]
    return command


def _reader(args: argparse.Namespace) -> SQLiteStore | RedisStore:
    """The store `--store` names, to read: a SQLite file (read-only) or a Redis URL."""
    if is_redis_url(args.store):
        return RedisStore(args.store)
    return SQLiteStore(_store_path(args), readonly=True)


def _store_path(args: argparse.Namespace) -> Path:
    path = Path(args.store)
    if not path.exists():
        raise StoreError(f"no store at {path} (give --store PATH, or run a server first)")
    return path


def _time(ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ns / 1e9)) if ns else "-"


def ls_command(args: argparse.Namespace) -> int:
    """Print the runs of a store, or the streams of one run, with row counts."""
    backend = _reader(args)
    try:
        if args.run:
            records = backend.streams(args.run)
            if not records:
                raise StoreError(f"no run '{args.run}' in {backend.location}")
            rows = [
                {
                    "stream": r.stream,
                    "rows": r.rows,
                    "first_seq": r.first_seq,
                    "next_seq": r.next_seq,
                    "bytes": r.bytes,
                    "last_write": _time(r.updated),
                    "columns": ", ".join(f"{n}:{c}" for n, c in r.columns.items()),
                }
                for r in records
            ]
        else:
            attributes = backend.attributes()
            rows = [
                {
                    "run": r["run"],
                    "started": _time(r["created"]),
                    "last_write": _time(r["updated"]),
                    "streams": r["streams"],
                    "rows": r["rows"],
                    "attributes": attributes.get(r["run"], {}),
                }
                for r in backend.runs()
            ]
    finally:
        backend.close()
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"{backend.location}: no runs")
    else:
        print(_table(_with_shown_attributes(rows)))
    return 0


def _with_shown_attributes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs' attributes as one table cell each, `lr=0.0003 seed=1` (--json keeps the dict);
    no such column when no run has any."""
    from streamvis.core.attributes import as_text

    if not any(row.get("attributes") for row in rows):
        return [{k: v for k, v in row.items() if k != "attributes"} for row in rows]
    return [{**row, "attributes": as_text(row["attributes"])} for row in rows]


def _table(rows: list[dict[str, object]]) -> str:
    names = list(rows[0])
    widths = {n: max(len(n), *(len(str(r[n])) for r in rows)) for n in names}
    lines = ["  ".join(n.ljust(widths[n]) for n in names)]
    for row in rows:
        lines.append("  ".join(str(row[n]).ljust(widths[n]) for n in names))
    return "\n".join(line.rstrip() for line in lines)


def export_command(args: argparse.Namespace) -> int:
    """Write one stream to a file, or every stream of a run (and its attributes, as
    attributes.json) into a directory."""
    from tqdm import tqdm

    from streamvis.store.export import export, write_file

    backend = _reader(args)
    try:
        records = [r for r in backend.streams(args.run) if args.stream in (None, r.stream)]
        total = sum(r.rows for r in records)
        with tqdm(total=total, unit="rows", desc="exporting", delay=0.5, leave=False) as bar:
            result = export(
                args.run,
                args.stream,
                store=backend,
                wall_time=args.wall_time,
                progress=bar.update,
            )
        attributes = backend.attributes(args.run).get(args.run)
    finally:
        backend.close()
    if args.stream is not None:
        target = write_file(result, args.output)  # type: ignore[arg-type]
        print(f"{target}: {len(result)} rows of run '{args.run}', stream '{args.stream}'")
        return 0
    folder = Path(args.output)
    if folder.suffix:
        raise StoreError(
            f"-o {folder}: without --stream every stream is written, so -o names a directory"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in result.items():  # type: ignore[union-attr]
        target = write_file(frame, folder / f"{name}.csv")
        print(f"{target}: {len(frame)} rows")
    if attributes:  # the run's attributes beside its streams (JSON: the types survive)
        target = folder / "attributes.json"
        target.write_text(json.dumps(attributes, indent=2) + "\n")
        print(f"{target}: {len(attributes)} attributes")
    return 0


def layout_command(args: argparse.Namespace) -> int:
    """Print the automatic layout of a stored run as YAML (a starting point to edit)."""
    from streamvis.layout.auto_yaml import stored_layout_yaml

    backend = _reader(args)
    try:
        print(stored_layout_yaml(backend, args.from_run), end="")
    finally:
        backend.close()
    return 0


def rm_command(args: argparse.Namespace) -> int:
    """Delete a run from a store file, or through a running server's API."""
    if args.url:
        return _rm_through_server(args)
    path: Path | str = args.store if is_redis_url(args.store) else _store_path(args)
    if not args.yes:
        if not sys.stdin.isatty():
            raise StoreError(f"deleting run '{args.run}' from {path}: add --yes to confirm")
        answer = input(f"delete run '{args.run}' and all its rows from {path}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    try:
        # SQLite: takes the writer's lock, refused while a server has it; Redis: shared
        backend = RedisStore(args.store) if is_redis_url(args.store) else SQLiteStore(path)
    except StoreBusy as exc:
        raise StoreBusy(
            f"{exc}. To delete through that server: streamvis rm {args.run} --url http://HOST:PORT",
            owner=exc.owner,
            file=exc.file,
        ) from None
    try:
        if not backend.streams(args.run) and args.run not in {r["run"] for r in backend.runs()}:
            raise StoreError(f"no run '{args.run}' in {backend.location}")
        streams = len(backend.streams(args.run))
        backend.commit([DeleteRun(args.run)])
    finally:
        backend.close()
    print(f"deleted run '{args.run}' ({streams} streams) from {backend.location}")
    return 0


def _rm_through_server(args: argparse.Namespace) -> int:
    from urllib.error import HTTPError, URLError
    from urllib.parse import quote
    from urllib.request import Request, urlopen

    url = args.url.rstrip("/")
    if "://" not in url:
        url = "http://" + url
    request = Request(f"{url}/api/v1/runs/{quote(args.run)}", method="DELETE")
    token = args.token or os.environ.get("STREAMVIS_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urlopen(request, timeout=30) as response:
            reply = json.loads(response.read())
    except HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("detail", exc.reason)
        raise StoreError(f"{url}: {detail}") from None
    except URLError as exc:
        raise StoreError(f"{url}: cannot reach the server ({exc.reason})") from None
    print(f"deleted run '{args.run}' ({reply.get('deleted', 0)} streams) on {url}")
    return 0


def _subcommand(commands: Any, name: str, summary: str, examples: str) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=str(DEFAULT_PATH),
        help=f"the SQLite store, or a redis:// URL (default ./{DEFAULT_PATH})",
    )


def _redis_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis",
        default=None,
        metavar="URL",
        help="keep data in this shared Redis instead (redis://HOST:PORT/DB, or "
        "STREAMVIS_REDIS), so several server processes serve the same data "
        "(docs/scale-out.md)",
    )


def _choose_redis(args: argparse.Namespace) -> None:
    """Set `args.redis` in the order the served app reads its store (`configured_path`):
    --redis, a redis:// --store, STREAMVIS_REDIS unless --store names a file."""
    if args.redis is not None:
        return
    if is_redis_url(args.store):
        args.redis = args.store
    elif args.store == os.environ.get("STREAMVIS_STORE", str(DEFAULT_PATH)):
        args.redis = os.environ.get("STREAMVIS_REDIS") or None


def _memory_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--memory",
        default=None,
        help="bytes of rows kept in memory, e.g. 8GB or 512MiB; older rows are read back "
        "from the store (default: $STREAMVIS_MEMORY or min(4 GiB, a quarter of physical "
        "memory); see docs/memory.md",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamvis",
        description="Live dashboards of streaming data.",
        epilog="run `streamvis COMMAND --help` for a command's options and examples",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = _subcommand(
        commands,
        "serve",
        "serve a layout with the ingest API, keeping data in a store (wraps panel serve)",
        SERVE_EXAMPLES,
    )
    serve.add_argument("layout", nargs="?", help="layout YAML (optional: producers may PUT one)")
    serve.add_argument("--port", type=int, default=5006)
    serve.add_argument(
        "--address",
        default="127.0.0.1",
        help="interface to listen on (default 127.0.0.1: this machine only)",
    )
    serve.add_argument(
        "--store",
        default=os.environ.get("STREAMVIS_STORE", str(DEFAULT_PATH)),
        help=f"SQLite file to keep data in, or 'none' (default ./{DEFAULT_PATH})",
    )
    _redis_option(serve)
    serve.add_argument(
        "--num-procs",
        type=int,
        default=1,
        help="server processes sharing the port (panel serve --num-procs; 0: one per core); "
        "more than 1 needs --redis",
    )
    serve.add_argument("--keep-rows", type=int, default=None, help="stored rows per stream")
    serve.add_argument(
        "--keep-seconds", type=float, default=None, help="drop stored rows older than this"
    )
    serve.add_argument(
        "--keep-bytes", type=int, default=None, help="keep the store's data under this size"
    )
    _memory_option(serve)
    serve.add_argument("--token", default=None, help="ingest token (or STREAMVIS_TOKEN)")
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        help="extra host name the page and API may be reached by (repeatable)",
    )
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        help="extra page origin (scheme://host[:port]) allowed to open the ingest websocket, "
        "e.g. behind a proxy (repeatable; or STREAMVIS_ALLOWED_ORIGINS)",
    )
    serve.add_argument("--producer", default=None, help="module:function run in the server")
    serve.add_argument("--run", default=None, help="run to show (default: the layout's)")
    add_viewer_options(serve)  # --basic-auth, --oauth-*, --cookie-secret, TLS: viewer_auth.py
    serve.set_defaults(handler=serve_command)

    demo = _subcommand(
        commands,
        "demo",
        "serve a live dashboard of a fake training run",
        "examples:\n  streamvis demo\n  streamvis demo --port 8000 --store none\n",
    )
    demo.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    demo.set_defaults(handler=demo_command)

    ls = _subcommand(
        commands, "ls", "list runs (or one run's streams) with row counts", LS_EXAMPLES
    )
    ls.add_argument("run", nargs="?", help="show this run's streams")
    _store_option(ls)
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(handler=ls_command)

    export = _subcommand(
        commands, "export", "write a run's streams to CSV or Parquet", EXPORT_EXAMPLES
    )
    export.add_argument("--run", default="default", help="the run (default 'default')")
    export.add_argument("--stream", default=None, help="one stream (default: all of them)")
    export.add_argument(
        "-o", "--output", required=True, help="file (.csv/.parquet), or a directory"
    )
    export.add_argument("--wall-time", action="store_true", help="add each row's arrival time")
    _store_option(export)
    export.set_defaults(handler=export_command)

    layout = _subcommand(
        commands,
        "layout",
        "print a run's automatic layout (a chart per numeric column) as YAML",
        LAYOUT_EXAMPLES,
    )
    layout.add_argument("--from-run", required=True, metavar="RUN", help="the stored run")
    _store_option(layout)
    layout.set_defaults(handler=layout_command)

    rm = _subcommand(commands, "rm", "delete a run and all its stored rows", RM_EXAMPLES)
    rm.add_argument("run", help="the run to delete")
    _store_option(rm)
    rm.add_argument("--url", default=None, help="delete through this running server instead")
    rm.add_argument("--token", default=None, help="the server's ingest token")
    rm.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    rm.set_defaults(handler=rm_command)
    return parser


def demo_command(args: argparse.Namespace) -> int:
    from streamvis.demo import main as demo_main

    return demo_main(args.rest)


def main(argv: Sequence[str] | None = None) -> int:
    """`streamvis COMMAND ...`; a user mistake ends with one line on stderr and exit 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["demo"]:  # the demo parses its own options (and --help)
        from streamvis.demo import main as demo_main

        return _guarded(lambda: demo_main(argv[1:]))
    args = build_parser().parse_args(argv)
    return _guarded(lambda: args.handler(args))


def _guarded(action: Callable[[], int]) -> int:
    try:
        return action()
    except StreamvisError as exc:
        print(f"streamvis: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def streamvis_server(argv: Sequence[str] | None = None) -> int:
    """The first release's server: the dashboard of one run on --bokeh_port, and the ingest
    API the Client posts to on --rest_port, in one process sharing one hub."""
    parser = argparse.ArgumentParser(
        prog="streamvis_server",
        epilog=SERVER_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve the live dashboard of one run and accept a Client's posts.",
    )
    parser.add_argument("--rest_port", type=int, default=8080, help="port of the ingest API")
    parser.add_argument("--bokeh_port", type=int, default=5006, help="port of the dashboard")
    parser.add_argument("--run_name", default="default", help="the run the dashboard shows")
    parser.add_argument(
        "--address",
        default="127.0.0.1",
        help="interface to listen on (default 127.0.0.1: this machine only)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("STREAMVIS_TOKEN"),
        help="ingest token required from producers (or STREAMVIS_TOKEN)",
    )
    parser.add_argument(
        "--max_body",
        type=int,
        default=DEFAULT_MAX_BODY,
        help="largest request body accepted, in bytes",
    )
    parser.add_argument(
        "--store",
        default=os.environ.get("STREAMVIS_STORE", str(DEFAULT_PATH)),
        help=f"SQLite file to keep data in, or 'none' (default ./{DEFAULT_PATH})",
    )
    _redis_option(parser)
    _memory_option(parser)
    args = parser.parse_args(argv)
    _choose_redis(args)
    if args.redis:
        args.store = args.redis
    problem = token_problem(args.token)
    if problem is not None:
        print(f"streamvis_server: {problem}", file=sys.stderr)
        return 2

    import panel as pn

    from streamvis.page.csp import install_header
    from streamvis.page.dashboard import dashboard
    from streamvis.server.ingest import routes
    from streamvis.server.ingest_loop import IngestLoop
    from streamvis.store import (
        configured_memory_of,
        configured_retention,
        open_store,
        use_default_store,
    )

    try:
        memory = configured_memory_of(["--memory", args.memory] if args.memory else [])
        # a bad --memory or STREAMVIS_MEMORY: one line, exit 2, before anything starts
        use_default_store(
            lambda: open_store(args.store, configured_retention([])), args.store, memory
        )
    except StreamvisError as exc:
        print(f"streamvis_server: {exc}", file=sys.stderr)
        return 2

    origins = _origins(args.address, args.bokeh_port, [])
    access = make_access(
        args.address,
        args.token,
        [o.rsplit(":", 1)[0] for o in origins],
        args.max_body,
        ports=(args.bokeh_port, args.rest_port),
        extra_origins=os.environ.get("STREAMVIS_ALLOWED_ORIGINS", "").split(","),
    )
    IngestLoop(routes(access)).listen(args.rest_port, args.address)  # off the pages' loop
    print(
        f"streamvis_server: run '{args.run_name}' at {page_url(args.address, args.bokeh_port)}"
        f"  (ingest API: {page_url(args.address, args.rest_port)}api/v1)",
        flush=True,
    )

    def page() -> object:
        return dashboard(None, run=args.run_name)

    install_header()  # each page's Content-Security-Policy also as a response header
    pn.serve(
        {"/": page},
        port=args.bokeh_port,
        address=args.address,
        show=False,
        threaded=False,
        title=f"streamvis: {args.run_name}",
        websocket_origin=origins,
        warm=True,  # one page built before it listens: the first browser's opens warm
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
