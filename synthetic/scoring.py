"""How a load's clusters are scored against a ground truth: pairwise precision and recall.

One definition for every measure of identity: the atlas world's bench (bench/identity.py,
and the Splink peer it scores the same way) and the held-out set (tests/heldout.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping
from typing import TypeVar

Key = TypeVar("Key", bound=Hashable)


def pairs(n: int) -> int:
    """How many unordered pairs ``n`` rows make."""
    return n * (n - 1) // 2


def pairwise(truth: Mapping[Key, str],
             predicted: Mapping[Key, str]) -> tuple[float, float, int]:
    """Pairwise precision and recall over the rows of the truth, and how many of its rows
    have no predicted entity (each such row is a singleton of its own)."""
    cells: Counter[tuple[str, str]] = Counter()
    pred_sizes: Counter[str] = Counter()
    true_sizes: Counter[str] = Counter()
    for key, true_id in truth.items():
        pred = predicted.get(key) or f"none:{key}"
        cells[(pred, true_id)] += 1
        pred_sizes[pred] += 1
        true_sizes[true_id] += 1
    tp = sum(pairs(n) for n in cells.values())
    pp = sum(pairs(n) for n in pred_sizes.values())
    tpairs = sum(pairs(n) for n in true_sizes.values())
    unmatched = sum(1 for k in truth if k not in predicted)
    return (tp / pp if pp else 1.0), (tp / tpairs if tpairs else 1.0), unmatched
