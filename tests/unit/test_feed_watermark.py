"""The live feed's watermark (listener/web/feed.py, Watermark): moved from looks at the job
log's writers and the NOTIFYs of the ones that committed, never past a row a writer still
holds. No server needed: the looks are given as the server would answer them."""

from __future__ import annotations

import random

from listener.admin.feed import Writers
from listener.web.feed import Watermark


def _look(seq: int, *writers: tuple[str, int | None], mark: int = -1) -> Writers:
    return Writers(seq, list(writers), seq > mark)


def test_a_writer_first_seen_holds_the_mark_at_the_look_before() -> None:
    w = Watermark()
    assert w.advance(_look(10)) == 10                      # nobody writing: all final
    assert w.advance(_look(20, ("3/1", 101))) == 10        # 3/1 drew above 10, maybe at 11
    assert w.waiting
    assert w.advance(_look(30, ("3/1", 101), ("4/7", 102))) == 10
    assert w.advance(_look(35, ("4/7", 102))) == 20        # 3/1 ended; 4/7 came after 20
    assert w.advance(_look(35)) == 35 and not w.waiting


def test_a_backend_heard_committing_writes_above_what_it_announced() -> None:
    # the listener's page announced rows up to 25 and its next page is writing: that page
    # cannot hold the announced rows back (it drew after the announcement committed)
    w = Watermark()
    w.advance(_look(10))
    w.hear(101, "25")
    assert w.advance(_look(30, ("3/2", 101))) == 25
    # a writer of another backend, never heard from, still holds its own bound
    assert w.advance(_look(40, ("3/2", 101), ("5/9", 202))) == 25
    w.hear(101, "38")                                       # 3/2 committed up to 38
    assert w.advance(_look(45, ("5/9", 202))) == 30         # 5/9 came after the look at 30
    w.hear(202, "not a number")                             # someone else's payload: ignored
    assert w.advance(_look(45, ("5/9", 202))) == 30


def test_no_look_at_the_writers_when_nothing_was_drawn_past_the_mark() -> None:
    w = Watermark()
    w.advance(_look(10))
    assert w.advance(_look(10, mark=10)) == 10 and not w.waiting
    assert w.advance(_look(15, ("6/1", 7), mark=10)) == 10   # first seen after the skip


def test_the_mark_never_passes_a_row_a_writer_still_holds() -> None:
    """Random writers (each takes the lock, draws values, commits; some announce their
    commit), looked at in between: every value at or below the mark has committed."""
    rng = random.Random(20)
    for _ in range(200):
        w = Watermark()
        seq = 0
        alive: dict[str, tuple[int, list[int]]] = {}      # vxid: (pid, values drawn)
        committed: set[int] = set()
        next_vxid = 0
        for _step in range(60):
            act = rng.random()
            busy = {pid for pid, _ in alive.values()}
            idle = [pid for pid in range(5) if pid not in busy]   # a backend, one at a time
            if act < 0.3 and idle:
                next_vxid += 1
                alive[f"1/{next_vxid}"] = (rng.choice(idle), [])   # took the lock
            elif act < 0.6 and alive:
                vxid = rng.choice(sorted(alive))
                for _ in range(rng.randrange(1, 4)):
                    seq += 1
                    alive[vxid][1].append(seq)
            elif act < 0.8 and alive:
                vxid = rng.choice(sorted(alive))
                pid, values = alive.pop(vxid)
                committed.update(values)
                if values and rng.random() < 0.7:
                    w.hear(pid, str(max(values)))
            else:
                mark = w.advance(Writers(seq, [(v, p) for v, (p, _) in alive.items()]
                                         if seq > w.mark else [], seq > w.mark))
                held = {x for _, values in alive.values() for x in values}
                assert not {x for x in held if x <= mark}, (mark, held)
                assert all(x in committed for x in range(1, mark + 1)
                           if x not in held and x <= seq)
