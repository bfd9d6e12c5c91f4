"""Identifiers as people type them (docs/identity.md, "People", step 2; core 045): emails
pasted with a name, quotes or a full stop, several in one cell, placeholder mailboxes at
real providers; phones with an extension after "#", a label in brackets, two in one cell,
another country's code; microchips saved as floats or listed two to a cell. Each class
through the real path (a CSV ingested, `atlas-orch process`), by a core processor and by a
rule-routed source alike: the same person for one person, two for two, and a value that
reads as none counted where a person sees it."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.helpers import execute, sql, val
from tests.pg import Server


@pytest.fixture(scope="module")
def fn_db(pg: Server) -> Iterator[str]:
    """One database with the engines for the module's function calls (they write nothing)."""
    name = pg.create("core")
    try:
        yield pg.url(name)
    finally:
        pg.drop(name)


def _map(url: str, fn: str, values: list[str]) -> dict[str, Any]:
    return {r["raw"]: r["v"] for r in sql(
        url, f"SELECT raw, trapper.{fn}(raw) AS v FROM unnest($1::text[]) raw", values)}


# ---- the normalisers, class by class ------------------------------------------------------

def test_one_email_as_people_paste_it_is_that_email(fn_db: str) -> None:
    """In quotes or brackets, after a name as a mail client copies it, with a sentence's full
    stop or a comma after it, on a full-width keyboard: each was no email (and a person known
    by it alone was rejected). What is no one address stays none."""
    cases = {
        '"ann@x.org"': "ann@x.org", "<ann@x.org>": "ann@x.org",
        "Ann Lee <Ann@X.org>": "ann@x.org", '"Lee, Ann" <ann@x.org>': "ann@x.org",
        "ann@x.org.": "ann@x.org", "ann@x.org,": "ann@x.org", "ann@x.org;": "ann@x.org",
        "(ann@x.org)": "ann@x.org", "'ann@x.org'": "ann@x.org",
        "<mailto:ann@x.org>": "ann@x.org", "ａｎｎ＠ｘ．ｏｒｇ": "ann@x.org",
        "ann＠x.org": "ann@x.org", "ann@@x.org": "ann@x.org", "Ann@Gmail,com": "ann@gmail.com",
        "ann@x.org,bob": None,
        # an accent typed as a letter of its own or composed: one address, not two
        "Jose\u0301@x.org": "jos\u00e9@x.org", "jos\u00e9@x.org": "jos\u00e9@x.org",
        # still no one address: a list, a space inside, a word, a bare domain
        "ann@x.org; bob@y.org": None, "ann@x.org, bob@y.org": None,
        "ann@x.org / bob@y.org": None, "ann @ x.org": None, "declined": None,
        "no email": None, "ann@gmail": None, "Ann <ann@x.org>, Bob <bob@y.org>": None,
        "o'brien@x.org": "o'brien@x.org", ".lead@x.org": None,
    }
    assert _map(fn_db, "norm_email", list(cases)) == cases


def test_a_cell_listing_emails_gives_its_first_to_the_processors_as_to_the_rules(
        fn_db: str) -> None:
    """A processor took no email from "a@x.org; b@y.org" (a rule took the first): now both
    take the first, and the same one."""
    cells = ["ann@x.org; bob@y.org", "ann@x.org, bob@y.org", "ann@x.org / bob@y.org",
             "ann@x.org,bob@y.org", "Ann <ann@x.org>, Bob <bob@y.org>",
             "ann@x.org (home) bob@y.org (work)", "ann@gmial.com; bob@y.org"]
    rows = sql(fn_db, """
        SELECT raw, trapper.usable_email(raw) AS core,
               trapper.email_mailbox(coalesce(trapper.norm_email(raw),
                                              (trapper.emails_listed(raw))[1])) AS rule
        FROM unnest($1::text[]) raw""", cells)
    for r in rows:
        assert r["core"] == r["rule"], r
        assert r["core"] in ("ann@x.org", "ann@gmail.com"), r


