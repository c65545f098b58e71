"""Sources whose unit is a message rather than a line: a websocket (each message one JSON
record or a list of them), a Python function polled on a period (what it returns), and a
Kafka topic (each message one JSON record or a list)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

from streamvis.layout.checks import (
    check_count,
    check_filled,
    check_text,
    check_text_list,
    one_of,
    shown,
)
from streamvis.layout.source_types import Setting
from streamvis.sources.base import BaseSource, FeedError, GiveUp
from streamvis.sources.reference import check_reference, resolve

CLOSE_WAIT = 1.0  # seconds a closing websocket waits for the feed's reply

if TYPE_CHECKING:
    import asyncio


def check_ws_url(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith(("ws://", "wss://")):
        raise ValueError(f"must be a ws:// or wss:// URL, not {shown(value)}")
    return check_text(value)


def check_every_ms(value: Any) -> int:
    count = check_count(value)
    if count < 10:
        raise ValueError(f"must be at least 10, not {count}")
    return count


class WebSocketSource(BaseSource):
    """Connect to a websocket; each message is one JSON record or a list of records.

    Tornado's client runs on an asyncio loop owned by this source's thread (never Panel's)."""

    TYPE = "websocket"
    SETTINGS = {"url": Setting(check_ws_url, required=True)}
    _runner: asyncio.Runner | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _task: asyncio.Task[Any] | None = None

    @property
    def target(self) -> str:
        return str(self.spec["url"])

    def read(self) -> None:
        import asyncio

        if self._runner is None:
            self._runner = asyncio.Runner()
        try:
            self._runner.run(self._session())
        except asyncio.CancelledError:
            if not self._stop.is_set():
                raise FeedError("the connection was cancelled") from None

    async def _session(self) -> None:
        import asyncio

        from tornado.websocket import websocket_connect

        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        if self._stop.is_set():
            return
        connecting = websocket_connect(
            self.spec["url"], connect_timeout=10, ping_interval=20, ping_timeout=20
        )
        try:  # shielded: a stop during the handshake must not orphan a half-made connection
            connection = await asyncio.shield(connecting)
        except asyncio.CancelledError:
            cast("asyncio.Future[Any]", connecting).add_done_callback(_close_if_connected)
            raise
        try:
            self._connected()
            while True:
                message = await connection.read_message()
                if message is None:
                    code = connection.close_code
                    raise FeedError(
                        "the feed closed the connection" + (f" (code {code})" if code else "")
                    )
                records: list[Any] = []
                self._parse_json(message, records)
                self._emit(records)
        finally:
            await _close(connection)

    def _interrupt(self) -> None:
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the loop is already closed
                pass

    def _finish(self) -> None:
        if self._runner is not None:
            self._runner.close()


async def _close(connection: Any) -> None:
    """Close a websocket and, at most CLOSE_WAIT seconds later, its socket: tornado waits
    up to 5 s for the feed's closing reply, but this source's loop closes right after (its
    socket would be left open)."""
    import asyncio

    protocol = connection.protocol
    stream = protocol.stream if protocol is not None else None
    connection.close()
    if stream is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CLOSE_WAIT
    try:
        while not stream.closed() and loop.time() < deadline:
            await asyncio.sleep(0.02)
    finally:
        stream.close()


def _close_if_connected(future: Any) -> None:
    """Close the connection a cancelled handshake still produced (tornado would drop it
    with its socket open)."""
    if not future.cancelled() and future.exception() is None:
        connection = future.result()
        protocol = connection.protocol
        connection.close()
        if protocol is not None:  # no loop is left to wait for the feed's reply
            protocol.stream.close()


class PythonSource(BaseSource):
    """Call `module:function` (or `path/file.py:function`) every `every_ms`; store what it
    returns (anything `Hub.stream` accepts; None for nothing)."""

    TYPE = "python"
    SETTINGS = {
        "function": Setting(check_reference, required=True),
        "every_ms": Setting(check_every_ms, default=1000),
        "mode": Setting(one_of(("append", "replace")), default="append"),
    }
    _function: Any = None

    @property
    def target(self) -> str:
        return str(self.spec["function"])

    def read(self) -> None:
        if self._function is None:
            self._function = resolve(self.spec["function"])
        period = self.setting("every_ms") / 1000
        while not self._stop.is_set():
            started = time.monotonic()
            rows = self._function()
            if self.state.status != "running":
                self._connected()
            if rows is not None:
                self.records.emit(rows)
            self._stop.wait(max(0.0, period - (time.monotonic() - started)))


class KafkaSource(BaseSource):
    """Read JSON records from a Kafka topic (needs the `kafka` extra: kafka-python)."""

    TYPE = "kafka"
    SETTINGS = {
        "topic": Setting(check_filled, required=True),
        "bootstrap_servers": Setting(check_text_list, required=True),
        "group_id": Setting(check_filled),
    }

    @property
    def target(self) -> str:
        return f"{self.spec['topic']} at {','.join(self.spec['bootstrap_servers'])}"

    def read(self) -> None:
        try:
            from kafka import KafkaConsumer  # type: ignore[import-not-found]
        except ImportError:
            raise GiveUp(
                "the kafka source needs the kafka-python package: "
                "install streamvis[kafka] (pip install 'streamvis[kafka]')"
            ) from None
        consumer = KafkaConsumer(
            self.spec["topic"],
            bootstrap_servers=list(self.spec["bootstrap_servers"]),
            group_id=self.spec.get("group_id"),
        )
        try:
            self._connected()
            while not self._stop.is_set():
                records: list[Any] = []
                for messages in consumer.poll(timeout_ms=250).values():
                    for message in messages:
                        self._parse_json(message.value, records)
                self._emit(records)
        finally:
            consumer.close()
