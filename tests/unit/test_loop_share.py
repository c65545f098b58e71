"""The tick budget all pages of a process share (page/loop_share.py)."""

from __future__ import annotations

from streamvis.page.loop_share import LoopShare


def test_ticks_are_refused_while_the_last_second_used_the_share_and_allowed_after() -> None:
    share = LoopShare(share=0.25, window=1.0)
    assert share.allows(now=10.0)
    share.spent(0.2, now=10.2)
    assert share.allows(now=10.3)  # 0.2 s of 0.25 used
    share.spent(0.1, now=10.4)
    assert not share.allows(now=10.5)  # 0.3 s within the last second
    assert share.skipped == 1
    assert not share.allows(now=11.1)  # the 0.1 s tick ending at 10.4 is still in the window
    assert share.allows(now=11.3)  # only the tick ending at 10.4 is left: 0.1 s


def test_a_page_that_skips_loses_no_rows() -> None:
    """Skipping is only a later tick: the subscription's cursor did not move."""
    import numpy as np

    from streamvis.core.hub import Hub

    hub = Hub()
    subscription = hub.subscribe("s")
    hub.stream("s", {"x": np.arange(3)})
    first = subscription.poll()
    hub.stream("s", {"x": np.arange(3, 5)})  # a tick skipped here...
    hub.stream("s", {"x": np.arange(5, 9)})
    later = subscription.poll()  # ...the next one gets both batches
    assert first is not None
    assert later is not None
    assert list(first.batch["x"]) + list(later.batch["x"]) == list(range(9))
