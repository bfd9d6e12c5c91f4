"""A worker's records per transaction (listener/queue/worker.py, next_record_budget): sized to
the transaction target at the pace of the last transaction, between the floor and the cap."""

from __future__ import annotations

from listener.queue.worker import MIN_RECORD_BUDGET, next_record_budget


def test_slow_records_make_shorter_transactions_quick_ones_keep_the_cap() -> None:
    # 100 person records took 50 ms: 25 ms is 50 of them
    assert next_record_budget(100, 100, 0.025, 100, 0.050) == 50
    # 100 cat records took 15 ms: more would fit, the cap holds
    assert next_record_budget(100, 100, 0.025, 100, 0.015) == 100
    # the pace of the transaction just worked, not of the first
    assert next_record_budget(50, 100, 0.025, 50, 0.010) == 100


def test_never_below_the_floor_nor_above_a_smaller_cap() -> None:
    assert next_record_budget(100, 100, 0.025, 100, 5.0) == MIN_RECORD_BUDGET
    assert next_record_budget(5, 5, 0.025, 5, 5.0) == 5


def test_no_target_is_the_cap_and_nothing_worked_keeps_the_last() -> None:
    assert next_record_budget(37, 100, 0.0, 100, 0.5) == 100
    assert next_record_budget(37, 100, 0.025, 0, 0.004) == 37
