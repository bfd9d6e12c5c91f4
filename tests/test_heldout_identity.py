"""The held-out identity set (tests/corpus/heldout/, docs/identity.md "The held-out set"):
people, places and cats as another organisation's clinic staff and volunteers type them,
loaded as a new source through the CLI and scored against the truth; then each class it
found, one by one, at the level of the function that decides it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.entities import owner, people, process
from tests.heldout import load, score
from tests.helpers import execute, sql, val


def test_the_held_out_set_scores_within_its_bounds(db_url: str) -> None:
    load(db_url, run_cli)
    s = score(db_url)
    # identifiers decide: no two true people ever end as one
    assert s.people[0] == 1.0, s.wrong_merges
    assert s.wrong_merges == []
    # measured 0.9665; the misses left are the classes no identifier reaches (below)
    assert s.people[1] >= 0.96, s.missed
    assert {c for c, _, _ in s.missed} <= {"ordinary", "surname-change"}, s.missed
    # organisations and walk-in placeholders make no person
    assert s.non_people_made_people == []
    assert s.places[0] == 1.0 and s.places[1] >= 0.98, s.places
    assert s.cats == (1.0, 1.0)
    # a surname changed is put to a person, never matched nor filed as a household member
    said = [r[0] for r in sql(db_url, """
        SELECT decision_type FROM trapper.data_engine_match_decisions
        WHERE score_breakdown ->> 'name_level' = 'first_only'""")]
    assert said and set(said) <= {"review_pending"}, said


# ---- emails: one mailbox, one identifier ------------------------------------------------

@pytest.mark.parametrize(("typed", "key"), [
    ("K.Whitfield@Gmail.com", "kwhitfield@gmail.com"),
    ("dana.oreilly+cats@gmail.com", "danaoreilly@gmail.com"),
    ("danaoreilly+tnr@googlemail.com", "danaoreilly@gmail.com"),
    ("tgreene@gmial.com", "tgreene@gmail.com"),
    ("p.navarro@yahoo.con", "p.navarro@yahoo.com"),     # dots are Gmail's alone
    ("lydia+x@hotmial.com", "lydia@hotmail.com"),
    ("j.smith@sonic.net", "j.smith@sonic.net"),          # another domain: as typed
    ("a+b@sonic.net", "a+b@sonic.net"),
])
def test_an_email_is_its_mailbox(core_db_url: str, typed: str, key: str) -> None:
    assert val(core_db_url, "SELECT trapper.usable_email($1)", typed) == key


def test_a_domain_typo_taught_as_data_is_read_at_once(core_db_url: str) -> None:
    assert val(core_db_url, "SELECT trapper.usable_email('ann@sonicc.net')") == "ann@sonicc.net"
    execute(core_db_url,
            "INSERT INTO trapper.email_domain_typos VALUES ('sonicc.net', 'sonic.net')")
    assert val(core_db_url, "SELECT trapper.usable_email('ann@sonicc.net')") == "ann@sonic.net"


def test_emails_held_before_take_their_mailbox_key(core_db_url: str) -> None:
    """034's rewrite of the identifiers already held, run again on people made before it."""
    process(core_db_url, "clinichq", "owner_info", owner("34-1", "Karen", "Whitfield",
                                                         email="kwhitfield@gmail.com"))
    (p,) = people(core_db_url)
    execute(core_db_url, f"""
        INSERT INTO trapper.person_identifiers (person_id, id_type, id_value_norm, confidence)
        VALUES ('{p["person_id"]}', 'email', 'k.whitfield@gmail.com', 0.95),
               ('{p["person_id"]}', 'email', 'k.whitfield+cats@gmail.com', 0.5),
               ('{p["person_id"]}', 'email', 'kw@gmial.com', 0.5);""")
    migration = (Path(__file__).resolve().parents[1] / "sql" / "core"
                 / "034_email_mailboxes.sql").read_text()
    # its rewrite, the statements after the tables it fills
    rewrite = "UPDATE trapper.person_identifiers h" + migration.split(
        "UPDATE trapper.person_identifiers h", 1)[1]
    execute(core_db_url, rewrite)
    held = sql(core_db_url, "SELECT id_value_norm, confidence FROM trapper.person_identifiers "
                            "WHERE id_type = 'email' ORDER BY 1")
    assert [(r[0], float(r[1])) for r in held] == [("kw@gmail.com", 0.5),
                                                  ("kwhitfield@gmail.com", 0.95)]


# ---- phones with a label before them ----------------------------------------------------

@pytest.mark.parametrize("typed", ["cell: 707-555-2107", "h: 707 555 2107", "Cell (707)555-2107",
                                   "Tel. 707.555.2107", "c 7075552107 x12",
                                   "home 707 555 2107 cell 707 555 9999"])
