"""Real-world shapes (issue 17): a cell that lists several emails or phones whose first is a
placeholder the blocklist refuses gives the person the first usable one, by a processor and
by a rule alike; and counts as people type them ("1,200", "a dozen") read the same by the
processors' payload_int and the rules' to_count (docs/identity.md, "A cell that lists
several"; docs/processing.md, "Values as people type them")."""

from __future__ import annotations

import json
from typing import Any

from tests.entities import identifiers, owner, process, stage
from tests.helpers import execute, sql, val

# a cell as typed -> the email the person gets (None: none usable)
EMAIL_CELLS: dict[str, str | None] = {
    "none@none.com; ann@x.org": "ann@x.org",
    "noemail@gmail.com, ann@x.org": "ann@x.org",
    "No.Email@Gmail.com / Ann <ann@x.org>": "ann@x.org",
    "declined@yahoo.com; none@none.com; bob@y.org; ann@x.org": "bob@y.org",
    "ann@gmail, none@none.com, ann@x.org": "ann@x.org",
    # what worked keeps its key
    "ann@x.org; none@none.com": "ann@x.org",
    "ann@x.org, bob@y.org": "ann@x.org",
    "Ann <ann@x.org>": "ann@x.org",
    # every entry refused: none, and the rejection says each (below)
    "none@none.com; noemail@gmail.com": None,
    "noemail@gmail.com": None,
}

# the phone cells of one record -> the numbers the person gets
PHONE_CELLS: dict[str, list[str]] = {
    "555-555-5555 / 707-523-1234": ["7075231234"],
    "000-000-0000, (707) 523-1234": ["7075231234"],
    "(707) 222-2222 cell 707-523-1234": ["7075231234"],
    # fewer than twenty digits, the first no number: a rule passed the second, a processor
    # nothing
    "555-5555, 707-523-1234": ["7075231234"],
    "707-523-1234 / 707-524-9999": ["7075231234", "7075249999"],
    "555-555-5555 / 222-222-2222": [],
    # after another country's code no US number, listed or not (a rule's norm_phone_us($1)
    # passed 301-234-5678 of a Berlin number)
    "+49 301 234 5678": [],
    "+49 301 234 5678 / 707-523-1234": ["7075231234"],
    "+1 (707) 523-1234 / +1 707 524 9999": ["7075231234", "7075249999"],
}


def test_a_listed_cell_gives_its_first_usable_email_and_phones(core_db_url: str) -> None:
    """The engines alone: usable_email and usable_phones skip a refused entry, never the
    cell; a cell of nothing but refused entries gives none, and the rejection names each
    with the blocklist's reason."""
    got = {r["raw"]: r["v"] for r in sql(
        core_db_url, "SELECT raw, trapper.usable_email(raw) AS v FROM unnest($1::text[]) raw",
        list(EMAIL_CELLS))}
    assert got == EMAIL_CELLS
    phones = {r["raw"]: list(r["v"]) for r in sql(
        core_db_url, "SELECT raw, trapper.usable_phones(ARRAY[raw]) AS v "
                     "FROM unnest($1::text[]) raw", list(PHONE_CELLS))}
    assert phones == PHONE_CELLS
    said = val(core_db_url, "SELECT trapper.identifiers_refused($1, $2::text[])",
               "none@none.com; noemail@gmail.com", ["555-555-5555 / 222-222-2222"])
    assert said == (
        "email none@none.com is on the identity blocklist (fake domain); "
        "email noemail@gmail.com is on the identity blocklist (a placeholder: the mailbox "
        "name says there is no email); "
        "phone 5555555555 is on the identity blocklist (a placeholder: one digit repeated); "
        "phone 2222222222 is on the identity blocklist (a placeholder: one digit repeated)")


def _owner_decision(url: str, number: str) -> Any:
    return sql(url, "SELECT resulting_person_id AS person, decision_type, decision_reason "
                    "FROM trapper.data_engine_match_decisions WHERE source_row_id = $1 "
                    "ORDER BY decision_id DESC LIMIT 1", number)[0]


