"""ZIP codes a spreadsheet or an export damaged (issue 17, "Real-world shapes"; docs/identity.md,
"Places", "ZIPs a spreadsheet damaged"): a ZIP column saved as a number loses its leading zeros
(02134 as 2134, 00501 as 501), a float gains ".0", a ZIP+4 loses its hyphen or its zero, a text
column keeps the marks that kept it text. Each damaged form keys like the clean address, by
the processors' split columns (trapper.join_address), by a one-line address, and by an
orchestrator composite rule; a short number anywhere but the ZIP's place keeps its key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.entities import process, rekey_places_keyed_before, stage
from tests.helpers import execute, sql, val

CLEAN = "1 Main St, Boston, MA 02134"
CLEAN_KEY = "1|main st||boston"

# the ZIP column's value as the damage leaves it -> the ZIP as trapper.zip_slot gives it back
SLOT = {
    "02134": "02134",
    "2134": "02134",                # a number: the leading zero lost
    " 2134 ": "02134",
    "2134.0": "02134",              # a float
    "2134.": "02134",
    "02134.0": "02134",
    "'02134": "02134",              # the apostrophe that kept it text
    '="02134"': "02134",            # Excel's text formula, as a CSV export writes it
    "02134-": "02134",              # a ZIP+4 whose +4 was empty
    "2134-": "02134",
    "021341234": "02134-1234",      # a ZIP+4 without its hyphen
    "21341234": "02134-1234",       # ... and its zero lost
    "2134-1234": "02134-1234",
    "2134 1234": "02134-1234",
    "02134-1234": "02134-1234",
    "501": "00501",                 # two zeros lost (Holtsville NY; Puerto Rico 006-009)
    "5011234": "00501-1234",
    "95404": "95404",
    "95404.0": "95404",
    "954041234": "95404-1234",
    "954041234.0": "95404-1234",
    "95404-": "95404",
    " 95404 ": "95404",
    "\u00a095404\t": "95404",
    # not a ZIP: as it was, trimmed
    "abc": "abc",
    " 12 ": "12",
    "123456": "123456",
    "9540412345": "9540412345",
    "CA 95404": "CA 95404",
    "": None,
    "  ": None,
}

# a ZIP column's damaged forms (the ZIP slot of split columns, and the rule's last part)
DAMAGED = ["2134", " 2134 ", "2134.0", "'02134", '="02134"', "2134-", "02134-", "021341234",
           "21341234", "2134-1234", "02134.0"]

# one-line addresses with a damaged ZIP in the ZIP's place (after a state)
ONE_LINE = [
    "1 Main St, Boston, MA 2134",
    "1 Main St, Boston, MA, 2134",
    "1 Main St Boston MA 2134",
    "1 Main St, Boston MA 2134",
    "1 Main St, Boston, MA 2134.0",
    "1 Main St, Boston, MA 21341234",
    "1 Main St, Boston, MA 2134-1234",
    "1 Main St, Boston, MA 2134 1234",
    "1 Main St, Boston, MA 02134-",
    '1 Main St, Boston, MA ="02134"',
    "1 Main St, Boston, Massachusetts 2134",
    "1 Main St\nBoston, MA 2134",
]

# what is no ZIP keeps its key: a house number, a unit, a number after a street's or a unit's
# word that is also a state's code, a short number where no state is before it
KEPT = {
    "12 Oak Ct 101": "12|oak ct|101|",
    "12 Oak Ct, 101": "12|oak ct||101",
    "5 Main St Apt 1234": "5|main st|1234|",
    "5 Main St, Apt 1234": "5|main st|1234|",
    "100 Main St NE 2134": "100|main st ne|2134|",
    "Boston, 12 Oak Ct 101": "12|oak ct|101|",
    "1 Main St, 2134": "1|main st||2134",
    "2134 Main St, Boston, MA 02134": "2134|main st||boston",
    "1 Main St Fl 201": "1|main st|201|",
    "1 Main St, Santa Rosa, CA 95404": "1|main st||santa rosa",
    "1 Main St, Santa Rosa, CA 95404-1234": "1|main st||santa rosa",
    "1 Main St, Santa Rosa, CA 954041234": "1|main st||santa rosa",
    "1 Main St, San Juan, PR 00901": "1|main st||san juan pr",
}


def _key(url: str, address: str) -> Any:
    return val(url, "SELECT trapper.address_key($1)", address)


def test_zip_slot_repairs_the_zip_column(core_db_url: str) -> None:
    got = {r["x"]: r["z"] for r in sql(core_db_url, "SELECT x, trapper.zip_slot(x) AS z "
                                                    "FROM unnest($1::text[]) x", list(SLOT))}
    assert got == SLOT
    assert val(core_db_url, "SELECT trapper.zip_slot(NULL)") is None


@pytest.mark.parametrize("zip_", DAMAGED)
def test_split_columns_key_like_the_clean_address(core_db_url: str, zip_: str) -> None:
    # street, town, state, ZIP (shelterluv, petlink, volunteerhub) and street, town, ZIP
    # (airtable, web_intake): the ZIP is the last part
    four = val(core_db_url, "SELECT trapper.join_address('1 Main St', 'Boston', 'MA', $1)", zip_)
    assert _key(core_db_url, four) == _key(core_db_url, CLEAN) == CLEAN_KEY
    three = val(core_db_url, "SELECT trapper.join_address('1 Main St', 'Boston', $1)", zip_)
    assert _key(core_db_url, three) == CLEAN_KEY
    # no town: the ZIP stands in, and it is the ZIP the clean column gives
    no_town = val(core_db_url, "SELECT trapper.join_address('1 Main St', NULL, $1)", zip_)
    assert no_town.startswith("1 Main St, 02134")
    assert _key(core_db_url, no_town) == _key(core_db_url, "1 Main St, 02134") == "1|main st||02134"
    no_state_town = val(core_db_url,
                        "SELECT trapper.join_address('1 Main St', NULL, NULL, $1)", zip_)
    assert _key(core_db_url, no_state_town) == "1|main st||02134"


def test_split_columns_store_the_repaired_zip(core_db_url: str) -> None:
    assert val(core_db_url, "SELECT trapper.join_address('1 Main St', 'Boston', 'MA', '2134')") \
        == "1 Main St, Boston, MA, 02134"
    assert val(core_db_url, "SELECT trapper.join_address('9 Elm St', 'Santa Rosa', 'CA', "
                            "'954041234')") == "9 Elm St, Santa Rosa, CA, 95404-1234"
    # two parts are a street and a town: no ZIP's slot, a number there stays as written
    assert val(core_db_url, "SELECT trapper.join_address('1 Main St', '2134')") \
        == "1 Main St, 2134"
    assert val(core_db_url, "SELECT trapper.join_address('1 Main St', 'Boston', 'MA', NULL)") \
        == "1 Main St, Boston, MA"


@pytest.mark.parametrize("address", ONE_LINE)
def test_one_line_addresses_key_like_the_clean_one(core_db_url: str, address: str) -> None:
    assert _key(core_db_url, address) == CLEAN_KEY
    assert val(core_db_url, "SELECT trapper.address_parts($1) ->> 'zip'", address) == "02134"


@pytest.mark.parametrize(("address", "clean"), [
    ("1 Main St, Trenton, NJ 8608", "1 Main St, Trenton, NJ 08608"),
    ("1 Main St, Trenton, New Jersey 8608", "1 Main St, Trenton, NJ 08608"),
    ("1 Main St, Hartford, CT 6103", "1 Main St, Hartford, CT 06103"),
    ("1 Main St, Holtsville, NY 501", "1 Main St, Holtsville, NY 00501"),
    ("1 Main St, San Juan, PR 901", "1 Main St, San Juan, PR 00901"),
    ("1 Main St, Santa Rosa, CA 95404.0", "1 Main St, Santa Rosa, CA 95404"),
    ("1 Main St, Santa Rosa, CA 95404-", "1 Main St, Santa Rosa, CA 95404"),
    ("1 Main St, MA 2134", "1 Main St, MA 02134"),          # no town: the ZIP is the key's
])
def test_other_states_and_forms(core_db_url: str, address: str, clean: str) -> None:
    assert _key(core_db_url, address) == _key(core_db_url, clean)
    assert val(core_db_url, "SELECT trapper.address_parts($1) ->> 'zip'", address) \
        == val(core_db_url, "SELECT trapper.address_parts($1) ->> 'zip'", clean)


@pytest.mark.parametrize(("address", "key"), list(KEPT.items()))
def test_a_number_elsewhere_keeps_its_key(core_db_url: str, address: str, key: str) -> None:
    assert _key(core_db_url, address) == key


def test_a_processor_makes_one_place_of_the_damaged_and_the_clean_zip(core_db_url: str) -> None:
    places = []
    for i, zip_ in enumerate(["02134", 2134, 2134.0, "21341234"]):
        # (a JSON export writes the ZIP as a number, or as a float)
        process(core_db_url, "shelterluv", "people", {
            "Internal-ID": f"z{i}", "Firstname": f"Ann{i}", "Lastname": "Zip",
            "Email": f"ann{i}@zip.org", "Phone": "", "Street": "1 Main St", "City": "Boston",
            "State": "MA", "Zip": zip_})
        places.append(val(core_db_url, """
            SELECT pl.place_id FROM trapper.sot_people p
            JOIN trapper.person_place pp USING (person_id)
            JOIN trapper.places pl USING (place_id)
            WHERE p.last_name = 'Zip' AND p.first_name = $1""", f"Ann{i}"))
    assert None not in places and len(set(places)) == 1
    one_line = val(core_db_url, "SELECT trapper.find_or_create_place_deduped($1)",
                   "1 Main St, Boston, MA 2134")
    assert val(core_db_url, "SELECT trapper.get_canonical_place_id($1)", one_line) == places[0]
    assert val(core_db_url, "SELECT formatted_address FROM trapper.places WHERE place_id = $1",
               places[0]) == "1 Main St, Boston, MA, 02134"


# -- the orchestrator's composite rules (db_url: everything installed) ---------------------

_DOC = (Path(__file__).resolve().parents[1] / "docs" / "orchestrator.md").read_text()
ONBOARD = _DOC.split("### A source whose address comes in columns", 1)[1] \
    .split("```sql\n", 1)[1].split("```", 1)[0]

# a source whose address has no state column: street, town, ZIP
NO_STATE = """
INSERT INTO trapper.orchestrator_sources
    (source_system, source_table, display_name, entity_types_produced, processor_name,
     ingest_method, ingest_frequency, expected_fields, id_field_candidates)
