"""The lag badge's pane changes at once when a page falls behind or catches up, and while it
stays behind restates the age at most once a second (each change is a message to the page)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from streamvis.page import lag


def test_the_badge_restates_the_age_at_most_once_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = SimpleNamespace(now=100.0)
    monkeypatch.setattr(lag.time, "monotonic", lambda: clock.now)
    note = lag.LagNote()
    session = SimpleNamespace(polled_at=100.0)
    changes: list[str] = []
    note.pane.param.watch(lambda event: changes.append(event.new), "object")

    for now in (100.05, 100.1):  # fresh: nothing to say, nothing sent
        clock.now = now
        note.refresh(session, 50)
    assert changes == []

    for tenth in range(21, 40):  # behind from 2.1 s to 3.9 s, looked at every 0.1 s
        clock.now = 100.0 + tenth / 10
        note.refresh(session, 50)
    assert [text.split(">")[1].split("<")[0] for text in changes] == [
        "behind 2.1 s",
        "behind 3.1 s",
    ]

    for tenth in range(40, 70):  # caught up: read every 0.1 s again
        session.polled_at = clock.now = 100.0 + tenth / 10
        note.refresh(session, 50)
    assert changes[-1] == ""  # hidden at once when the hold is over, not a second later
    assert len(changes) <= 5