def test_placeholder_mailboxes_at_real_providers_are_no_identifier(fn_db: str) -> None:
    """Everyone who typed noemail@gmail.com shared it: two strangers of one name were one
    person, of two names a household. A mailbox name that says there is none is refused at
    any domain, with its reason; a real name that only contains such a word is not."""
    refused = ["noemail@gmail.com", "NoEmail@Yahoo.com", "no.email@hotmail.com",
               "no_email@aol.com", "none@yahoo.com", "declined@gmail.com", "n.a@sonic.net",
               "na@na.com", "unknown@comcast.net", "x@x.com", "nomail@nomail.com",
               "donotreply@icloud.com", "test@test.com"]
    kept = ["nona@gmail.com", "noel.e@sonic.net", "anne@none.org", "declan@gmail.com",
            "nathan@na.org", "knox@x.org", "xavier@x.com"]
    got = _map(fn_db, "usable_email", refused + kept)
    assert [e for e in refused if got[e] is not None] == []
    assert {e: got[e] for e in kept} == {e: e for e in kept}
    said = val(fn_db, "SELECT trapper.identifiers_refused('No.Email@Gmail.com', '{}')")
    assert said == ("email noemail@gmail.com is on the identity blocklist (a placeholder: "
                    "the mailbox name says there is no email)")


def test_phones_as_people_type_them(fn_db: str) -> None:
    """An extension after "#" made twelve digits and no number; a label in brackets before
    the number left nothing; another country's number of ten digits was a US one."""
    cases = {
        "707-555-1234 #12": "7075551234", "(707) 555-1234 # 3": "7075551234",
        "(cell) 707-555-1234": "7075551234", "(h) (707) 555-1234": "7075551234",
        "707.555.1234 (cell)": "7075551234", "+1 (707) 555-1234": "7075551234",
        "1-707-555-1234": "7075551234", "7075551234.0": "7075551234",
        "Tel #: 707 555 1234": "7075551234",
        "+64 9 345 6789": None, "+44 20 7946 0958": None, "+52 (55) 1234 5678": None,
        "7.07555E+09": None, "1-800-FLOWERS": None, "555-1234": None, "000-000-0000": None,
        "123-456-7890": None, "707-555-1234 / 707-555-9876": None,
    }
    assert _map(fn_db, "norm_phone_us", list(cases)) == cases


def test_a_refused_phone_says_why_the_same_by_a_processor_and_a_rule(db_url: str) -> None:
    """A processor's rejected record said only "is not a US number"; a rule's skip said why.
    Both say the same now, for each class."""
    values = ["555-1234", "707-555-123", "+64 9 345 6789", "7.07555E+09", "1-800-FLOWERS",
              "707-555-0123", "123-456-7890", "707-155-1234", "N/A",
              "707-555-1234 707-555-98"]
    rows = sql(db_url, """
        SELECT raw, trapper.phone_refusal(raw) AS core,
               trapper.orchestrator_phone_refusal(raw) AS rule,
               trapper.identifiers_refused(NULL, ARRAY[raw]) AS said
        FROM unnest($1::text[]) raw""", values)
    got = {r["raw"]: r["core"] for r in rows}
    assert all(r["core"] == r["rule"] for r in rows), rows
    assert got == {
        "555-1234": "7 digits: a US number has 10 (an area code missing?)",
        "707-555-123": "9 digits: a US number has 10 (an area code missing?)",
        "+64 9 345 6789": "+64 is another country's code: not a US number",
        "7.07555E+09": ("a spreadsheet wrote it in scientific notation, and its last digits "
                        "are lost"),
        "1-800-FLOWERS": "letters for digits (a vanity number) are not read",
        "707-555-0123": "a 555-01xx number: the lines kept for fiction",
        "123-456-7890": "123 is no US area code",
        "707-155-1234": "no US exchange starts with 1",
        "N/A": "no digits",
        "707-555-1234 707-555-98": "18 digits: more than one US number"}
    said = {r["raw"]: r["said"] for r in rows}
    assert said["555-1234"] == ("phone '555-1234' is not a US number (7 digits: a US number "
                                "has 10 (an area code missing?))")


def test_a_cell_listing_phones_gives_every_number(fn_db: str) -> None:
    """Two numbers in one cell were none to a processor, or the first alone when it was
    labelled ("(work)", "cell:"): both are the person's now, each once; a placeholder among
    them is still refused."""
    got = val(fn_db, "SELECT trapper.usable_phones($1::text[])",
              ["707-555-1234 / 707-555-9876", "cell: 707 555 9876 home: 707 555 1111",
               "555-555-5555; 707-555-2222", None, "n/a",
               "707-555-3001 (work), 707-555-3002 (cell)"])
    assert got == ["7075551234", "7075559876", "7075551111", "7075552222", "7075553001",
                   "7075553002"]