VALUES ('zip_farm', 'sites', 'Zip Farm', '{place}', 'orchestrator_router', 'file_upload',
        'on_demand', trapper.orchestrator_fields(ARRAY['Site', 'Street', 'Town', 'Zip'],
                                                 ARRAY['Site']),
        ARRAY['Site']);
INSERT INTO trapper.orchestrator_routing_rules
    (source_system, source_table, source_fields, field_separator, target_surface,
     target_field, routing_type, target_function, transform_expression, is_required)
VALUES ('zip_farm', 'sites', ARRAY['Street', 'Town', 'Zip'], ', ', 'places',
        'formatted_address', 'function_call', 'find_or_create_place_deduped', NULL, true);
"""


def test_the_orchestrator_copy_is_the_cores(db_url: str) -> None:
    got = sql(db_url, "SELECT x FROM unnest($1::text[]) x "
                      "WHERE trapper.zip_slot(x) IS DISTINCT FROM trapper.orchestrator_zip_slot(x)",
              list(SLOT))
    assert [r["x"] for r in got] == []


def _route(url: str, system: str, table: str, payload: dict[str, Any]) -> tuple[Any, Any]:
    """Route one staged record; its place and the place decision's details."""
    sid = stage(url, system, table, payload)
    val(url, "SELECT trapper.route_staged_record($1)", sid)
    rows = sql(url, "SELECT target_entity_id, decision_details FROM trapper.orchestrator_job_log "
                    "WHERE staged_record_id = $1 AND target_surface = 'places' "
                    "AND action IN ('routed', 'merged')", sid)
    assert len(rows) == 1, (payload, rows)
    return rows[0]["target_entity_id"], rows[0]["decision_details"]


