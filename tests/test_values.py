"""Field values as people type them (docs/processing.md, "Values as people type them"): a
cat's sex and altered status, Ownership, dates, booleans, chips and numbers each read into a
small known value space; a value read as nothing is counted, never taken as a guess."""

from __future__ import annotations

from typing import Any

import pytest

from tests.entities import owner, process
from tests.helpers import sql, val

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
]

# values read as nothing: stored empty and named as unrecognised
UNREAD: list[tuple[str | None, str | None, list[str]]] = [
    ("Calico", None, ["sex"]), ("MF", None, ["sex"]), ("Male Female", None, ["sex"]),
    ("neutered intact", None, ["sex"]), (None, "maybe", ["altered_status"]),
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
