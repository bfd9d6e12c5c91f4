"""Towns as people write them (issue 17; docs/identity.md, "Places"; core 051): one address
whose town two sources write otherwise is one place, whichever comes first, and two real
towns never become one.

Through trapper.find_or_create_place_deduped against the real PostgreSQL, each case in every
arrival order; each order gets its own house number, so that the orders do not see each
other's places."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests.entities import live_place_keys, places_keyed_before
from tests.helpers import execute, sql, val
from tests.test_place_zip_towns import _two_workers, in_every_order, places_of

MIGRATION = Path(__file__).resolve().parent.parent / "sql" / "core" / "051_town_variants.sql"


def key(url: str, address: str) -> str | None:
    return val(url, "SELECT trapper.address_key($1)", address)  # type: ignore[no-any-return]


# ---- one town, written otherwise: one place ----------------------------------------------

ONE_PLACE = {
    "one word or two (the issue's Bayview)": [
        "{h} Bay View Dr, Bayview, CA 95501", "{h} Bay View Dr, Bay View, CA 95501"],
    "one word or two, no ZIP": ["{h} Oak St, Bayview, CA", "{h} Oak St, Bay View, CA"],
    "Mc joined or apart": ["{h} Central Ave, McKinleyville, CA 95519",
                           "{h} Central Ave, Mc Kinleyville, CA 95519"],
    "an article joined or apart": ["{h} Pescadero Rd, La Honda, CA",
                                   "{h} Pescadero Rd, Lahonda, CA"],
    "Saint": ["{h} Main St, St. Helena, CA", "{h} Main St, Saint Helena, CA",
              "{h} Main St St Helena CA 94574"],
    "Mount": ["{h} Lake St, Mt. Shasta, CA", "{h} Lake St, Mount Shasta, CA",
              "{h} Lake St Mt Shasta CA"],
    "Fort": ["{h} Franklin St, Ft. Bragg, CA", "{h} Franklin St, Fort Bragg, CA"],
    "Point": ["{h} Mesa Rd, Pt. Reyes Station, CA", "{h} Mesa Rd, Point Reyes Station, CA",
              "{h} Mesa Rd Pt Reyes Station CA 94956"],
    "a directional word": ["{h} Emerald Bay Rd, S. Lake Tahoe, CA",
                           "{h} Emerald Bay Rd, So Lake Tahoe, CA",
                           "{h} Emerald Bay Rd, South Lake Tahoe, CA"],
    "another abbreviated word": ["{h} Snyder Ln, Rohnert Pk, CA",
                                 "{h} Snyder Ln, Rohnert Park, CA"],
    "Mountain": ["{h} Castro St, Mtn. View, CA", "{h} Castro St, Mountain View, CA"],
    "Heights": ["{h} Sunrise Blvd, Citrus Hts, CA", "{h} Sunrise Blvd, Citrus Heights, CA"],
    "a hyphen, a full stop, case and spaces": [
        "{h} Elm St, Santa-Rosa, CA", "{h} Elm St, SANTA  ROSA, CA", "{h} Elm St, Santa Rosa. CA",
        "{h} Elm St, santa rosa, ca"],
    "City dropped, with the same ZIP": ["{h} Broadway, Redwood City, CA 94063",
                                        "{h} Broadway, Redwood, CA 94063"],
    "spaced otherwise and a directional one side leaves out": [
        "{h} Bay View Dr N, Bayview, CA", "{h} Bay View Drive, Bay View, CA"],
    "an intersection's town": ["Bay View Dr & {h}th St, Bayview, CA",
                               "Bay View Dr & {h}th St, Bay View, CA"],
}


@pytest.mark.parametrize("forms", ONE_PLACE.values(), ids=ONE_PLACE.keys())
def test_one_town_written_otherwise_is_one_place_in_every_order(core_db_url: str,
                                                               forms: list[str]) -> None:
    for got in in_every_order(core_db_url, forms):
        assert len(set(got)) == 1, got


@pytest.mark.parametrize("first,second", [
    ("10 Bay View Dr, Bayview, CA 95501", "10 Bay View Dr, Bay View, CA 95501"),
    ("10 Broadway, Redwood, CA 94063", "10 Broadway, Redwood City, CA 94063"),
], ids=["spaced otherwise", "City dropped"])
def test_two_workers_making_one_town_at_once_meet(core_db_url: str, first: str,
                                                  second: str) -> None:
    # B decides again under the lock of the house, street and unit and sees A's place
    pa, pb = anyio.run(_two_workers, core_db_url, first, second)
    assert pa == pb


# ---- two towns: two places ---------------------------------------------------------------

APART = {
    "the words in another order": ["{h} Main St, Bay Point, CA", "{h} Main St, Point Bay, CA"],
    "City with no ZIP (Union and Union City, NJ)": ["{h} Main St, Union, NJ",
                                                    "{h} Main St, Union City, NJ"],
    "City with another ZIP": ["{h} Main St, Union, NJ 07083", "{h} Main St, Union City, NJ 07087"],
    "City on one side's ZIP alone": ["{h} Main St, Carson, CA 90745", "{h} Main St, Carson City"],
    "two towns of one ZIP": ["{h} Main St, Cotati, CA 94931", "{h} Main St, Penngrove, CA 94931"],
    "a town's word that is no abbreviation": ["{h} Main St, Port Costa, CA",
                                              "{h} Main St, Point Costa, CA"],
    "a town inside another's name": ["{h} Main St, Bay, CA", "{h} Main St, Bayview, CA"],
}


@pytest.mark.parametrize("forms", APART.values(), ids=APART.keys())
def test_two_towns_stay_two_places_in_every_order(core_db_url: str, forms: list[str]) -> None:
    for got in in_every_order(core_db_url, forms):
        assert len(set(got)) == len(forms), got


def test_other_shapes_keep_their_keys(core_db_url: str) -> None:
    # the keys of towns written out and of Saint, Mount, Fort are what they were
    assert key(core_db_url, "10 Bay View Dr, Bayview, CA 95501") == "10|bay vw dr||bayview"
    assert key(core_db_url, "10 Bay View Dr, Bay View, CA 95501") == "10|bay vw dr||bay view"
    assert key(core_db_url, "1 Main St, Saint Helena") == "1|main st||st helena"
    assert key(core_db_url, "1 Main St, Mill Valley, CA 94941") == "1|main st||mill valley"
    assert key(core_db_url, "1 Main St, Redwood City") == "1|main st||redwood city"
    # the words' standard forms are a town's, not a street's
    assert key(core_db_url, "1 Stony Pt Rd, Pt Arena") == "1|stony pt rd||point arena"
    assert key(core_db_url, "1 Main St N, Lake Tahoe") == "1|main st n||lake tahoe"
    assert key(core_db_url, "RR 2 Box 5, Pt Arena") == "rr 2 box 5|rr 2||point arena"


def test_the_resolver_reads_one_address_in_either_spelling(core_db_url: str) -> None:
    fold = "SELECT trapper.address_key_town_folded(trapper.address_key($1))"
    a = val(core_db_url, fold, "10 Bay View Dr, Bayview, CA 95501")
    assert a == val(core_db_url, fold, "10 Bay View Dr, Bay View, CA")
    assert a != val(core_db_url, fold, "10 Bay View Dr, Bay, CA")
    assert val(core_db_url, fold, "1 Main St, Bay Point") != val(core_db_url, fold,
                                                                 "1 Main St, Point Bay")
    assert val(core_db_url, fold, "4th & Main, Santa Rosa") == "&|4th & main||santarosa"


# ---- the ZIP's towns ---------------------------------------------------------------------

def test_a_zip_written_with_one_town_spaced_two_ways_is_that_towns(core_db_url: str) -> None:
    # 95501 is written with Bay View and with Bayview: one town, not two that share the ZIP
    places_of(core_db_url, ["1 Fir St, Bay View, CA 95501", "2 Fir St, Bayview, CA 95501",
                            "3 Fir St, St. Helena, CA 94574", "4 Fir St, Saint Helena, CA 94574"])
    towns = {(r["zip"], r["town"]) for r in sql(
        core_db_url, "SELECT zip, town FROM trapper.address_zip_towns")}
    assert ("94574", "st helena") in towns and ("94574", "saint helena") not in towns
    # a ZIP-only address meets the town's place written either way, in every order
    for spelled in ("Bayview", "Bay View"):
        for got in in_every_order(core_db_url, ["{h} Oak St near the park Eureka CA 95501",
                                                "{h} Oak St, " + spelled + ", CA"],
                                  start=2000 if spelled == "Bayview" else 3000):
            assert got[0] == got[1], (spelled, got)


# ---- the table ---------------------------------------------------------------------------

def test_a_town_word_added_is_read_at_once(core_db_url: str) -> None:
    assert key(core_db_url, "1 Main St, SF") == "1|main st||sf"
    execute(core_db_url, "INSERT INTO trapper.address_town_words VALUES ('sf', 'san francisco')")
    assert key(core_db_url, "1 Main St, SF") == "1|main st||san francisco"
    got = places_of(core_db_url, ["5 Market St, SF, CA", "5 Market St, San Francisco, CA"])
    assert got[0] == got[1]


# ---- places made before core 051 ---------------------------------------------------------

def test_places_made_before_take_the_towns_words_and_meet(core_db_url: str) -> None:
    old = [("7 Mesa Rd, Pt. Reyes Station, CA", "7|mesa rd||pt reyes station"),
           ("7 Mesa Rd, Point Reyes Station, CA", "7|mesa rd||point reyes station"),
           ("8 Oak St, Bay View, CA", "8|oak st||bay view"),
           ("8 Oak St, Bayview, CA", "8|oak st||bayview"),
           ("9 Oak St, Bay Point, CA", "9|oak st||bay point"),
           ("9 Oak St, Point Bay, CA", "9|oak st||point bay")]
    places_keyed_before(core_db_url, old)
    sql(core_db_url, "INSERT INTO trapper.address_zip_towns VALUES ('94956', 'pt reyes station')")
    execute(core_db_url, MIGRATION.read_text())   # as the upgrade runs it (it runs again safely)
    assert live_place_keys(core_db_url) == {
        "7|mesa rd||point reyes station", "8|oak st||bay view", "9|oak st||bay point",
        "9|oak st||point bay"}
    assert val(core_db_url, "SELECT array_agg(town) FROM trapper.address_zip_towns "
                            "WHERE zip = '94956'") == ["point reyes station"]