def test_composite_rules_key_the_damaged_zip_like_the_clean_one(db_url: str) -> None:
    execute(db_url, ONBOARD + NO_STATE)
    person = {"First Name": "Zed", "Middle Name": "", "Last Name": "Zip", "Email": ""}

    def visit(i: int, zip_: Any, town: str = "Boston", state: str = "MA") -> tuple[Any, Any]:
        return _route(db_url, "barn_cats", "visits", {
            "Visit": f"z{i}", **person, "Street": "1 Main St", "City": town, "State": state,
            "Zip": zip_})

    # the processors' place, from split columns with a clean ZIP
    clean = process(db_url, "shelterluv", "people", {
        "Internal-ID": "c1", "Firstname": "Cy", "Lastname": "Clean", "Email": "cy@clean.org",
        "Phone": "", "Street": "1 Main St", "City": "Boston", "State": "MA", "Zip": "02134"})
    assert clean["entity_type"] == "person"
    place = val(db_url, "SELECT place_id FROM trapper.places WHERE address_key = $1", CLEAN_KEY)
    assert place is not None
    for i, zip_ in enumerate([*DAMAGED, 2134, 2134.0, 21341234]):
        assert visit(i, zip_)[0] == place, zip_
    # the ZIP is stored repaired, and the rule's parts keep what the record said
    _, details = visit(80, "2134")
    composed = json.loads(details)["composed"][0]
    assert composed["value"] == "1 Main St, Boston, MA, 02134"
    assert composed["parts"][-1] == {"field": "Zip", "value": "2134"}
    # no town and no state: the ZIP stands in, the ZIP the processors give
    assert visit(90, "2134", town="", state="")[0] == val(
        db_url, "SELECT trapper.find_or_create_place_deduped("
                "trapper.join_address('1 Main St', NULL, NULL, '2134'))")

    # no state column: the last part is the ZIP all the same
    for i, zip_ in enumerate(["2134", "2134.0", "21341234", 2134]):
        assert _route(db_url, "zip_farm", "sites", {
            "Site": f"s{i}", "Street": "1 Main St", "Town": "Boston", "Zip": zip_})[0] == place
    site, _ = _route(db_url, "zip_farm", "sites", {"Site": "s9", "Street": "7 Elm St",
                                                   "Town": "", "Zip": 2134})
    assert site == val(db_url, "SELECT trapper.find_or_create_place_deduped("
                               "trapper.join_address('7 Elm St', NULL, '2134'))")
    assert val(db_url, "SELECT address_key FROM trapper.places WHERE place_id = $1", site) \
        == "7|elm st||02134"


def test_places_made_before_are_rekeyed(core_db_url: str) -> None:
    # (the keys the parser gave before; 050_zip_damage.sql runs rekey_places)
    old = [("1 Main St, Boston, MA 02134", "1|main st||boston"),
           ("1 Main St, Boston, MA, 2134", "1|main st||boston ma 2134"),
           ("1 Main St, Santa Rosa, CA, 95404.0", "1|main st||santa rosa ca 954040"),
           ("12 Oak Ct 101", "12|oak ct|101|")]
    out, live = rekey_places_keyed_before(core_db_url, old)
    assert (out["rekeyed"], out["merged"]) == (1, 1)   # santa rosa re-keyed, boston merged
    assert live == {"1|main st||boston", "1|main st||santa rosa", "12|oak ct|101|"}
