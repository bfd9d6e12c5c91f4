"""The listener's pacing: short steps while events arrive unannounced, doubling back to the
poll interval when none do (docs/events.md, the listener's busy stepping)."""

from __future__ import annotations

import time

from listener.events.service import WATERMARK_RECHECK, ListenerConfig, StepPace


def _pace() -> StepPace:
    cfg = ListenerConfig(url="postgresql://unused", poll_interval=1.0, busy_interval=0.01,
                         busy_linger=0.25)
    return StepPace(cfg)


def test_idle_steps_double_back_to_the_poll_interval() -> None:
    pace = _pace()
    assert pace.wait == 1.0
    assert pace.after_step(unannounced=False, captured=True, settled=True) == 0.01
    waits = [pace.after_step(unannounced=False, captured=False, settled=True)
             for _ in range(10)]
    assert waits[:3] == [0.02, 0.04, 0.08]
    assert waits[-1] == 1.0 and max(waits) == 1.0


def test_unannounced_events_keep_the_steps_short_for_the_linger() -> None:
    pace = _pace()
    assert pace.after_step(unannounced=True, captured=False, settled=True) == 0.01
    assert pace.after_step(unannounced=False, captured=False, settled=True) == 0.01
    pace.found_at = time.monotonic() - 1.0          # the linger has passed
    assert pace.after_step(unannounced=False, captured=False, settled=True) == 0.02


def test_an_unsettled_watermark_caps_the_wait() -> None:
    pace = _pace()
    for _ in range(20):
        wait = pace.after_step(unannounced=False, captured=False, settled=False)
    assert wait == min(1.0, WATERMARK_RECHECK)


def test_the_bound_on_the_next_wait_holds_for_every_kind_of_step() -> None:
    """The loop reads its idle check's mark before a step only when the wait after it may be
    longer than one look (listener.events.service): the bound must never be short of the wait
    that step then gets, or a write during the step would wait for the poll."""
    pace = _pace()
    kinds = [dict(unannounced=u, captured=c, settled=s)
             for u in (False, True) for c in (False, True) for s in (False, True)]
    for i in range(200):
        bound = pace.next_wait_at_most()
        if i % 37 == 0:
            pace.found_at = time.monotonic() - 1.0      # let the linger pass now and then
        assert pace.after_step(**kinds[(i * 7) % len(kinds)]) <= bound
    pace = _pace()
    pace.after_step(unannounced=True, captured=False, settled=True)
    assert pace.next_wait_at_most() <= 0.1      # busy: no look, so no mark to read
    pace.found_at = time.monotonic() - 1.0
    waits = [pace.after_step(unannounced=False, captured=False, settled=True)
             for _ in range(4)]
    assert waits[-1] > 0.1 and pace.next_wait_at_most() > 0.1