def test_a_processor_takes_the_first_usable_and_says_which(core_db_url: str) -> None:
    """Through a ClinicHQ owner record: the person holds ann@x.org and 707-523-1234 (the
    record was rejected, no usable email or phone), the decision names the refused entry
    before the one used; a cell of refused entries alone is still rejected, with each
    reason."""
    process(core_db_url, "clinichq", "owner_info",
            owner("25-001", "Ann", "Lee", email="none@none.com; ann@x.org",
                  phone="555-555-5555 / 707-523-1234"), "25-001")
    d = _owner_decision(core_db_url, "25-001")
    assert d["decision_type"] == "new_entity", d
    assert identifiers(core_db_url, d["person"]) >= {("email", "ann@x.org"),
                                                      ("phone", "7075231234")}
    assert d["decision_reason"].endswith(
        "[the email cell lists 2, the first usable used: ann@x.org (none@none.com refused): "
        "none@none.com, ann@x.org]"), d
    process(core_db_url, "clinichq", "owner_info",
            owner("25-002", "Bob", "Stone", email="noemail@gmail.com, none@none.com",
                  phone="000-000-0000, 555-5555"), "25-002")
    d = _owner_decision(core_db_url, "25-002")
    assert d["decision_type"] == "rejected" and d["person"] is None, d
    assert ("email noemail@gmail.com is on the identity blocklist (a placeholder: the mailbox "
            "name says there is no email); email none@none.com is on the identity blocklist "
            "(fake domain)") in d["decision_reason"], d
    assert d["decision_reason"].endswith(
        "[the email cell lists 2, none usable: noemail@gmail.com, none@none.com]"), d
    # what worked keeps its words
    process(core_db_url, "clinichq", "owner_info",
            owner("25-003", "Eve", "Park", email="eve.park@x.org; eve@work.org"), "25-003")
    assert _owner_decision(core_db_url, "25-003")["decision_reason"].endswith(
        "[the email cell lists 2, the first used: eve.park@x.org, eve@work.org]")


def _route(url: str, rid: str, **fields: str) -> tuple[Any, Any]:
    payload = {"response_id": rid, "survey_date": "05/01/2026", "first_name": "Ann",
               "last_name": "Lee", "email": "", "phone": "",
               "address": "12 Oak St, Petaluma, CA 94952", "cat_count": "", "kittens_seen": ""}
    sid = stage(url, "client_survey", "responses", payload | fields, rid)
    val(url, "SELECT trapper.route_staged_record($1)", sid)
    [log] = sql(url, "SELECT target_entity_id, decision_reason, decision_details "
                     "FROM trapper.orchestrator_job_log WHERE staged_record_id = $1 "
                     "AND target_surface = 'sot_people' AND decision_details ? 'values'", sid)
    return log["target_entity_id"], log


def test_a_rule_passes_the_first_usable_as_a_processor_takes_it(db_url: str) -> None:
    """A rule's norm_email($1) and norm_phone_us($1) passed the cell's first valid entry, a
    placeholder the engine then refused: the person lost the usable one after it. Each cell
    of the class now gives through a rule what it gives through a processor."""
    for i, (cell, want) in enumerate(EMAIL_CELLS.items()):
        person, log = _route(db_url, f"e{i}", email=cell, phone=f"707-6{i:02d}-0000")
        got = {v for t, v in identifiers(db_url, person) if t == "email"}
        passed = json.loads(log["decision_details"])["values"]["email"]
        if want is None:
            assert got == set(), (cell, log["decision_reason"])
        else:
            assert passed == want and want in got, (cell, log["decision_reason"])
    # (one number in several cells: the rows are one person, who holds each row's numbers
    # and never a refused or foreign one)
    for i, (cell, numbers) in enumerate(PHONE_CELLS.items()):
        person, log = _route(db_url, f"p{i}", phone=cell, email=f"p{i}@x.org")
        held = {v for t, v in identifiers(db_url, person) if t == "phone"}
        assert set(numbers) <= held, (cell, log["decision_reason"])
        assert not held & {"5555555555", "2222222222", "3012345678"}, (cell, held)
    # the decision says which was passed, and what was refused before it
    _, log = _route(db_url, "d1", email="none@none.com; ann.d@x.org",
                    phone="555-555-5555 / 707-523-4444 / 707-523-5555")
    assert ("[email lists 2, the first usable passed: ann.d@x.org (none@none.com refused): "
            "none@none.com, ann.d@x.org; phone lists 3, the first usable passed: 7075234444 "
            "(5555555555 refused): 5555555555, 7075234444, 7075235555]"
            ) in log["decision_reason"], log["decision_reason"]
    values = json.loads(log["decision_details"])["values"]
    assert (values["email"], values["phone"], values["cell"]) == (
        "ann.d@x.org", "7075234444", "7075235555")
    # every entry refused: rejected with the blocklist's reason
    person, log = _route(db_url, "d2", email="none@none.com; noemail@gmail.com",
                         phone="555-555-5555 / 222-222-2222")
    assert person is None
    assert "email none@none.com is on the identity blocklist (fake domain)" in \
        log["decision_reason"], log["decision_reason"]
    assert "email lists 2, none usable, the first passed" in log["decision_reason"]


# a count as typed -> the count (None: no count, never a guess)
COUNTS: dict[str, int | None] = {
    "5": 5, "5.0": 5, "~5": 5, "about 12": 12, "5+": 5, "10 cats": 10, "3-4": 4,
    "3 to 4": 4, "3 or 4": 4, "5?": 5, "Roughly 20": 20, "0": 0,
    # thousands separators in threes, wherever a number is read
    "1,200": 1200, "1,200.0": 1200, "~1,200": 1200, "about 1,200 cats": 1200,
    "1,000-1,200": 1200, "5,000+": 5000, "999,999": 999999,
    # number words
    "six": 6, "about five cats": 5, "a dozen": 12, "about a dozen cats": 12,
    "half a dozen": 6,
    # no count: words that name no number, digits that may be one number or two, a
    # decimal or a thousand, two numbers that are no range, a sign, too many digits
    "a few": None, "several": None, "a couple": None, "dozens": None, "two dozen": None,
    "lots": None, "1 200": None, "1.200": None, "1,2": None, "12,34": None, "1,2345": None,
    "2 adults, 3 kittens": None, "-3": None, "3.5": None, "1,234,567": None,
    "1000000": None, "": None,
}