def test_microchips_as_spreadsheets_and_people_write_them(fn_db: str) -> None:
    """A chip saved as a float is its whole part (Excel's 8 digits of an AVID chip with ".0"
    were another 9-digit chip); a cell listing two gives its first, as a ShelterLuv list
    does (the digits run together gave the last); separators inside one chip are one chip."""
    cases = {
        "985112000000101.0": "985112000000101", "64532870.0": None,
        "'985112000000101": "985112000000101", "985 112 000 000 101": "985112000000101",
        "985112000000101 / 982000123456789": "985112000000101",
        "985112000000101, 982000123456789": "985112000000101",
        "985112000000101; 982000123456789": "985112000000101",
        "064/532/870": "064532870", "AVID*064*532*870*": "064532870",
        "Chip: 985112000000101 (HomeAgain), implanted 3/14/2025": "985112000000101",
        "9.85112E+14": None, "985,112,000,000,101": "985112000000101",
    }
    assert _map(fn_db, "validate_microchip", list(cases)) == cases


# ---- through the real path: a CSV ingested and processed ------------------------------------

# (name, email cell, phone cell, cell cell): one row a person as a clinic front desk types them
ROWS: list[tuple[str, str, str, str, str]] = [
    ("Ann", "Lee", "Ann Lee <Ann.Lee@sonic.net>", "", ""),
    ("Ann", "Lee", "ann.lee@sonic.net.", "", ""),
    ("Bob", "Stone", "noemail@gmail.com", "707-555-2001", ""),
    ("Carla", "Diaz", "NoEmail@gmail.com", "707-555-2002", ""),
    ("Dana", "Ortiz", "", "707-555-3001 / 707-555-3002", ""),
    ("Dana", "Ortiz", "", "707-555-3002", ""),
    ("Eve", "Park", "eve.park@x.org; eve@work.org", "", ""),
    ("Finn", "Moss", "", "707-555-4001 #12", ""),
    ("Gil", "Ray", "gil@ray.org", "707-555-123", ""),
    ("Hana", "Sato", "hana@sato.nz", "+64 9 345 6789", ""),
    ("Ivy", "Cole", "", "707-555-5001 (work), 707-555-5002 (cell)", ""),
    ("Ivy", "Cole", "", "707-555-5002", ""),
    ("Jo", "Vance", "declined", "555-555-5555", ""),
]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def _ok(*args: str, env: dict[str, str]) -> str:
    done = run_cli(*args, env=env)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def _person_of(url: str, system: str, table: str, row_id: str) -> Any:
    return val(url, """
        SELECT trapper.get_canonical_person_id(d.resulting_person_id)
        FROM trapper.data_engine_match_decisions d
        WHERE d.source_system = $1 AND d.source_table = $2 AND d.source_row_id = $3
        ORDER BY d.decision_id DESC LIMIT 1""", system, table, row_id)


