"""The note above a plot saying its stream is losing rows before they reach the server: rows
its producers dropped from their own full queue, a source that is reconnecting or failed
(counted by the hub, core/losses.py). Empty while there is nothing to say; brought up to
date by the page's timer, and only when the hub's counts changed. Names in it are escaped:
text, never markup. docs/lag-and-loss.md.
"""

from __future__ import annotations

import html
import weakref
from collections.abc import Sequence
from typing import Any

from streamvis.core.hub import Hub
from streamvis.core.losses import StreamLoss

NOTE_STYLE = (
    "color:#8a5a00;background:#fff4d6;padding:2px 6px;font-size:12px;white-space:pre-wrap;"
    "overflow-wrap:anywhere"
)


def loss_lines(loss: StreamLoss, stream: str, run: str | None = None) -> list[str]:
    """What a page says about one stream's loss, a line per fact (`run` names it on a page
    comparing runs)."""
    where = f"run '{run}': " if run is not None else ""
    lines = []
    if loss.dropped:
        rows = "row" if loss.dropped == 1 else "rows"
        lines.append(
            f"{where}{loss.dropped:,} {rows} of '{stream}' dropped by the producer before "
            "sending (its queue was full)"
        )
    for source in loss.sources:
        if source.trouble == "reconnecting":
            tries = "attempt" if source.attempts == 1 else "attempts"
            lines.append(
                f"{where}source '{source.name}' reconnecting ({source.attempts} failed {tries})"
            )
        else:
            lines.append(f"{where}source '{source.name}' failed; not retrying")
    return lines


class StreamNotes:
    """The loss note of every plot of one session, by plot id."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.notes: dict[str, tuple[list[tuple[str, str]], bool, Any]] = {}
        self.version = -1  # the hub's loss version the notes show

    def pane(self, plot_id: str, streams: Sequence[tuple[str, str]], compared: bool) -> Any:
        """A note for a plot drawing these (run, stream) pairs (`compared`: the runs are
        named in it). Only its text changes; empty, it takes no room."""
        import panel as pn

        note = pn.pane.HTML("", margin=0, sizing_mode="stretch_width", css_classes=["sv-loss"])
        self.notes[plot_id] = (list(streams), compared, note)
        self._show(list(streams), compared, note)
        return note

    def refresh(self) -> None:
        """Bring every note up to date if the hub's counts changed since the last look."""
        version = self.hub.losses.version
        if version == self.version:
            return
        self.version = version
        for streams, compared, note in self.notes.values():
            self._show(streams, compared, note)

    def _show(self, streams: list[tuple[str, str]], compared: bool, note: Any) -> None:
        lines = []
        for run, stream in streams:
            loss = self.hub.losses.of(run, stream)
            if loss:
                lines += loss_lines(loss, stream, run if compared else None)
        text = "\n".join(html.escape(line) for line in lines)  # data, never markup
        shown = f"<div class='sv-loss-text' style='{NOTE_STYLE}'>{text}</div>" if text else ""
        if shown != note.object:
            note.object = shown


_notes: weakref.WeakKeyDictionary[Any, StreamNotes] = weakref.WeakKeyDictionary()


def notes_for(session: Any) -> StreamNotes:
    """The loss notes of a LiveSession (made on first ask; they go with the session)."""
    notes = _notes.get(session)
    if notes is None:
        notes = _notes[session] = StreamNotes(session.hub)
    return notes
