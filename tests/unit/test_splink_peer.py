"""bench/identity.py's Splink peer without Splink: its input rows and the shared scorer.

The peer's clusters are scored by identity.py's own ``pairwise`` (issue 17: the same
pair-counting definition as ours); these tests pin that definition on a hand-made cluster set
and the record preparation the peer feeds Splink. Splink itself is not needed."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def bench_modules():  # type: ignore[no-untyped-def]
    # appended, not first: bench/queue.py would shadow the standard library's queue
    sys.path.append(str(BENCH))
    try:
        yield importlib.import_module("identity"), importlib.import_module("splink_peer")
    finally:
        sys.path[:] = [p for p in sys.path if p != str(BENCH)]


def test_pairwise_scores_peer_clusters_by_pairs(bench_modules) -> None:  # type: ignore[no-untyped-def]
    identity, peer = bench_modules
    truth = {("s", "t", "a"): "p1", ("s", "t", "b"): "p1",
             ("s", "t", "c"): "p2", ("s", "t", "d"): "p2"}
    # a, b and c in one cluster; d left out (a singleton of its own)
    predicted = {("s", "t", "a"): "splink:1", ("s", "t", "b"): "splink:1",
                 ("s", "t", "c"): "splink:1"}
    precision, recall, unmatched = identity.pairwise(truth, predicted)
    assert (precision, recall, unmatched) == (pytest.approx(1 / 3), 0.5, 1)
    assert peer.f1(precision, recall) == pytest.approx(0.4)
    perfect = {k: f"splink:{v}" for k, v in truth.items()}
    assert identity.pairwise(truth, perfect) == (1.0, 1.0, 0)


def test_records_are_the_processors_fields_cleaned(bench_modules) -> None:  # type: ignore[no-untyped-def]
    _, peer = bench_modules
    rows = [
        ("clinichq", "owner_info", "1", {
            "Owner First Name": " Ruth ", "Owner Last Name": "Bryant",
            "Owner Email": "RUTH@Sonic.net", "Owner Phone": "+1 707 230 9245",
            "Owner Cell Phone": "(707) 726-5863",
            "Owner Address": "1663 Fulton Ln., Santa Rosa, CA 95407"}),
        ("clinichq", "owner_info", "1", {"Owner First Name": "a later version"}),
        ("shelterluv", "outcomes", "2", {
            "Outcome To Person Name": "Maria Delgado Ruiz", "Outcome To Person Email": "none",
            "Outcome To Person Street Address 1": "", "Outcome To Person City": "Cotati",
            "Outcome To Person State": "CA", "Outcome To Person Zip": "94931"}),
        ("newsource", "contacts", "3", {
            "First Name": "Ann", "Surname": "Lee", "E-mail": "ann@x.org",
            "Cell": "707.555.0101", "Street": "5 Oak St", "Zip": "95401"}),
    ]
    records, guessed = peer.build_records(rows)
    assert guessed == ["newsource/contacts"]
    assert [r["unique_id"] for r in records] == [0, 1, 2]   # first version of row 1 only
    ruth, maria, ann = records
    assert (ruth["first_name"], ruth["surname"], ruth["email"]) == \
        ("ruth", "bryant", "ruth@sonic.net")
    assert ruth["phones"] == ["7072309245", "7077265863"]
    assert (ruth["street"], ruth["zip"]) == ("1663 fulton ln", "95407")
    # split at the first space, as the processor does; "none" is no email; no street
    assert (maria["first_name"], maria["surname"]) == ("maria", "delgado ruiz")
    assert (maria["email"], maria["street"], maria["zip"]) == (None, None, "94931")
    assert (ann["first_name"], ann["surname"], ann["email"], ann["phones"], ann["street"],
            ann["zip"]) == ("ann", "lee", "ann@x.org", ["7075550101"], "5 oak st", "95401")
