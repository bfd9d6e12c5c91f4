"""Field values as people type them (docs/processing.md, "Values as people type them"): a
cat's sex and altered status, Ownership, dates, booleans, chips and numbers each read into a
small known value space; a value read as nothing is counted, never taken as a guess."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, run_cli
from tests.entities import owner, process, stage
from tests.helpers import execute, sql, val

# (sex as typed, altered as typed) -> (sex, altered) stored
SEX_ALTERED: list[tuple[str | None, str | None, str | None, str | None]] = [
    ("M", None, "Male", None), ("Male", None, "Male", None), ("m", None, "Male", None),
    ("MALE", "", "Male", None), (" male ", None, "Male", None),
    ("MALE (neutered)", None, "Male", "Yes"), ("Neutered Male", None, "Male", "Yes"),
    ("NM", None, "Male", "Yes"), ("M/N", None, "Male", "Yes"), ("MN", None, "Male", "Yes"),
    ("FS", None, "Female", "Yes"), ("F/S", None, "Female", "Yes"),
    ("Spayed Female", None, "Female", "Yes"), ("Female, spayed", None, "Female", "Yes"),
    ("Intact Female", None, "Female", "No"), ("MI", None, "Male", "No"),
    ("Female", "No", "Female", "No"), ("F", None, "Female", None),
    ("unknown", None, None, None), ("?", None, None, None), ("", None, None, None),
    (None, None, None, None), ("Unknown", "Unknown", None, None),
    (None, "Yes", None, "Yes"), (None, "Y", None, "Yes"), (None, "TRUE", None, "Yes"),
    (None, "1", None, "Yes"), (None, "spayed", None, "Yes"), (None, "neutered", None, "Yes"),
    (None, "already fixed", None, "Yes"), (None, "eartipped", None, "Yes"),
    (None, "Ear Tipped", None, "Yes"), (None, "x", None, "Yes"),
    (None, "No", None, "No"), (None, "N", None, "No"), (None, "false", None, "No"),
    (None, "0", None, "No"), (None, "intact", None, "No"), (None, "not fixed", None, "No"),
    (None, "DidNotAsk", None, None), (None, "did not ask", None, None),
    # the altered field's own word wins over the sex field's
    ("Neutered Male", "No", "Male", "No"),
    # only a female is spayed; a question mark is a value nobody knew
    ("Spayed", None, "Female", "Yes"), ("Female?", "Yes?", None, None),
]

# values read as nothing: stored empty and named as unrecognised
UNREAD: list[tuple[str | None, str | None, list[str]]] = [
    ("Calico", None, ["sex"]), ("MF", None, ["sex"]), ("Male Female", None, ["sex"]),
    ("neutered intact", None, ["sex"]), ("Spayed Male", None, ["sex"]),
    (None, "maybe", ["altered_status"]),
    (None, "Yes No", ["altered_status"]), ("Mle", "Yse", ["sex", "altered_status"]),
]


def test_cat_sex_and_altered_read_into_a_small_value_space(db_url: str) -> None:
    rows = sql(db_url, "SELECT s, a, (trapper.cat_sex_altered(s, a)).* FROM "
                       "unnest($1::text[], $2::text[]) AS t(s, a)",
               [r[0] for r in SEX_ALTERED], [r[1] for r in SEX_ALTERED])
    got = [(r["s"], r["a"], r["sex"], r["altered"]) for r in rows]
    assert got == SEX_ALTERED
    assert all(r["unrecognised"] == [] for r in rows)


def test_cat_sex_and_altered_unread_values_are_named_not_guessed(db_url: str) -> None:
    rows = sql(db_url, "SELECT s, a, (trapper.cat_sex_altered(s, a)).* FROM "
                       "unnest($1::text[], $2::text[]) AS t(s, a)",
               [r[0] for r in UNREAD], [r[1] for r in UNREAD])
    for row, (_, _, fields) in zip(rows, UNREAD, strict=True):
        assert row["unrecognised"] == fields, row
        if "sex" in fields:
            assert row["sex"] is None, row
        if "altered_status" in fields:
            assert row["altered"] is None or "sex" not in fields, row


def _cat(number: str, chip: str, sex: str, altered: str) -> dict[str, Any]:
    return {"Number": number, "Date": "03/14/2025", "Animal Name": "Tux",
            "Microchip Number": chip, "Sex": sex, "Breed": "DSH", "Primary Color": "Black",
            "Secondary Color": "", "Spay Neuter Status": altered}


def test_cat_processor_stores_read_values_and_counts_the_rest(db_url: str) -> None:
    process(db_url, "clinichq", "cat_info", _cat("25-1", "985112000000101", "NM", "Unknown"))
    process(db_url, "clinichq", "cat_info", _cat("25-2", "985112000000102", "Calico", "maybe"))
    # a later record fills what the first left empty ("Unknown" is not a value), the
    # stored value is never overwritten
    process(db_url, "clinichq", "cat_info", _cat("25-2", "985112000000102", "f/s", "YES"))
    process(db_url, "clinichq", "cat_info", _cat("25-2", "985112000000102", "M", "No"))
    cats = {r["clinichq_animal_id"]: (r["sex"], r["altered_status"]) for r in sql(
        db_url, "SELECT clinichq_animal_id, sex, altered_status FROM trapper.sot_cats")}
    assert cats == {"25-1": ("Male", "Yes"), "25-2": ("Female", "Yes")}
    seen = {(r["source_table"], r["field"], r["value"], r["records"]) for r in sql(
        db_url, "SELECT * FROM trapper.v_unrecognised_values")}
    assert seen == {("cat_info", "sex", "Calico", 1), ("cat_info", "altered_status", "maybe", 1)}


def test_a_cat_fixed_later_is_altered_whatever_order_its_records_come_in(db_url: str) -> None:
    """An intact cat trapped and then spayed: the clinic's later Yes turns the stored No into
    Yes (it was kept as No for good); a No processed after a Yes (an older record, a replay)
    leaves Yes. Sex, filled once, is still never overwritten."""
    process(db_url, "clinichq", "cat_info", _cat("26-1", "985112000000301", "F", "No"))
    process(db_url, "clinichq", "cat_info", _cat("26-1", "985112000000301", "M", "Yes"))
    process(db_url, "clinichq", "cat_info", _cat("26-2", "985112000000302", "Intact Male", ""))
    process(db_url, "clinichq", "cat_info", _cat("26-2", "985112000000302", "", "neutered"))
    process(db_url, "clinichq", "cat_info", _cat("26-2", "985112000000302", "", "intact"))
    cats = {r["clinichq_animal_id"]: (r["sex"], r["altered_status"]) for r in sql(
        db_url, "SELECT clinichq_animal_id, sex, altered_status FROM trapper.sot_cats")}
    assert cats == {"26-1": ("Female", "Yes"), "26-2": ("Male", "Yes")}


def test_a_visit_s_weight_and_age_are_kept(db_url: str) -> None:
    """ClinicHQ's cat_info gives Weight, Age Years and Age Months on each visit: each visit
    is one observation (a kitten grows), read into pounds and months, with the birth date
    the age gives; what reads as nothing is kept as typed and counted."""
    def visit(number: str, date: str, weight: str, years: str, months: str) -> dict[str, Any]:
        return {**_cat("27-1", "985112000000401", "F", "Yes"), "Number": number,
                "Date": date, "Weight": weight, "Age Years": years, "Age Months": months}

    process(db_url, "clinichq", "cat_info", visit("27-1", "03/14/2025", "2.5 lbs", "0", "3"))
    process(db_url, "clinichq", "cat_info", visit("27-1", "09/14/2025", "3.4 kg", "0", "9"))
    process(db_url, "clinichq", "cat_info", visit("27-1", "10/01/2025", "heavy", "a few", ""))
    process(db_url, "clinichq", "cat_info", visit("27-1", "11/01/2025", "", "", ""))
    rows = [tuple(r) for r in sql(db_url, """
        SELECT observed_on::text, weight_lbs::text, age_months, birth_date_estimate::text,
               as_typed ->> 'weight'
        FROM trapper.cat_observations ORDER BY observed_on""")]
    assert rows == [("2025-03-14", "2.50", 3, "2024-12-14", "2.5 lbs"),
                    ("2025-09-14", "7.50", 9, "2024-12-14", "3.4 kg"),
                    ("2025-10-01", None, None, None, "heavy")]   # a blank visit adds none
    assert val(db_url, "SELECT count(DISTINCT cat_id) FROM trapper.cat_observations") == 1
    seen = {(r["field"], r["value"]) for r in sql(
        db_url, "SELECT field, value FROM trapper.v_unrecognised_values")}
    assert seen == {("weight", "heavy"), ("age", "a few")}


def test_colours_are_kept_as_typed_and_read_into_a_small_space(db_url: str) -> None:
    same = [["Brown Tabby", "tabby - brown", "BRN TAB", "brown tabby cat"],
            ["Black/White", "Tuxedo", "white & black", "Blk/Wht"],
            ["Tortie", "Tortoiseshell", "TORT"], ["Gray", "Grey", "Blue"],
            ["Orange Tabby", "ginger tabby", "Red Tabby"]]
    rows = {r["v"]: r["c"] for r in sql(
        db_url, "SELECT v, trapper.cat_color(v) AS c FROM unnest($1::text[]) v",
        [v for group in same for v in group] + ["Unknown", "?", "", "pretty"])}
    keys = [{rows[v] for v in group} for group in same]
    assert all(len(k) == 1 for k in keys) and len({next(iter(k)) for k in keys}) == len(same)
    assert keys[0] == {"brown tabby"} and keys[1] == {"black white"}
    assert rows["Unknown"] is rows["?"] is rows[""] is rows["pretty"] is None
    # stored as typed, with the value read beside it, for every writer
    process(db_url, "clinichq", "cat_info",
            {**_cat("27-2", "985112000000402", "M", "No"), "Primary Color": "BRN TAB",
             "Secondary Color": "Wht"})
    assert tuple(sql(db_url, "SELECT primary_color, primary_color_std, secondary_color, "
                             "secondary_color_std FROM trapper.sot_cats")[0]) \
        == ("BRN TAB", "brown tabby", "Wht", "white")


def test_shelterluv_and_router_cats_take_the_same_values(db_url: str) -> None:
    process(db_url, "shelterluv", "animals", {
        "ID": "SL-9", "Internal-ID": "9", "Name": "Mia", "Sex": "Female (Spayed)",
        "Altered": "", "Breed": "DSH", "Color": "Tabby",
        "Microchips": [{"Id": "985112000000201"}], "AssociatedPerson": {}})
    assert [tuple(r) for r in sql(db_url, "SELECT sex, altered_status FROM trapper.sot_cats")
            ] == [("Female", "Yes")]


@pytest.mark.parametrize(("ownership", "relationship", "counted"), [
    ("Owned", "owner", False), ("", "owner", False), ("Shelter", "owner", False),
    ("COMMUNITY CAT (FERAL)", "caretaker", False), ("Feral", "caretaker", False),
    ("stray", "caretaker", False), ("Foster", "foster", False),
    ("Fostered", "foster", False), ("Barn cat?", "owner", True), ("Ownd", "owner", True),
])
def test_ownership_values_make_their_link_and_unknown_ones_are_counted(
    db_url: str, ownership: str, relationship: str, counted: bool
) -> None:
    process(db_url, "clinichq", "cat_info", _cat("25-7", "985112000000301", "F", "Yes"))
    row = owner("25-7", "Ann", "Lee", email="ann@example.org",
                address="12 Oak St, Santa Rosa, CA 95404")
    row["Ownership"] = ownership
    process(db_url, "clinichq", "owner_info", row)
    assert val(db_url, "SELECT relationship FROM trapper.person_cat") == relationship
    seen = [tuple(r) for r in sql(db_url, "SELECT field, value, stored, records "
                                          "FROM trapper.v_unrecognised_values")]
    assert seen == ([("Ownership", ownership, "owner", 1)] if counted else [])


DATES: dict[str, str | None] = {
    "2025-03-14": "2025-03-14", "2025-3-4": "2025-03-04", "2025-03-14T10:00:00Z": "2025-03-14",
    "2025-03-14 10:00:00.123+00": "2025-03-14", "2025-03-14T10:00:00-07:00": "2025-03-14",
    "3/14/2025": "2025-03-14", " 03/14/2025 10:22 ": "2025-03-14", "3/14/25": "2025-03-14",
    "03/14/2025 2:30 PM": "2025-03-14", "3/14/2025 10:00:00 AM": "2025-03-14",
    "12/31/69": "2069-12-31", "1/1/70": "1970-01-01",
    "March 3, 2025": "2025-03-03", "Mar 3 2025": "2025-03-03", "mar. 3, 2025": "2025-03-03",
    "3 March 2025": "2025-03-03", "3 Mar 2025": "2025-03-03", "14-Mar-2025": "2025-03-14",
    "14-Mar-25": "2025-03-14", "Sept 3, 2025": "2025-09-03", "September 3rd, 2025": "2025-09-03",
    "Friday, March 14, 2025": "2025-03-14", "Mar 14, 2025 10:00 AM": "2025-03-14",
    "2025/03/14 9:02:11 AM GMT-7": "2025-03-14", "3/14/2025 9:02:11 PM PDT": "2025-03-14",
    "3-14-2025": "2025-03-14", "2025.03.14": "2025-03-14",
    "Mar 14, 2025, 9:02:11 AM": "2025-03-14", "3/14/2025, 10:00 a.m.": "2025-03-14",
    "friday march 14 2025": "2025-03-14", "14-03-2025": None, "2025/3-14": None,
    "3/14-2025": None,
    "45730": "2025-03-14", "45730.0": "2025-03-14", "45730.5": "2025-03-14",
    "45000": "2023-03-15", "\t3/14/2025\r\n": "2025-03-14", "\u00a03/14/2025": "2025-03-14",
    # no date: words PostgreSQL's input takes, impossible days, other numbers, half dates
    "yesterday": None, "today": None, "now": None, "epoch": None, "infinity": None,
    "J2451187": None, "2/30/2025": None, "13/1/2025": None, "3/14/2025x": None,
    "3/14/2025 lunch": None, "Marc 3, 2025": None, "Ma 3, 2025": None, "Feb 30, 2025": None,
    "20250314": None, "12345": None, "99999": None, "45730.5.1": None, "March 2025": None,
    "14.03.2025": None, "2025-03": None, "": None, "   ": None,
}


def test_the_three_date_readers_read_the_same_dates(db_url: str) -> None:
    """The processors' parse_us_date, the rules' to_date transform and the ingest's record
    id read one class of dates; a form one of them learns the others learn too."""
    from listener.ingest.source_profiles import parse_date

    rows = sql(db_url, "SELECT raw, trapper.parse_us_date(raw)::text AS core, "
                       "trapper.orchestrator_to_date(raw)::text AS orch, "
                       "trapper.orchestrator_typed_value(raw, 'date') AS typed "
                       "FROM unnest($1::text[]) raw", list(DATES))
    for r in rows:
        py = parse_date(r["raw"])
        assert (r["core"], r["orch"], r["typed"], py and py.isoformat()) == (
            DATES[r["raw"]],) * 4, r["raw"]


def test_a_whole_number_id_is_one_record_id_however_written(
    db_url: str, tmp_path: Path
) -> None:
    from listener.ingest.source_profiles import id_text

    assert [id_text(v) for v in (2, 2.0, "2.0", " 2 ", "2.00", "+2", 985112000000101.0)] == [
        "2", "2", "2", "2", "2", "2", "985112000000101"]
    # the source's own text stays: leading zeros, letters, a real fraction
    assert [id_text(v) for v in ("002", "A-2.0", "2.5", "rec2", " x ")] == [
        "002", "A-2.0", "2.5", "rec2", "x"]
    for n, value in enumerate((2.0, "2.0", " 2 ", 2)):
        f = tmp_path / f"animals{n}.json"
        f.write_text(json.dumps([{"Internal-ID": value, "Name": "Tux"}]))
        result = run_cli("ingest", "shelterluv/animals", str(f), env={"DATABASE_URL": db_url})
        assert result.returncode == 0, result.stderr
    assert {r["source_row_id"] for r in sql(
        db_url, "SELECT source_row_id FROM trapper.staged_records")} == {"2"}


def test_a_whole_number_id_in_a_payload_is_one_identifier(db_url: str) -> None:
    assert [r[0] for r in sql(db_url, "SELECT trapper.source_id(x) FROM unnest($1::text[]) x",
                              ["2", "2.0", " 2 ", "+2.00", "002", "A-2.0", "2.5", "", None])
            ] == ["2", "2", "2", "2", "002", "A-2.0", "2.5", None, None]
    for animal_id in (2.0, "2", " 2 "):
        process(db_url, "shelterluv", "animals", {
            "ID": animal_id, "Internal-ID": animal_id, "Name": "Mia", "Sex": "F",
            "Microchips": [], "AssociatedPerson": {"Internal-ID": 7.0}})
    assert val(db_url, "SELECT count(*) FROM trapper.sot_cats") == 1
    assert val(db_url, "SELECT id_value FROM trapper.cat_identifiers") == "2"


CHIPS: dict[str, str | None] = {
    "Chip: 985 112 000 000 101": "985112000000101", "Microchip #985112000000101": "985112000000101",
    "985112000000101 (HomeAgain)": "985112000000101", "MC-985-112-000-000-101": "985112000000101",
    "AVID*064*532*870": "064532870", "985112000000101.0": "985112000000101",
    "064532870": "064532870", "0A1B2C3D4E": "0A1B2C3D4E", "1A2B3C4D5E": "1A2B3C4D5E",
    "985 112 000 000 101": "985112000000101", "985112000000101": "985112000000101",
    # no chip: too short, Excel's rounded float, a phone and an extension, junk
    "Chip: 12345": None, "9.85112E+14": None, "707-523-1234 x12345": None, "none": None,
    "AAAAAAAAAA": None, "000000000000000": None, "A123456": None,
}


def test_microchips_with_words_and_separators_are_their_digits(db_url: str) -> None:
    rows = sql(db_url, "SELECT raw, trapper.validate_microchip(raw) AS chip "
                       "FROM unnest($1::text[]) raw", list(CHIPS))
    assert {r["raw"]: r["chip"] for r in rows} == CHIPS


def test_a_chip_that_reads_as_none_is_counted(db_url: str) -> None:
    process(db_url, "clinichq", "cat_info", _cat("25-3", "9.85112E+14", "M", "Y"))
    process(db_url, "clinichq", "cat_info", _cat("25-4", "", "M", "Y"))
    process(db_url, "clinichq", "cat_info", _cat("25-5", "Chip: 985 112 000 000 501", "M", "Y"))
    assert [tuple(r) for r in sql(db_url, "SELECT field, value FROM trapper.unrecognised_values")
            ] == [("microchip", "9.85112E+14")]
    assert val(db_url, "SELECT count(*) FROM trapper.cat_identifiers "
                       "WHERE id_value = '985112000000501'") == 1


BOOLS: dict[str | None, bool | None] = {
    "Yes": True, "Y": True, "yes": True, "TRUE": True, "true": True, "1": True, "1.0": True,
    "x": True, "X": True, "checked": True, "on": True, " y ": True,
    "No": False, "N": False, "false": False, "0": False, "off": False, "unchecked": False,
    "": None, None: None, "unknown": None, "?": None, "maybe": None, "yes please": None,
}


def test_yes_no_values_read_the_same_in_processors_and_rules(db_url: str) -> None:
    rows = sql(db_url, "SELECT raw, (trapper.payload_bool(raw)).*, "
                       "trapper.orchestrator_to_boolean(raw) AS orch, "
                       "trapper.orchestrator_typed_value(raw, 'boolean') AS typed "
                       "FROM unnest($1::text[]) raw", list(BOOLS))
    for r in rows:
        want = BOOLS[r["raw"]]
        assert (r["value"], r["orch"]) == (want, want), r
        assert r["typed"] == (None if want is None else str(want).lower()), r
        assert r["known"] == (r["raw"] not in ("maybe", "yes please")), r


NUMBERS: dict[str, str | None] = {
    "5": "5", "5.0": "5.0", "-122.71": "-122.71", "+3": "3", "1,234": "1234",
    "1,234,567.5": "1234567.5", "$12.50": "12.50", "$ 1,200": "1200", "-$3": "-3", ".5": "0.5",
    "12.": "12", " 7 ": "7",
    "12 lbs": None, "3.6kg": None, "1,2": None, "12,34": None, "n/a": None, "": None, ".": None,
    "$": None, "1.2.3": None, "five": None,
}


def test_numbers_read_the_same_in_processors_and_rules(db_url: str) -> None:
    rows = sql(db_url, "SELECT raw, trapper.payload_number(raw) AS core, "
                       "trapper.orchestrator_to_numeric(raw) AS orch, "
                       "trapper.orchestrator_to_integer(raw) AS int, "
                       "trapper.orchestrator_typed_value(raw, 'numeric') AS typed "
                       "FROM unnest($1::text[]) raw", list(NUMBERS))
    from decimal import Decimal
    for r in rows:
        want = NUMBERS[r["raw"]]
        dec = None if want is None else Decimal(want)
        assert (r["core"], r["orch"]) == (dec, dec), r
        assert r["typed"] is None if want is None else Decimal(r["typed"]) == dec, r
        assert r["int"] == (int(dec) if dec is not None and dec == int(dec) else None), r


def _request(status: str, kittens: Any, lat: str = "") -> dict[str, Any]:
    return {"Case Number": "TR-1", "Case Status": status, "Created": "2025-03-14",
            "First Name": "Ann", "Last Name": "Lee", "Clean Email": "ann@example.org",
            "Address": "12 Oak St", "City": "Santa Rosa", "Zip": "95404",
            "Total Cats to be trapped": "a few", "Kittens Present?": kittens,
            "Latitude": lat, "Longitude": lat and "-122.7"}


@pytest.mark.parametrize(("status", "kittens", "lat", "want", "counted"), [
    ("Done", True, "", ("completed", True), {"Total Cats to be trapped"}),
    ("CANCELLED", "yes", "38.44", ("cancelled", True), {"Total Cats to be trapped"}),
    ("On Hold", "N", "", ("on_hold", False), {"Total Cats to be trapped"}),
    ("in-progress", "", "", ("in_progress", None), {"Total Cats to be trapped"}),
    ("Sorta open", "maybe", "n/a", ("new", None),
     {"Total Cats to be trapped", "Case Status", "Kittens Present?", "Latitude/Longitude"}),
])
def test_trapping_request_values_as_typed(
    db_url: str, status: str, kittens: Any, lat: str, want: tuple[str, bool | None],
    counted: set[str]
) -> None:
    # "" for a coordinate, "Done" or a JSON true once failed the record or read as new/no
    process(db_url, "airtable", "trapping_requests", _request(status, kittens, lat), "rec1")
    assert tuple(sql(db_url, "SELECT status, has_kittens FROM trapper.sot_requests")[0]) == want
    assert {r[0] for r in sql(db_url, "SELECT field FROM trapper.unrecognised_values")
            } == counted
    assert val(db_url, "SELECT count(*) FROM trapper.places WHERE location IS NOT NULL") == (
        1 if lat == "38.44" else 0)


def test_web_intake_yes_no_values_as_forms_send_them(db_url: str) -> None:
    base = {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.org",
            "phone": "", "requester_address": "12 Oak St", "requester_city": "Santa Rosa",
            "requester_zip": "95404", "cats_address": "12 Oak St", "cats_city": "Santa Rosa",
            "cats_zip": "95404", "cat_count_estimate": "3", "kitten_count": "",
            "submitted_at": "2025-03-14T10:00:00Z", "situation_description": "cats"}
    for sid, (kittens, emergency, at) in enumerate([
            ("checked", "", "2025-03-14T10:00:00Z"), ("", "x", ""),
            ("Y", "perhaps", "yesterday")]):
        process(db_url, "web_intake", "submissions",
                base | {"has_kittens": kittens, "is_emergency": emergency, "submitted_at": at},
                f"s{sid}")
    got = [tuple(r) for r in sql(db_url, "SELECT has_kittens, is_emergency, "
                                         "submitted_at IS NOT NULL FROM "
                                         "trapper.web_intake_submissions ORDER BY submission_id")]
    assert got == [(True, None, True), (None, True, False), (True, None, False)]
    assert {tuple(r) for r in sql(db_url, "SELECT field, value FROM trapper.unrecognised_values")
            } == {("is_emergency", "perhaps"), ("submitted_at", "yesterday")}


def test_every_writer_of_a_cat_keeps_its_values_in_the_space(db_url: str) -> None:
    """The rules router's survivorship writes the value a source offered, and staff write
    by hand: the table holds them to the same values the processors store."""
    cat = val(db_url, "SELECT trapper.find_or_create_cat_by_microchip('985112000000601', "
                      "'Mia', p_source => 'clinichq')")
    surv = "SELECT trapper.orchestrator_apply_survivorship('cat', $1, $2, $3::jsonb, $4)"
    val(db_url, surv, cat, "clinichq", json.dumps({"sex": "f/s"}), True)
    stored = "SELECT sex, altered_status FROM trapper.sot_cats"
    assert tuple(sql(db_url, stored)[0]) == ("Female", "Yes")
    # a value read as nothing, or as not known, keeps what the cat had: survivorship says
    # nothing was replaced, and the field's source stays the one that set it
    assert json.loads(val(db_url, surv, cat, "atlas_ui", json.dumps({"sex": "Calico"}),
                          False)) == []
    assert val(db_url, "SELECT source_system || ':' || value FROM "
                       "trapper.orchestrator_field_provenance WHERE field = 'sex'") == \
        "clinichq:Female"
    replaced = json.loads(val(db_url, surv, cat, "atlas_ui", json.dumps({"sex": "m"}), False))
    assert [(r["from"], r["to"]) for r in replaced] == [("Female", "Male")]
    sql(db_url, "UPDATE trapper.sot_cats SET sex = 'Unknown', altered_status = 'maybe'")
    assert tuple(sql(db_url, stored)[0]) == ("Male", "Yes")
    sql(db_url, "UPDATE trapper.sot_cats SET sex = 'MI', altered_status = NULL")
    assert tuple(sql(db_url, stored)[0]) == ("Male", "No")
    assert {tuple(r) for r in sql(db_url, "SELECT field, value FROM trapper.unrecognised_values")
            } == {("sot_cats.sex", "Calico"), ("sot_cats.altered_status", "maybe")}


def _outcome(kind: str) -> dict[str, str]:
    return {"Animal ID": "SL-31", "Microchip Number": "985112000000701", "Outcome Type": kind,
            "Outcome Date": "03/14/2025", "Outcome To Person Name": "Ann Lee",
            "Outcome To Person Email": "ann@example.org", "Outcome To Person Phone": "",
            "Outcome To Person Street Address 1": "", "Outcome To Person City": "",
            "Outcome To Person State": "", "Outcome To Person Zip": ""}


@pytest.mark.parametrize(("kind", "link", "deceased", "counted"), [
    ("Adoption", "adopter", False, False), ("Foster", "foster", False, False),
    ("ReturnToOwner", "owner", False, False), ("Return to Owner", "owner", False, False),
    ("RTF", "caretaker", False, False), ("Transfer", None, False, False),
    ("Euthanasia", None, True, False), ("DOA", None, True, False),
    ("Adoption - Offsite", "adopter", False, False), ("Transfer Out", None, False, False),
    ("Euthanasia Requested", None, True, False), ("", "adopter", False, False),
    ("Lost in kennel", "adopter", False, True),
])
def test_a_shelter_outcome_says_what_became_of_the_cat(
    db_url: str, kind: str, link: str | None, deceased: bool, counted: bool
) -> None:
    process(db_url, "shelterluv", "outcomes", _outcome(kind))
    assert val(db_url, "SELECT relationship FROM trapper.person_cat") == link
    assert val(db_url, "SELECT is_deceased FROM trapper.sot_cats") is deceased
    assert val(db_url, "SELECT count(*) FROM trapper.unrecognised_values "
                       "WHERE field = 'Outcome Type'") == int(counted)


def test_a_deceased_status_marks_the_cat(db_url: str) -> None:
    for n, status in enumerate(("Healthy - In Custody", "Deceased")):
        process(db_url, "shelterluv", "animals", {
            "ID": f"SL-4{n}", "Internal-ID": f"4{n}", "Name": "Mia", "Status": status,
            "Microchips": [{"Id": f"98511200000080{n}"}]})
    assert [r[0] for r in sql(db_url, "SELECT is_deceased FROM trapper.sot_cats "
                                      "ORDER BY display_name, created_at")] == [False, True]


def test_a_moment_is_read_as_dates_are(db_url: str) -> None:
    rows = sql(
        db_url, "SELECT raw, to_char(trapper.payload_timestamp(raw) AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD HH24:MI') AS t FROM unnest($1::text[]) raw",
        ["2025-03-14T10:00:00Z", "2025-03-14 10:00:00+00", "2025-03-14", "yesterday", "now",
         "", "3/14/2025"])
    got = {r["raw"]: r["t"] for r in rows}
    assert {k: got[k] for k in ("2025-03-14T10:00:00Z", "2025-03-14 10:00:00+00",
                                "yesterday", "now", "")} == {
        "2025-03-14T10:00:00Z": "2025-03-14 10:00", "2025-03-14 10:00:00+00": "2025-03-14 10:00",
        "yesterday": None, "now": None, "": None}
    # a day with no time is the day's start where the server is
    assert got["3/14/2025"] is not None and got["2025-03-14"] == got["3/14/2025"]


def test_an_appointment_without_a_readable_date_says_so(db_url: str) -> None:
    appt = {"Number": "25-9", "Date": "sometime in March", "Animal Name": "Tux",
            "Microchip Number": "985112000000901", "Sex": "M", "Breed": "DSH",
            "Spay Neuter Status": "Yes", "Primary Color": "Black"}
    with pytest.raises(Exception, match=r"appointment 25-9 has no date it can be read from: "
                                        r"Date = 'sometime in March'"):
        process(db_url, "clinichq", "appointment_info", appt)
    process(db_url, "clinichq", "appointment_info", appt | {"Date": "Mar 14, 2025"})
    assert str(val(db_url, "SELECT appointment_date FROM trapper.sot_appointments")) == \
        "2025-03-14"


@pytest.mark.parametrize("chips", [
    [{"Id": "985112000001001"}], ["985112000001001"], "985112000001001",
    "Chip: 985112000001001", "12345, 985 112 000 001 001", 985112000001001,
])
def test_a_shelter_cat_s_chips_as_written(db_url: str, chips: Any) -> None:
    process(db_url, "shelterluv", "animals", {
        "ID": "SL-10", "Internal-ID": "10", "Name": "Mia", "Microchips": chips})
    assert val(db_url, "SELECT id_value FROM trapper.cat_identifiers "
                       "WHERE id_type = 'microchip'") == "985112000001001"


def test_volunteer_groups_joined_any_way(db_url: str) -> None:
    process(db_url, "volunteerhub", "users", {
        "UserUid": "u1", "Name - FirstName": "Ann", "Name - LastName": "Lee",
        "Email": "ann@example.org", "User Group Memberships": "Trappers, Foster Parents|Events"})
    assert {r[0] for r in sql(db_url, "SELECT role FROM trapper.person_roles")} == {
        "trapper", "foster", "volunteer"}


def test_migration_024_reads_the_cats_stored_before(db_url: str) -> None:
    """Cats stored raw before core 024 take the value space's values; a value read as
    nothing stays for someone to look at."""
    text = (Path(__file__).resolve().parent.parent / "sql" / "core"
            / "024_unrecognised_values.sql").read_text()
    update = text[text.index("UPDATE trapper.sot_cats"):]
    sql(db_url, "ALTER TABLE trapper.sot_cats DISABLE TRIGGER sot_cats_values")
    sql(db_url, "INSERT INTO trapper.sot_cats (sex, altered_status) VALUES ('M', 'Unknown'), "
                "('Neutered Male', NULL), ('FS', 'DidNotAsk'), ('Female', 'No'), "
                "('Calico', 'Yes'), (NULL, 'spayed')")
    sql(db_url, "ALTER TABLE trapper.sot_cats ENABLE TRIGGER sot_cats_values")
    sql(db_url, update)
    assert sorted(tuple(r) for r in sql(db_url, "SELECT coalesce(sex, '-'), "
                                                "coalesce(altered_status, '-') "
                                                "FROM trapper.sot_cats")) == sorted([
        ("Male", "-"), ("Male", "Yes"), ("Female", "Yes"), ("Female", "No"),
        ("Calico", "Yes"), ("-", "Yes")])


def test_a_zip_written_as_a_float_is_the_same_place(db_url: str) -> None:
    assert [r[0] for r in sql(db_url, "SELECT trapper.join_address(s, 'Santa Rosa', 'CA', z) "
                                      "FROM unnest($1::text[], $2::text[]) AS t(s, z)",
                              ["12 Oak St", "12 Oak St", "12.5 Oak St", " "],
                              ["95404.0", "95404", " 95404.00 ", ""])] == [
        "12 Oak St, Santa Rosa, CA, 95404", "12 Oak St, Santa Rosa, CA, 95404",
        "12.5 Oak St, Santa Rosa, CA, 95404", "Santa Rosa, CA"]


def test_a_geocode_with_blank_coordinates_is_no_location(db_url: str) -> None:
    addr = "10 Oak St, Petaluma, CA 94952"
    for n, (lat, lng) in enumerate([("", ""), ("38.23", "-122.63")]):
        process(db_url, "google_maps", "geocode_results", {
            "place_key": f"gm-{n}", "query_address": addr, "status": "OK",
            "formatted_address": addr, "lat": lat, "lng": lng})
        assert val(db_url, "SELECT location[1] FROM trapper.places") == (
            38.23 if lat else None)


def test_visits_processed_before_031_get_their_observations(db_url: str) -> None:
    """A database upgraded with data: the cat_info visits processed before 031 carried
    weights and ages nothing read; core 038 reads them, for the cat each visit was matched
    to (the survivor when that cat was merged since), once."""
    visit = {**_cat("28-1", "985112000000501", "F", "Yes"), "Date": "03/14/2025",
             "Weight": "8.2", "Age Years": "2", "Age Months": "1"}
    process(db_url, "clinichq", "cat_info", visit)
    process(db_url, "clinichq", "cat_info", {**visit, "Date": "05/01/2025", "Weight": "9 lbs"})
    cat = val(db_url, "SELECT cat_id FROM trapper.sot_cats")
    execute(db_url, "DELETE FROM trapper.cat_observations")   # as before 031
    migration = (Path(REPO) / "sql/core/038_hyphenated_numbers_and_past_visits.sql").read_text()
    execute(db_url, migration)
    execute(db_url, migration)
    rows = [tuple(r) for r in sql(db_url, """
        SELECT cat_id, observed_on::text, weight_lbs::text, age_months
        FROM trapper.cat_observations ORDER BY observed_on""")]
    assert rows == [(cat, "2025-03-14", "8.20", 25), (cat, "2025-05-01", "9.00", 25)]


def test_a_merge_keeps_a_cat_fixed(db_url: str) -> None:
    """Two records of one cat made two cats, one intact and one spayed: merged (by staff,
    either way round), the survivor is altered; a No merged into a Yes changes nothing."""
    process(db_url, "clinichq", "cat_info", _cat("29-1", "985112000000601", "F", "No"))
    process(db_url, "clinichq", "cat_info", _cat("29-2", "985112000000602", "F", "Yes"))
    process(db_url, "clinichq", "cat_info", _cat("29-3", "985112000000603", "F", "No"))
    ids = {r["clinichq_animal_id"]: r["cat_id"] for r in sql(
        db_url, "SELECT clinichq_animal_id, cat_id FROM trapper.sot_cats")}
    sql(db_url, "UPDATE trapper.sot_cats SET merged_into_cat_id = $1 WHERE cat_id = $2",
            ids["29-1"], ids["29-2"])
    sql(db_url, "UPDATE trapper.sot_cats SET merged_into_cat_id = $1 WHERE cat_id = $2",
            ids["29-1"], ids["29-3"])
    assert val(db_url, "SELECT altered_status FROM trapper.sot_cats WHERE cat_id = $1",
               ids["29-1"]) == "Yes"


# A rescue's animal export, routed by rules (docs/orchestrator.md): its cats without a
# microchip are known by its own Animal ID.
RESCUE_SOURCE = """
INSERT INTO trapper.orchestrator_sources
    (source_system, source_table, display_name, entity_types_produced, processor_name,
     ingest_method, ingest_frequency, expected_fields, id_field_candidates)