def test_identifier_classes_through_a_processor_and_the_rules_alike(
        db_url: str, tmp_path: Path) -> None:
    """A ClinicHQ owner export (a core processor) and a client survey (routing rules) with
    the same people typed the same ways: one person each, the same person from either
    source, no household made of a placeholder email, and each value that reads as none
    counted (the processor's in unrecognised values, the rule's in why-missing)."""
    env = {"DATABASE_URL": db_url}
    clinic = _write(tmp_path / "owners.csv", [
        "Number", "Date", "Owner First Name", "Owner Last Name", "Owner Email", "Owner Phone",
        "Owner Cell Phone", "Owner Address", "Ownership"], [
        [f"25-{i:03d}", "03/14/2025", first, last, email, phone, cell,
         f"{100 + i} Elm St, Petaluma, CA 94952", "Owned"]
        for i, (first, last, email, phone, cell) in enumerate(ROWS)])
    _ok("ingest", "clinichq/owner_info", str(clinic), env=env)
    _ok("process", env=env)

    def person(i: int) -> Any:
        return _person_of(db_url, "clinichq", "owner_info", f"25-{i:03d}_2025-03-14")

    clinic_people = [person(i) for i in range(len(ROWS))]
    assert all(clinic_people[:12]), clinic_people     # no row rejected but Jo's
    assert clinic_people[12] is None
    assert clinic_people[0] == clinic_people[1]       # Ann: one address, pasted two ways
    assert clinic_people[2] != clinic_people[3]       # Bob and Carla: strangers
    assert clinic_people[4] == clinic_people[5]       # Dana: two numbers in one cell
    assert clinic_people[10] == clinic_people[11]     # Ivy: two, the first labelled
    assert len(set(clinic_people) - {None}) == 9
    hh = sql(db_url, "SELECT household_id FROM trapper.sot_people WHERE person_id = ANY($1)",
             [clinic_people[2], clinic_people[3]])
    assert all(r["household_id"] is None for r in hh)
    held = {(r["id_type"], r["id_value_norm"]) for r in sql(
        db_url, "SELECT id_type, id_value_norm FROM trapper.person_identifiers "
                "WHERE id_type IN ('email', 'phone')")}
    assert ("email", "noemail@gmail.com") not in held
    assert {("email", "ann.lee@sonic.net"), ("phone", "7075553001"), ("phone", "7075553002"),
            ("email", "eve.park@x.org"), ("phone", "7075554001")} <= held
    assert not any(v.startswith("649") for _, v in held)
    eve = val(db_url, "SELECT decision_reason FROM trapper.data_engine_match_decisions "
                      "WHERE source_row_id = '25-006_2025-03-14'")
    assert eve.endswith("[the email cell lists 2, the first used: eve.park@x.org, "
                        "eve@work.org]")
    unread = {(r["field"], r["value"]) for r in sql(
        db_url, "SELECT field, value FROM trapper.v_unrecognised_values "
                "WHERE source_system = 'clinichq'")}
    assert unread == {("phone", "707-555-123"), ("phone", "+64 9 345 6789")}

    # the same people through the rules: each row lands on the person the clinic's made
    survey = _write(tmp_path / "survey.csv", [
        "response_id", "survey_date", "first_name", "last_name", "email", "phone", "address",
        "cat_count", "kittens_seen"], [
        [f"cs-{i}", "2025-03-20", first, last, email, phone,
         f"{100 + i} Elm St, Petaluma, CA 94952", "2", ""]
        for i, (first, last, email, phone, _cell) in enumerate(ROWS)])
    _ok("ingest", "client_survey/responses", str(survey), env=env)
    _ok("process", env=env)
    routed = [_person_of(db_url, "client_survey", "responses", f"cs-{i}")
              for i in range(len(ROWS))]
    assert routed == clinic_people
    _ok("listen", "--once", env=env)
    gaps = json.loads(_ok("why-missing", "--source", "client_survey", "--json",
                          env=env))["rows"]
    unread_rules = {g["source_record_id"]: g["explanation"] for g in gaps
                    if g["issue_type"] == "value_unread"}
    assert set(unread_rules) == {"cs-8", "cs-9", "cs-12"}
    assert "+64 is another country's code" in unread_rules["cs-9"]
    assert [g["source_record_id"] for g in gaps
            if g["issue_type"] in ("routing_rejected", "identity_rejected")] == ["cs-12"]
    # the processor's record the identity engine made no person of is a gap too, with why
    # (it was "processed", its place named, and nothing more)
    why = json.loads(_ok("why-missing", "clinichq/owner_info/25-012_2025-03-14", "--json",
                         env=env))
    [gap] = [g for g in why["gaps"] if g["issue_type"] == "identity_rejected"]
    assert ("email 'declined' is not an email address; phone 5555555555 is on the identity "
            "blocklist (a placeholder: one digit repeated)") in gap["explanation"]
    assert "identity_rejected" in why["answer"]


