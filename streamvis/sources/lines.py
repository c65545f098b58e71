"""Sources that read lines, NDJSON or CSV with a header line: a file followed as it grows
(`tail -f`), and a TCP connection."""

from __future__ import annotations

import csv
import logging
import os
import socket
from pathlib import Path
from typing import Any

from streamvis.layout.checks import check_filled, one_of, shown
from streamvis.layout.source_types import Setting
from streamvis.sources.base import BaseSource, FeedError

log = logging.getLogger("streamvis")
MAX_LINE = 16 * 2**20  # a "line" longer than this without a newline is dropped
FILE_POLL_S = 0.1
FILE_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}  # not .json: one document


def check_port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"must be a port number between 1 and 65535, not {shown(value)}")
    return value


class Lines:
    """Bytes in, complete lines out; a partial last line waits for the rest of it."""

    def __init__(self, skip_first: bool = False) -> None:
        self.partial = b""
        self.skip_first = skip_first  # started mid-line (`from: end`): drop up to the newline

    def feed(self, chunk: bytes) -> list[bytes]:
        *lines, self.partial = (self.partial + chunk).split(b"\n")
        if lines and self.skip_first:
            self.skip_first = False
            lines = lines[1:]
        if len(self.partial) > MAX_LINE:
            lines.append(self.partial)  # reported as malformed by the caller's parser
            self.partial = b""
        return lines

    def rest(self) -> list[bytes]:
        """The unfinished last line, when no more will come (a closed feed, a rotated file)."""
        rest, self.partial = self.partial, b""
        return [rest] if rest.strip() and not self.skip_first else []


class LineSource(BaseSource):
    """Sources that read lines: NDJSON, or CSV with a header line."""

    header: list[str] | None = None

    def _lines(self, lines: list[bytes]) -> None:
        records: list[Any] = []
        for raw in lines:
            line = raw.rstrip(b"\r")
            if not line.strip():
                continue
            if len(line) > MAX_LINE:
                self._malformed(line[:200], f"a line longer than {MAX_LINE} bytes")
            elif self.setting("format") == "csv":
                self._csv_line(line, records)
            else:
                self._parse_json(line, records)
        self._emit(records)

    def _csv_line(self, line: bytes, out: list[Any]) -> None:
        try:
            fields = next(csv.reader([line.decode("utf-8")]))
        except (UnicodeDecodeError, csv.Error) as exc:
            self._malformed(line, f"not a CSV row ({exc})")
            return
        if self.header is None:
            self.header = fields
        elif len(fields) != len(self.header):
            self._malformed(
                line.decode("utf-8"),
                f"expected {len(self.header)} fields ({', '.join(self.header)}), "
                f"got {len(fields)}",
            )
        else:
            out.append({name: _cell(text) for name, text in zip(self.header, fields, strict=True)})