VALUES ('rescue', 'animals', 'Rescue animals', '{cat}', 'orchestrator_router',
        'file_upload', 'on_demand',
        trapper.orchestrator_fields(ARRAY['Animal ID', 'Name', 'Sex', 'Altered',
                                          'Microchip'], ARRAY['Animal ID']),
        ARRAY['Animal ID']);
INSERT INTO trapper.orchestrator_routing_rules
    (source_system, source_table, source_field, target_surface, target_field, routing_type,
     target_function, transform_expression, is_required)
SELECT 'rescue', 'animals', f, 'sot_cats', t, 'direct', 'find_or_create_cat_by_microchip',
       NULL, false
FROM (VALUES ('Animal ID', 'animal_id'), ('Name', 'name'), ('Sex', 'sex'),
             ('Altered', 'altered_status'), ('Microchip', 'microchip')) r (f, t);
"""

# one cat's records in the order they come (sex, altered as typed) -> (sex, altered) stored
CHIPLESS: list[tuple[list[tuple[str, str]], tuple[str | None, str | None]]] = [
    ([("F", "No"), ("F", "Yes")], ("Female", "Yes")),            # trapped intact, then spayed
    ([("Intact Male", ""), ("", "neutered"), ("", "intact")], ("Male", "Yes")),
    ([("", ""), ("MN", "")], ("Male", "Yes")),                   # filled when first known
    ([("Neutered Male", "No")], ("Male", "No")),                 # the altered field's word wins
    ([("Spayed", "")], ("Female", "Yes")),
    ([("M", "maybe")], ("Male", None)),                          # unread: counted, not guessed
]


def test_a_chipless_cat_routed_takes_the_altered_status_the_processors_give(
        db_url: str) -> None:
    """The router's cat known by an export's own id and the clinic processor's cat known by
    its animal number go through one core function (trapper.cat_fill): the same records give
    the same sex and altered status, and the same values counted as unread."""
    execute(db_url, RESCUE_SOURCE)
    for i, (records, _) in enumerate(CHIPLESS):
        for sex, altered in records:
            process(db_url, "clinichq", "cat_info", _cat(f"30-{i}", "", sex, altered))
            record = stage(db_url, "rescue", "animals", {
                "Animal ID": f"R{i}", "Name": "Tux", "Sex": sex, "Altered": altered,
                "Microchip": ""})
            val(db_url, "SELECT trapper.orchestrator_router($1)", record)
    core = {r["clinichq_animal_id"]: (r["sex"], r["altered_status"]) for r in sql(
        db_url, "SELECT clinichq_animal_id, sex, altered_status FROM trapper.sot_cats "
                "WHERE clinichq_animal_id IS NOT NULL")}
    routed = {r["animal_id"]: (r["sex"], r["altered_status"]) for r in sql(
        db_url, "SELECT k.animal_id, c.sex, c.altered_status "
                "FROM trapper.orchestrator_cat_source_ids k "
                "JOIN trapper.sot_cats c ON c.cat_id = k.cat_id")}
    for i, (_, want) in enumerate(CHIPLESS):
        assert (core[f"30-{i}"], routed[f"R{i}"]) == (want, want), CHIPLESS[i]
    assert val(db_url, "SELECT count(*) FROM trapper.sot_cats") == 2 * len(CHIPLESS)
    unread = sql(db_url, "SELECT s.source_system, u.field, u.value "
                         "FROM trapper.unrecognised_values u "
                         "JOIN trapper.staged_records s ON s.id = u.staged_record_id")
    assert sorted(tuple(r) for r in unread) == [("clinichq", "altered_status", "maybe"),
                                                ("rescue", "altered_status", "maybe")]