def test_counts_read_the_same_by_a_processor_and_a_rule(db_url: str) -> None:
    """payload_int and the rules' to_count($1) read every count of the class alike, and a
    rule's integer parameter takes what they read with thousands separators as written."""
    rows = sql(db_url, "SELECT raw, trapper.payload_int(raw) AS core, "
                       "trapper.orchestrator_to_count(raw) AS rule, "
                       "trapper.orchestrator_typed_value(raw, 'integer') AS typed "
                       "FROM unnest($1::text[]) raw", list(COUNTS))
    assert {r["raw"]: r["core"] for r in rows} == COUNTS
    assert {r["raw"]: r["rule"] for r in rows} == COUNTS
    for r in rows:
        if r["typed"] is not None and r["core"] is not None:
            assert int(r["typed"]) == r["core"], r


def _request(case: str, total: str) -> dict[str, Any]:
    return {"Case Number": case, "Case Status": "New", "Created": "2025-03-14",
            "First Name": "Ann", "Last Name": "Lee", "Clean Email": f"{case}@x.org",
            "Address": f"{case[-1]} Oak St", "City": "Santa Rosa", "Zip": "95404",
            "Total Cats to be trapped": total}


def test_a_count_with_a_thousands_separator_through_a_processor_and_a_rule(
        db_url: str) -> None:
    """A trapping request's "1,200" was no count (the field empty and counted as
    unrecognised); a rule's to_count($1) gave nothing for it. Both give 1200 now, and "a
    few" stays no count, counted, on either path."""
    for case, total in (("TR-1", "1,200"), ("TR-2", "a dozen"), ("TR-3", "a few")):
        process(db_url, "airtable", "trapping_requests", _request(case, total), case)
    got = {r["source_record_id"]: r["total"] for r in sql(
        db_url, "SELECT source_record_id, estimated_cat_count AS total "
                "FROM trapper.sot_requests")}
    assert got == {"TR-1": 1200, "TR-2": 12, "TR-3": None}
    assert {r["value"] for r in sql(db_url, "SELECT value FROM trapper.unrecognised_values "
                                            "WHERE field = 'Total Cats to be trapped'")
            } == {"a few"}
    execute(db_url, "UPDATE trapper.orchestrator_routing_rules "
                    "SET transform_expression = 'to_count($1)' "
                    "WHERE source_system = 'client_survey' AND source_field = 'cat_count'")
    for rid, count in (("c1", "1,200"), ("c2", "about a dozen cats"), ("c3", "a few")):
        _route(db_url, rid, email=f"{rid}@x.org", cat_count=count,
               address=f"{rid[-1]} Elm St, Petaluma, CA 94952")
    assert sorted(r[0] for r in sql(
        db_url, "SELECT total_cats FROM trapper.place_colony_estimates "
                "WHERE source_system = 'client_survey'")) == [12, 1200]
    said = [r[0] for r in sql(db_url, "SELECT decision_reason FROM trapper.orchestrator_job_log "
                                      "WHERE action = 'skipped'")]
    assert "skipped: to_count($1) gave nothing for cat_count = 'a few'" in said, said


def test_the_seeded_count_rules_read_a_count_as_the_processor_does(db_url: str) -> None:
    """Orchestrator 025: the seeded rule of a trapping request's "Total Cats to be trapped"
    reads "~5" (to_count), as process_airtable_trapping_request does; it was a strict
    to_integer($1), which skipped it, so the same cell gave a colony estimate by one path and
    none by the other."""
    rules = sql(db_url, "SELECT source_system, transform_expression, rule_version "
                        "FROM trapper.orchestrator_routing_rules "
                        "WHERE target_function = 'add_colony_estimate' "
                        "AND source_system IN ('airtable', 'web_intake') ORDER BY 1")
    assert [(r["source_system"], r["transform_expression"]) for r in rules] == [
        ("airtable", "to_count($1)"), ("web_intake", "to_count($1)")]
    assert all(r["rule_version"] > 1 for r in rules)    # a changed rule names its version
    sid = stage(db_url, "airtable", "trapping_requests", _request("TR-9", "~5"), "TR-9")
    val(db_url, "SELECT trapper.route_staged_record($1)", sid)
    assert [r[0] for r in sql(
        db_url, "SELECT total_cats FROM trapper.place_colony_estimates "
                "WHERE source_system = 'airtable'")] == [5]