def test_two_chips_in_one_cell_are_one_cat_with_both(db_url: str, tmp_path: Path) -> None:
    """A cat chipped twice, its two chips in one cell: one cat holding both, found again by
    either (the digits run together gave the last chip only, and a later record of the first
    made a second cat)."""
    env = {"DATABASE_URL": db_url}
    cats = _write(tmp_path / "cats.csv", [
        "Number", "Date", "Animal Name", "Microchip Number", "Sex", "Breed",
        "Spay Neuter Status", "Primary Color", "Secondary Color", "Weight", "Age Years",
        "Age Months"], [
        ["25-100", "03/14/2025", "Tom", "985112000000101 / 982000123456789", "M", "", "", "",
         "", "", "", ""],
        ["25-101", "03/21/2025", "Tom", "985112000000101.0", "M", "", "", "", "", "", "", ""],
        ["25-102", "03/28/2025", "Tom", "982000123456789", "M", "", "", "", "", "", "", ""],
    ])
    _ok("ingest", "clinichq/cat_info", str(cats), env=env)
    _ok("process", env=env)
    # a shelter's list of chips the same: one cat, found again by its second chip
    animals = _write(tmp_path / "animals.csv", [
        "Internal-ID", "ID", "Microchips", "Name", "Sex", "Breed", "Altered", "Color",
        "AssociatedPerson", "Status"], [
        ["a1", "SL-1", "985112000000303, 982000123456777", "Mia", "F", "", "", "", "", ""],
        ["a2", "SL-2", "982000123456777", "Mia", "F", "", "", "", "", ""],
    ])
    _ok("ingest", "shelterluv/animals", str(animals), env=env)
    _ok("process", env=env)
    rows = sql(db_url, "SELECT trapper.get_canonical_cat_id(cat_id) AS cat, id_value "
                       "FROM trapper.cat_identifiers WHERE id_type = 'microchip'")
    cats: dict[Any, set[str]] = {}
    for r in rows:
        cats.setdefault(r["cat"], set()).add(r["id_value"])
    assert {frozenset(c) for c in cats.values()} == {
        frozenset({"982000123456789", "985112000000101"}),
        frozenset({"982000123456777", "985112000000303"})}
    assert val(db_url, "SELECT count(*) FROM trapper.sot_cats "
                       "WHERE merged_into_cat_id IS NULL") == 2


def test_the_migration_drops_placeholder_emails_and_rekeys_the_rest(db_url: str) -> None:
    """Core 045 on people made before it: a placeholder mailbox held is no identifier any
    more (nor the person's primary email); an email held in a form norm_email now reads
    otherwise takes its key, one row where the person held both. Run twice, it changes
    nothing more."""
    execute(db_url, """
        INSERT INTO trapper.sot_people (person_id, display_name, primary_email) VALUES
            ('00000000-0000-0000-0000-00000000000a', 'Bob Stone', 'noemail@gmail.com'),
            ('00000000-0000-0000-0000-00000000000b', 'Ann Lee', 'ann@x.org');
        INSERT INTO trapper.person_identifiers (person_id, id_type, id_value_norm,
                                               id_value_raw, source_system, confidence)
        VALUES ('00000000-0000-0000-0000-00000000000a', 'email', 'noemail@gmail.com',
                'noemail@gmail.com', 'clinichq', 0.9),
               ('00000000-0000-0000-0000-00000000000a', 'phone', '7075552001',
                '707-555-2001', 'clinichq', 0.9),
               ('00000000-0000-0000-0000-00000000000b', 'email', 'ann@x.org', 'ann@x.org',
                'clinichq', 0.7),
               ('00000000-0000-0000-0000-00000000000b', 'email', 'ａｎｎ@x.org',
                'ａｎｎ@x.org', 'web_intake', 0.95),
               ('00000000-0000-0000-0000-00000000000b', 'email', 'ｂｏｂ@x.org',
                'ｂｏｂ@x.org', 'web_intake', 0.7);""")
    migration = (Path(__file__).parent.parent
                 / "sql/core/045_identifier_classes.sql").read_text()
    for _ in range(2):
        execute(db_url, migration)
        held = {(str(r["person_id"])[-1], r["id_type"], r["id_value_norm"], r["confidence"])
                for r in sql(db_url, "SELECT * FROM trapper.person_identifiers")}
        assert {(p, t, v, float(c)) for p, t, v, c in held} == {
            ("a", "phone", "7075552001", 0.9), ("b", "email", "ann@x.org", 0.95),
            ("b", "email", "bob@x.org", 0.7)}
        assert val(db_url, "SELECT primary_email FROM trapper.sot_people "
                           "WHERE display_name = 'Bob Stone'") is None