def test_a_phone_after_its_label_is_the_number(core_db_url: str, typed: str) -> None:
    assert val(core_db_url, "SELECT trapper.norm_phone_us($1)", typed) == "7075552107"


# ---- a shared email, a changed surname, words that are no person ------------------------

def test_an_email_people_of_other_names_hold_never_matches_a_name_alone(db_url: str) -> None:
    """A shelter's email given for its adopters: a second Maria Garcia is no match for the
    first on it (before, email and the exact name made an auto-match, log-odds 18.6)."""
    shelter = "adoptions@lakeshorehumane.org"
    for i, (first, last, phone) in enumerate([("Carla", "Benton", "707-555-2401"),
                                               ("Maria", "Garcia", "707-555-2405")]):
        process(db_url, "clinichq", "owner_info",
                owner(f"35-{i}", first, last, email=shelter, cell=phone,
                      address=f"{10 + i} Lakeshore Blvd, Lakeport, CA 95453"))
    process(db_url, "clinichq", "owner_info",
            owner("35-9", "Maria", "Garcia", email=shelter,
                  address="95 Bevins St, Lakeport, CA 95453"))
    assert len(people(db_url)) == 3
    decided = val(db_url, "SELECT decision_type FROM trapper.data_engine_match_decisions "
                          "ORDER BY decision_id DESC LIMIT 1")
    assert decided == "review_pending"
    # explain weighs the pair as the engine did
    a, b = [r[0] for r in sql(db_url, "SELECT person_id FROM trapper.sot_people "
                                      "WHERE first_name = 'Maria' ORDER BY created_at")]
    got = json.loads(val(db_url, "SELECT trapper.orchestrator_explain_person_pair($1, $2)",
                         a, b))
    assert got["outcome"] == "review_pending" and "shared email demoted" in got["gate"], got


def test_one_persons_email_is_not_demoted_by_her_own_split_records(db_url: str) -> None:
    """Holders of one name are not 'other people': a registry email with the exact name still
    matches though two earlier records of her became two people."""
    # PetLink's identifiers are trusted at 0.4: its email weighs 5.3 whole, 1.7 demoted
    for rid, chip, last in (("1", "981020000000011", "Payne"), ("2", "981020000000022", "Crawford"),
                            ("3", "981020000000033", "Crawford")):
        process(db_url, "petlink", "pets", {"Microchip": chip, "ID": rid, "Name": "Tux",
                                            "Owner": last, "First Name": "Larry",
                                            "Email": "larry.crawfordpayne@comcast.net"},
                row_id=rid)
    assert [r[0] for r in sql(db_url, "SELECT decision_type FROM "
                                      "trapper.data_engine_match_decisions ORDER BY decision_id")
            ] == ["new_entity", "review_pending", "auto_match"]


@pytest.mark.parametrize(("a", "b", "level"), [
    (("Jennifer", "Alvarez"), ("Jennifer", "Whitlock"), "first_only"),
    (("Liz", "Carrow"), ("Elizabeth", "Pike"), "first_only"),
    (("Heidi", "Sorensen"), ("H.", "Blackwood"), "different"),   # an initial: too little
    (("Robert", "Miller Sr."), ("Robert", "Miller Jr."), "different"),
    (("Kevin", "Tran"), ("Kyle", "Tran"), "different"),
])
def test_the_same_given_name_with_another_surname(
    core_db_url: str, a: tuple[str, str], b: tuple[str, str], level: str,
) -> None:
    assert val(core_db_url, "SELECT trapper.name_compare($1, $2, $3, $4)", *a, *b) == level


def test_a_surname_changed_on_one_phone_is_reviewed(db_url: str) -> None:
    for rid, last in (("37-1", "Sorensen"), ("37-2", "Blackwood")):
        process(db_url, "clinichq", "owner_info",
                owner(rid, "Heidi", last, cell="707-555-2113",
                      address="5 Orr Springs Rd, Ukiah, CA 95482"))
    decided = sql(db_url, "SELECT decision_type, decision_reason FROM "
                          "trapper.data_engine_match_decisions ORDER BY decision_id")
    assert [d[0] for d in decided] == ["new_entity", "review_pending"]
    assert "the same given name as Heidi Sorensen with another surname" in decided[1][1]


@pytest.mark.parametrize(("first", "last", "kind"), [
    ("Friends of Ferals", "", "business"), ("Alley Cat Allies", "", "business"),
    ("Fort Bragg Feral Cat Project", "", "business"), ("WALK IN", "", "placeholder"),
    ("Walk-in", "", "placeholder"), ("walk in client", "", "placeholder"),
    ("Dave", "Osei", "person"), ("Ann", "Friend", "person"),
])
def test_rescue_groups_and_walk_ins_are_no_people(
    core_db_url: str, first: str, last: str, kind: str,
) -> None:
    assert val(core_db_url, "SELECT (trapper.should_be_person($1, $2)).kind", first, last) == kind
