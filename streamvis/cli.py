"""Command lines: `streamvis serve LAYOUT` and the first release's `streamvis_server`."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from streamvis.access import DEFAULT_MAX_BODY, is_loopback, make_access

SERVE_EXAMPLES = """examples:
  streamvis serve examples/training.yaml
  streamvis serve layout.yaml --port 8000 --producer train.py:main
  STREAMVIS_TOKEN=s3cret streamvis serve layout.yaml --address 0.0.0.0 --allow-host myhost
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


def serve_command(args: argparse.Namespace) -> int:
    """Run `panel serve` on the packaged page with the ingest routes mounted."""
    app = Path(__file__).with_name("serve_app.py")
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
    for origin in _origins(args.address, args.port, args.allow_host):
        command += ["--allow-websocket-origin", origin]
    command += ["--args", args.layout] if args.layout else ["--args"]
    if args.producer:
        command += ["--producer", args.producer]
    if args.run:
        command += ["--run", args.run]
    env = dict(os.environ)
    if args.token:
        env["STREAMVIS_TOKEN"] = args.token
    if args.allow_host:
        env["STREAMVIS_ALLOWED_HOSTS"] = ",".join(args.allow_host)
    if not is_loopback(args.address) and not env.get("STREAMVIS_TOKEN"):
        print(
            f"streamvis serve: --address {args.address} is reachable from other machines; "
            "give --token (or STREAMVIS_TOKEN) so only your producers can write.",
            file=sys.stderr,
        )
        return 2
    print(
        f"streamvis: dashboard at http://{args.address}:{args.port}/, ingest API "
        f"at http://{args.address}:{args.port}/api/v1",
        flush=True,
    )
    return subprocess.call(command, env=env)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="streamvis", description="Live dashboards of streaming data."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve a layout with the ingest API (wraps panel serve)",
        epilog=SERVE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("layout", nargs="?", help="layout YAML (optional: producers may PUT one)")
    serve.add_argument("--port", type=int, default=5006)
    serve.add_argument(
        "--address",
        default="127.0.0.1",
        help="interface to listen on (default 127.0.0.1: this machine only)",
    )
    serve.add_argument("--token", default=None, help="ingest token (or STREAMVIS_TOKEN)")
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        help="extra host name the page and API may be reached by (repeatable)",
    )
    serve.add_argument("--producer", default=None, help="module:function run in the server")
    serve.add_argument("--run", default=None, help="run to show (default: the layout's)")
    args = parser.parse_args(argv)
    return serve_command(args)


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
    args = parser.parse_args(argv)

    import panel as pn
    import tornado.web

    from streamvis.dashboard import dashboard
    from streamvis.ingest import routes

    origins = _origins(args.address, args.bokeh_port, [])
    access = make_access(
        args.address, args.token, [o.rsplit(":", 1)[0] for o in origins], args.max_body
    )
    tornado.web.Application(routes(access)).listen(args.rest_port, args.address)
    print(
        f"streamvis_server: run '{args.run_name}' at http://{args.address}:{args.bokeh_port}"
        f"  (ingest API: http://{args.address}:{args.rest_port}/api/v1)",
        flush=True,
    )

    def page() -> object:
        return dashboard(None, run=args.run_name)

    pn.serve(
        {"/": page},
        port=args.bokeh_port,
        address=args.address,
        show=False,
        threaded=False,
        title=f"streamvis: {args.run_name}",
        websocket_origin=origins,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
