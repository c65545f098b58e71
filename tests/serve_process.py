"""`streamvis serve ...` in a subprocess on a free port of 127.0.0.1, in its own process group
so stopping it also stops the `panel serve` it runs; its output is kept for failures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT, accepts_connections, free_port, wait_until

STREAMVIS = str(Path(sys.executable).with_name("streamvis"))


class ServeProcess:
    """A running `streamvis serve LAYOUT --port P ARGS...`; `url` is its address."""

    def __init__(self, layout: Path, args: list[str], log_path: Path, env: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        command = [STREAMVIS, "serve", str(layout), "--port", str(self.port), *args]
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
                start_new_session=True,  # its panel serve child is in the same group
            )
        try:
            wait_until(self._ready, timeout=60, message=f"streamvis serve on {self.port}")
        except BaseException:
            self.stop()  # a server that never came up is not left running
            raise

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"streamvis serve exited early:\n{self.output()}")
        return accepts_connections(self.port)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        deadline = time.monotonic() + 30  # the panel serve child may take a moment longer
        while _group_alive(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _group_alive(self.process.pid):
            os.killpg(self.process.pid, signal.SIGKILL)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