def _cell(text: str) -> Any:
    """A CSV field as the value a producer would send: int, float, text, or None if empty."""
    if text == "":
        return None
    if "_" in text:  # int() and float() accept "1_000"; a producer would send text
        return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class FileSource(LineSource):
    """Follow a JSONL or CSV file as it grows (`tail -f`), from its start or its end. A file
    truncated in place is read again from its start, a replaced (rotated) one is reopened,
    and after a read error the same file is resumed where it was left."""

    TYPE = "file"
    SETTINGS = {
        "path": Setting(check_filled, required=True),
        "format": Setting(one_of(("jsonl", "csv"))),  # default: from the extension
        "from": Setting(one_of(("start", "end")), default="start"),
    }
    _opened = False
    _resume: tuple[int, int, int] | None = None  # (device, inode, offset) read up to

    @classmethod
    def complete(cls, options: dict[str, Any]) -> tuple[str, str] | None:
        """The format, when not given, from the file's extension."""
        suffix = Path(options["path"]).suffix.lower()
        if "format" not in options and suffix not in FILE_FORMATS:
            return (
                "path",
                f"cannot tell the format from the extension {suffix or '(none)'!r}; "
                "add format: jsonl or csv",
            )
        options.setdefault("format", FILE_FORMATS.get(suffix, "jsonl"))
        return None

    @property
    def target(self) -> str:
        return str(self.spec["path"])

    def read(self) -> None:
        path = self.spec["path"]
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by `with`; reopened on rotation
        except FileNotFoundError:
            raise FeedError(f"file not found: {path}") from None
        with handle:
            opened = os.fstat(handle.fileno())
            lines = self._open_at(handle, opened)
            self._connected()
            while not self._stop.is_set():
                chunk = handle.read(2**20)
                if chunk:
                    self._lines(lines.feed(chunk))
                    offset = handle.tell() - len(lines.partial)
                    self._resume = (opened.st_dev, opened.st_ino, offset)
                    self._note_position()
                elif self._rotated(opened):
                    self._lines(lines.feed(handle.read()) + lines.rest())
                    log.info("%s: the file was replaced; reading the new one", self.label)
                    return
                elif os.fstat(handle.fileno()).st_size < handle.tell():
                    log.info("%s: the file was truncated; reading from its start", self.label)
                    handle.seek(0)
                    lines, self.header = Lines(), None
                else:
                    self._stop.wait(FILE_POLL_S)

    def position(self) -> Any:
        """The file (device, inode) and the offset after the last whole line stored."""
        return list(self._resume) if self._resume is not None else None

    def take_position(self, position: Any) -> None:
        """Go on where another process's copy of this source stopped (the same file)."""
        if isinstance(position, list) and len(position) == 3:
            self._resume = (int(position[0]), int(position[1]), int(position[2]))
            self._opened = True  # not a first open: `from: end` does not apply

    def _open_at(self, handle: Any, opened: os.stat_result) -> Lines:
        """Where to start in a newly opened file: where we left it (same file), its end (first
        open with `from: end`, skipping a partial last line), or its start. A CSV header is
        read first in every case."""
        first, self._opened = not self._opened, True
        resume = self._resume
        at_end = first and self.setting("from") == "end"
        offset = 0
        if resume is not None and resume[:2] == (opened.st_dev, opened.st_ino):
            offset = resume[2] if opened.st_size >= resume[2] else 0
        elif at_end:
            offset = opened.st_size
        self.header = None
        if self.setting("format") == "csv" and offset > 0:
            header = handle.readline()
            if not header.endswith(b"\n"):
                offset = 0  # no complete header yet: everything is new
            else:
                self._lines([header])
                offset = max(offset, handle.tell())
        skip_first = False
        if at_end and offset > 0:
            handle.seek(offset - 1)
            skip_first = handle.read(1) != b"\n"
        handle.seek(offset)
        return Lines(skip_first=skip_first)

    def _rotated(self, opened: os.stat_result) -> bool:
        try:
            now = os.stat(self.spec["path"])
        except FileNotFoundError:
            return False  # moved away and not yet replaced: keep reading the old file
        return (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino)


class TcpSource(LineSource):
    """Connect to a TCP server and read newline-delimited JSON; reconnect when it drops."""

    TYPE = "tcp"
    SETTINGS = {
        "host": Setting(check_filled, required=True),
        "port": Setting(check_port, required=True),
    }

    @property
    def target(self) -> str:
        return f"{self.spec['host']}:{self.spec['port']}"

    def read(self) -> None:
        with socket.create_connection((self.spec["host"], self.spec["port"]), timeout=5) as sock:
            sock.settimeout(0.25)  # wake up to notice stop()
            self._connected()
            lines = Lines()
            while not self._stop.is_set():
                try:
                    chunk = sock.recv(2**16)
                except TimeoutError:
                    continue
                if not chunk:
                    self._lines(lines.rest())
                    raise FeedError("the server closed the connection")
                self._lines(lines.feed(chunk))
