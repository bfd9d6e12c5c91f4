"""Every trap of docs/research/atlas-data.md §2 shows the right outcome; merges never chain;
concurrent
creators meet on one entity."""

from __future__ import annotations

import anyio
import asyncpg
import pytest

from tests.entities import identifiers, owner, people, process
from tests.helpers import sql, val


def decisions(url: str) -> list[tuple[str, str]]:
    return [(r["decision_type"], r["decision_reason"]) for r in sql(
        url, "SELECT decision_type, decision_reason FROM trapper.data_engine_match_decisions "
             "ORDER BY decision_id")]


def test_the_organisation_is_not_a_person(db_url: str) -> None:
    out = process(db_url, "clinichq", "owner_info", owner(
        "25-1", "Forgotten Felines", "Foster Program", email="info@forgottenfelines.com",
        phone="707-576-7999"))
    assert out["entity_type"] == "clinic_account"
    assert people(db_url) == []
    acct = sql(db_url, "SELECT account_type FROM trapper.clinic_accounts")
    assert [r["account_type"] for r in acct] == ["organization"]
    kind, reason = decisions(db_url)[0]
    assert kind == "rejected" and "organisation" in reason


def test_the_org_landline_and_fake_emails_are_not_identifiers(db_url: str) -> None:
    process(db_url, "clinichq", "owner_info", owner(
        "25-2", "Maria", "Lopez", email="maria.lopez@gmail.com", phone="(707) 576-7999"))
    process(db_url, "clinichq", "owner_info", owner(
        "25-3", "Tom", "Reed", email="none", cell="707-823-4411"))
    process(db_url, "clinichq", "owner_info", owner(
        "25-4", "Ann", "Cole", email="noemail@noemail.com", cell="707.823.4412"))
    maria, tom, ann = people(db_url)
    # (a Gmail address is held as its mailbox: dots aside, core 034)
    assert identifiers(db_url, maria["person_id"]) == {("email", "marialopez@gmail.com")}
    assert identifiers(db_url, tom["person_id"]) == {("phone", "7078234411")}
    assert identifiers(db_url, ann["person_id"]) == {("phone", "7078234412")}


def test_a_rejected_record_says_which_identifiers_were_refused_and_why(db_url: str) -> None:
    # "no usable email or phone" alone hid an email that was there and refused
    process(db_url, "clinichq", "owner_info", owner(
        "25-5", "Lee", "Park", email="lee@noemail.com", phone="707-576-7999", cell="12345"))
    process(db_url, "clinichq", "owner_info", owner("25-6", "Kim", "Ng", email="kim at home"))
    (k1, r1), (k2, r2) = decisions(db_url)
    assert (k1, k2) == ("rejected", "rejected")
    assert r1 == ("no usable email or phone (never matched or created on a name alone): email "
                  "lee@noemail.com is on the identity blocklist (fake domain); phone 7075767999 "
                  "is on the identity blocklist (the organisation's own landline, used as a "
                  "placeholder); phone '12345' is not a US number (5 digits: a US number "
                  "has 10 (an area code missing?))")
    assert r2.endswith(": email 'kim at home' is not an email address")
    # example.com is the domain examples are written with, not a fake one (core 026)
    process(db_url, "clinichq", "owner_info", owner("25-7", "Ann", "Ray",
                                                    email="ann.ray@example.com"))
    assert [p["display_name"] for p in people(db_url)] == ["Ann Ray"]


def test_a_shared_household_phone_does_not_merge_different_names(db_url: str) -> None:
    process(db_url, "clinichq", "owner_info", owner(
        "25-5", "Linda", "Nguyen", phone="707-544-1000", cell="707-544-2001"))
    process(db_url, "clinichq", "owner_info", owner(
        "25-6", "Kevin", "Nguyen", phone="707-544-1000", cell="707-544-2002"))
    # the first member again, known only by the household line
    process(db_url, "clinichq", "owner_info", owner(
        "25-7", "Linda", "Nguyen", phone="707 544 1000"))
    ps = people(db_url)
    assert len(ps) == 2
    assert ps[0]["household_id"] is not None and ps[0]["household_id"] == ps[1]["household_id"]
    kinds = [d[0] for d in decisions(db_url)]
    assert kinds == ["new_entity", "household_member", "auto_match"]
    assert "shared phone" in decisions(db_url)[2][1]


def test_seven_tenants_on_one_phone_stay_seven_people(db_url: str) -> None:
    for i, first in enumerate(["Ana", "Ben", "Cal", "Dee", "Eli", "Fay", "Gus"]):
        process(db_url, "clinichq", "owner_info", owner(
            f"25-1{i}", first, "Tenant", phone="707-555-0000".replace("555", "524"),
            address=f"400 Oak St Apt {i + 1}, Santa Rosa, CA 95404"))
    assert len(people(db_url)) == 7
    assert val(db_url, "SELECT count(*) FROM trapper.places") == 7


@pytest.mark.parametrize(("first", "last", "kind"), [
    ("Speedy Creek Winery", "Speedy Creek Winery", "business"),
    ("Petaluma Poultry", "", "business"),
    ("Rebooking", "placeholder", "placeholder"),
    ("SCAS", "", "agency"),
])
def test_businesses_placeholders_and_agencies_are_accounts(
    db_url: str, first: str, last: str, kind: str
) -> None:
    out = process(db_url, "clinichq", "owner_info", owner("25-20", first, last,
                                                          cell="707-525-1111"))
    assert out["entity_type"] == "clinic_account"
    assert people(db_url) == []
    assert val(db_url, "SELECT account_type FROM trapper.clinic_accounts") == kind


def test_surnames_that_look_like_words_are_people(db_url: str) -> None:
    process(db_url, "clinichq", "owner_info", owner("25-21", "Joan", "Farmer",
                                                    cell="707-525-2222"))
    process(db_url, "clinichq", "owner_info", owner("25-22", "Lou", "Franchetti",
                                                    cell="707-525-3333"))
    assert [p["last_name"] for p in people(db_url)] == ["Farmer", "Franchetti"]


def test_an_address_typed_as_the_name_becomes_a_place(db_url: str) -> None:
    out = process(db_url, "clinichq", "owner_info", owner("25-23", "5512 Old Stony Pt Rd", ""))
    assert out["entity_type"] == "place"
    assert people(db_url) == []
    assert val(db_url, "SELECT address_key FROM trapper.places") == "5512|old stony pt rd||"


def test_a_name_alone_never_matches_or_creates_from_a_clinic_row(db_url: str) -> None:
    process(db_url, "clinichq", "owner_info", owner("25-24", "Pat", "Quinn"))
    assert people(db_url) == []
    assert decisions(db_url)[0][0] == "rejected"
    # Staff may create a person from a name alone, but two such entries never merge.
    for _ in range(2):
        process(db_url, "atlas_ui", "manual_entry", {"entry_id": "x", "first_name": "Pat",
                                                     "last_name": "Quinn"})
    ps = people(db_url)
    assert len(ps) == 2
    assert all(identifiers(db_url, p["person_id"]) == set() for p in ps)


def test_nicknames_typos_case_and_first_name_only_match_through_an_identifier(
    db_url: str,
) -> None:
    process(db_url, "clinichq", "owner_info", owner(
        "25-30", "Robert", "Jones", email="Rob.Jones@Sonic.net", cell="707-526-1212"))
    process(db_url, "shelterluv", "people", {"Internal-ID": "1", "Firstname": "Bob",
                                             "Lastname": "Jones",
                                             "Email": " rob.jones@sonic.net "})
    process(db_url, "clinichq", "owner_info", owner("25-31", "Rboert", "JONES",
                                                    cell="(707) 526-1212"))
    process(db_url, "clinichq", "owner_info", owner("25-32", "Robert", "",
                                                    cell="707-526-1212"))
    assert len(people(db_url)) == 1
    assert [d[0] for d in decisions(db_url)] == ["new_entity"] + ["auto_match"] * 3


def test_same_email_other_name_is_a_household_member_not_a_match(db_url: str) -> None:
    process(db_url, "clinichq", "owner_info", owner("25-33", "Sara", "Kim",
                                                    email="kimfamily@gmail.com"))
    process(db_url, "clinichq", "owner_info", owner("25-34", "Daniel", "Kim",
                                                    email="kimfamily@gmail.com"))
    assert len(people(db_url)) == 2
    assert decisions(db_url)[1][0] == "household_member"


def test_petlink_identifiers_carry_low_confidence(db_url: str) -> None:
    process(db_url, "petlink", "pets", {"Microchip": "981020000000077", "ID": "3000001",
                                        "Name": "Tux", "Owner": "Lohrman",
                                        "First Name": "Gordon",
                                        "Email": "gordon@lohrmanln.com"})
    conf = val(db_url, "SELECT confidence FROM trapper.person_identifiers "
                       "WHERE id_type = 'email'")
    assert float(conf) < 0.5


def test_decisions_carry_the_score_breakdown_and_source(db_url: str) -> None:
    process(db_url, "clinichq", "owner_info", owner("25-40", "Ada", "Byrne",
                                                    email="ada@byrne.org"), row_id="r1")
    process(db_url, "clinichq", "owner_info", owner("25-41", "Ada", "Byrne",
                                                    email="ada@byrne.org"), row_id="r2")
    row = sql(db_url, "SELECT * FROM trapper.data_engine_match_decisions "
                      "WHERE source_row_id = 'r2'")[0]
    assert row["decision_type"] == "auto_match"
    assert row["staged_record_id"] is not None and row["source_table"] == "owner_info"
    import json

    breakdown = json.loads(row["score_breakdown"])
    assert breakdown["name_level"] == "exact" and breakdown["email"] > 10
    assert breakdown["thresholds"] == {"auto": 12, "review": 4}
    assert row["resulting_person_id"] == row["top_candidate_id"]


def test_the_match_threshold_is_configuration(db_url: str) -> None:
    sql(db_url, "UPDATE trapper.identity_config SET value = 40 "
                "WHERE key = 'auto_match_threshold'")
    process(db_url, "clinichq", "owner_info", owner("25-42", "Ada", "Byrne",
                                                    email="ada@byrne.org"))
    process(db_url, "clinichq", "owner_info", owner("25-43", "Ada", "Byrne",
                                                    email="ada@byrne.org"))
    assert [d[0] for d in decisions(db_url)] == ["new_entity", "review_pending"]


# ---- cats --------------------------------------------------------------------------------

def cat_row(number: str, chip: str, name: str = "Tux") -> dict[str, str]:
    return {"Number": number, "Date": "03/14/2025", "Animal Name": name,
            "Microchip Number": chip, "Sex": "Male", "Breed": "DSH", "Primary Color": "Black"}


def cats(url: str) -> list:
    return sql(url, "SELECT * FROM trapper.sot_cats WHERE merged_into_cat_id IS NULL")


def chips(url: str) -> set[str]:
    return {r["id_value"] for r in sql(url, "SELECT id_value FROM trapper.cat_identifiers "
                                            "WHERE id_type = 'microchip'")}


def test_a_chip_typed_into_the_name_field_is_found(db_url: str) -> None:
    process(db_url, "clinichq", "cat_info", cat_row("25-50", "", name="981020012345678"))
    process(db_url, "petlink", "pets", {"Microchip": "981-020012-345678", "ID": "9",
                                        "Name": "Tux", "Owner": "", "First Name": "",
                                        "Email": ""})
    assert len(cats(db_url)) == 1
    assert chips(db_url) == {"981020012345678"}
    assert cats(db_url)[0]["display_name"] is None or cats(db_url)[0]["display_name"] == "Tux"


def test_junk_chips_never_merge_two_chipless_cats(db_url: str) -> None:
    process(db_url, "clinichq", "cat_info", cat_row("25-51", "000000000000000"))
    process(db_url, "clinichq", "cat_info", cat_row("25-52", "000000000000000"))
    process(db_url, "clinichq", "cat_info", cat_row("25-53", "123456789"))
    assert len(cats(db_url)) == 3
    assert chips(db_url) == set()


def test_chip_formats_and_a_glued_shelter_id(db_url: str) -> None:
    process(db_url, "clinichq", "cat_info", cat_row("25-54", "900 164 000 000 001"))
    process(db_url, "shelterluv", "animals", {
        "Internal-ID": "900123", "ID": "A123456", "Name": "Tux",
        "Microchips": [{"Id": "900123900164000000001"}]})
    process(db_url, "clinichq", "cat_info", cat_row("25-55", "1A2B3C4D5E"))
    assert len(cats(db_url)) == 2
    assert chips(db_url) == {"900164000000001", "1A2B3C4D5E"}


def test_a_chipless_clinic_cat_is_one_cat_across_visits(db_url: str) -> None:
    process(db_url, "clinichq", "cat_info", cat_row("25-56", ""))
    row = cat_row("25-56", "")
    row["Date"] = "04/14/2025"
    process(db_url, "clinichq", "cat_info", row)
    assert len(cats(db_url)) == 1


def test_a_re_exported_appointment_is_one_appointment(db_url: str) -> None:
    appt = cat_row("25-57", "981020000000001") | {"All Services": ["Neuter"]}
    process(db_url, "clinichq", "appointment_info", appt)
    process(db_url, "clinichq", "appointment_info", appt)
    assert val(db_url, "SELECT count(*) FROM trapper.sot_appointments") == 1


# ---- places ------------------------------------------------------------------------------

def place(url: str, address: str, lat: float | None = None, lng: float | None = None) -> str:
    return str(val(url, "SELECT trapper.find_or_create_place_deduped($1, NULL, $2, $3)",
                   address, lat, lng))


def test_addresses_written_several_ways_are_one_place(db_url: str) -> None:
    forms = ["1234 Main Street, Santa Rosa, CA 95404", "1234 MAIN ST SANTA ROSA CA 95404",
             "1234 Main St., Santa Rosa, CA, 95404, USA", "1234  Main St, Santa Rosa, CA",
             "1234 Main St, Santa Rosa, CA 95404-1234"]
    assert len({place(db_url, f) for f in forms}) == 1
    assert place(db_url, "1234 Main St Apt 5, Santa Rosa, CA") != place(
        db_url, "1234 Main St, Santa Rosa, CA")
    assert place(db_url, "1234 Main St #5 Santa Rosa CA 95404") == place(
        db_url, "1234 Main St, Apt. 5, Santa Rosa, CA 95404")


def test_within_ten_metres_matches_but_never_across_house_numbers(db_url: str) -> None:
    a = place(db_url, "100 Hearn Ave, Santa Rosa, CA", 38.41, -122.72)
    # same house, town typed differently, 5 m away: the same place
    assert place(db_url, "100 Hearn Ave, Sta Rosa, CA", 38.41004, -122.72) == a
    # the neighbour 2 m away is another place
    assert place(db_url, "102 Hearn Ave, Sta Rosa, CA", 38.41002, -122.72) != a
    # same house 50 m away under another spelling: not matched by distance
    assert place(db_url, "100 Hearn Ave, Santa Rosa Beach, CA", 38.4105, -122.72) != a


def test_merges_never_form_chains(db_url: str) -> None:
    a = place(db_url, "1 A St, Santa Rosa, CA")
    b = place(db_url, "2 B St, Santa Rosa, CA")
    c = place(db_url, "3 C St, Santa Rosa, CA")
    sql(db_url, "UPDATE trapper.places SET merged_into_place_id = $2 WHERE place_id = $1", a, b)
    sql(db_url, "UPDATE trapper.places SET merged_into_place_id = $2 WHERE place_id = $1", b, c)
    targets = {str(r["place_id"]): str(r["merged_into_place_id"]) for r in sql(
        db_url, "SELECT place_id, merged_into_place_id FROM trapper.places "
                "WHERE merged_into_place_id IS NOT NULL")}
    assert targets == {a: c, b: c}
    with pytest.raises(asyncpg.RaiseError, match="into itself"):
        sql(db_url, "UPDATE trapper.places SET merged_into_place_id = $1 WHERE place_id = $2",
            a, c)


async def _race(url: str, query: str, *args: object) -> list[object]:
    """Run ``query`` on two connections whose transactions overlap: the second starts
    while the first has not committed."""
    c1, c2 = await asyncpg.connect(url), await asyncpg.connect(url)
    results: list[object] = []
    try:
        t1, t2 = c1.transaction(), c2.transaction()
        await t1.start()
        await t2.start()
        results.append(await c1.fetchval(query, *args))

        async def second() -> None:
            results.append(await c2.fetchval(query, *args))
            await t2.commit()

        async with anyio.create_task_group() as tg:
            tg.start_soon(second)
            await anyio.sleep(0.3)   # the second is now waiting on the first
            await t1.commit()
    finally:
        await c1.close()
        await c2.close()
    return results


def test_two_workers_creating_the_same_person_at_once_make_one(db_url: str) -> None:
    results = anyio.run(_race, db_url, "SELECT trapper.find_or_create_person("
                        "'same@person.org', NULL, 'Ann', 'Lee', NULL, 'clinichq')")
    assert results[0] == results[1]
    assert len(people(db_url)) == 1


def test_two_workers_creating_the_same_place_at_once_make_one(db_url: str) -> None:
    results = anyio.run(_race, db_url, "SELECT trapper.find_or_create_place_deduped("
                        "'77 Oak St, Petaluma, CA')")
    assert results[0] == results[1]
    assert val(db_url, "SELECT count(*) FROM trapper.places") == 1


def test_two_workers_creating_the_same_cat_at_once_make_one(db_url: str) -> None:
    results = anyio.run(_race, db_url, "SELECT trapper.find_or_create_cat_by_microchip("
                        "'981020000000555')")
    assert results[0] == results[1]
    assert len(cats(db_url)) == 1


async def _second_does_not_wait(url: str, query: str) -> tuple[object, object]:
    """``query`` once to create its entity, then in an open transaction, then again on a
    second connection that gives up on any lock after 300 ms: matching what is already there
    must not make workers queue."""
    c0, c1, c2 = [await asyncpg.connect(url) for _ in range(3)]
    try:
        await c0.fetchval(query)
        t1 = c1.transaction()
        await t1.start()
        first = await c1.fetchval(query)
        await c2.execute("SET lock_timeout = '300ms'")
        second = await c2.fetchval(query)
        await t1.rollback()
        return first, second
    finally:
        for c in (c0, c1, c2):
            await c.close()


def test_matching_an_existing_person_takes_no_lock(db_url: str) -> None:
    q = ("SELECT trapper.find_or_create_person('known@person.org', NULL, 'Ann', 'Lee', NULL, "
         "'clinichq')")
    first, second = anyio.run(_second_does_not_wait, db_url, q)
    assert first == second
    assert len(people(db_url)) == 1


def test_matching_an_existing_cat_takes_no_lock(db_url: str) -> None:
    q = "SELECT trapper.find_or_create_cat_by_microchip('981020000000777', 'Tom', 'Male')"
    first, second = anyio.run(_second_does_not_wait, db_url, q)
    assert first == second
    assert len(cats(db_url)) == 1


def test_a_town_less_address_joins_the_place_that_names_its_town(db_url: str) -> None:
    bare = place(db_url, "5512 Oak Rd")
    full = place(db_url, "5512 Oak Road, Santa Rosa, CA 95404")
    assert bare != full
    assert str(val(db_url, "SELECT trapper.get_canonical_place_id($1)", bare)) == full
    assert val(db_url, "SELECT count(*) FROM trapper.places "
                       "WHERE merged_into_place_id IS NULL") == 1
    # and later town-less mentions find it directly
    assert place(db_url, "5512 OAK RD") == full


def test_what_is_dropped_and_what_the_rejection_says_agree(db_url: str) -> None:
    """usable_email / usable_phone (the values matched on) and identifiers_refused (the
    rejection's reason) share one blocklist lookup, trapper.identifier_blocked: over many
    values, a value is dropped exactly when the reason names it, with the blocklist's own
    reason when it is blocklisted."""
    sql(db_url, "INSERT INTO trapper.identity_blocklist VALUES "
                "('email', 'front.desk@clinic.org', 'the clinic''s front desk'), "
                "('email', 'x@noemail.com', 'listed twice: as itself and by its domain')")
    emails = [f"{user}@{domain}" for user in ("ann", "Front.Desk", "X", "bo+cats")
              for domain in ("gmail.com", "NoEmail.com", "clinic.org", "example.com",
                             "forgottenfelines.com", "none.co", "", "sub.none.com")]
    emails += ["", "   ", "not an email", "ann@@gmail.com", "@gmail.com", "front.desk@clinic.org"]
    phones = [f"{area}{line}" for area in ("707", "(707) ", "+1 707-", "415")
              for line in ("5767999", "565-7100", "555-0123", "823-1000", "555-1212", "12")]
    phones += ["", "n/a", "7075767999 ext 2", "17075657100"]
    rows = sql(db_url, """
        SELECT v AS value, 'email' AS kind, trapper.usable_email(v) IS NULL AS dropped,
               trapper.identifiers_refused(v, '{}') AS said,
               trapper.identifier_blocked('email', trapper.norm_email(v)) AS why
        FROM unnest($1::text[]) v
        UNION ALL
        SELECT v, 'phone', trapper.usable_phone(v) IS NULL,
               trapper.identifiers_refused(NULL, ARRAY[v]),
               trapper.identifier_blocked('phone', trapper.norm_phone_us(v))
        FROM unnest($2::text[]) v""", emails, phones)
    assert len(rows) == len(emails) + len(phones) > 60
    blank = [r for r in rows if not r["value"].strip()]
    assert all(r["dropped"] and r["said"] is None for r in blank)
    for r in rows:
        if not r["value"].strip():
            continue
        assert r["dropped"] == (r["said"] is not None), dict(r)
        if r["why"] is not None:
            assert r["dropped"] and f"on the identity blocklist ({r['why']})" in r["said"]
    blocked = {r["value"] for r in rows if r["why"] is not None}
    assert {"Front.Desk@clinic.org", "ann@NoEmail.com", "ann@forgottenfelines.com",
            "7075767999", "(707) 565-7100", "X@NoEmail.com"} <= blocked
    assert next(r["why"] for r in rows if r["value"] == "X@NoEmail.com") \
        == "listed twice: as itself and by its domain"   # the address before its domain


def test_nameless_records_of_one_email_are_its_one_holder(db_url: str) -> None:
    # Email alone from ClinicHQ (confidence 0.9) weighs 11.89, below auto-match (12): each
    # nameless row of one email made one more person, queued for review (core 044).
    for n in ("44-1", "44-2", "44-3"):
        process(db_url, "clinichq", "owner_info", owner(n, "", "", email="pat@example.org"))
    # a named row of that email belongs to the person the nameless ones made
    process(db_url, "clinichq", "owner_info", owner("44-4", "Pat", "Lee",
                                                    email="pat@example.org"))
    assert len(people(db_url)) == 1
    kinds = [k for k, _ in decisions(db_url)]
    assert kinds == ["new_entity", "auto_match", "auto_match", "auto_match"]
    reason = decisions(db_url)[1][1]
    assert reason == ("matched existing person via email (log-odds 11.89, name unknown): below "
                      "the 12 auto-match threshold, but one side has no name and no one else "
                      "holds the identifiers")
    assert val(db_url, "SELECT count(*) FROM trapper.data_engine_match_decisions "
                       "WHERE review_status = 'pending'") == 0
    # the person the nameless rows made takes the first name that joins it
    assert [dict(r) for r in sql(db_url, "SELECT display_name, first_name, last_name "
                                         "FROM trapper.sot_people")] \
        == [{"display_name": "Pat Lee", "first_name": "Pat", "last_name": "Lee"}]
    # and another name on that email is now told apart (a household member), its name kept
    process(db_url, "clinichq", "owner_info", owner("44-4b", "Sam", "Lee",
                                                    email="pat@example.org"))
    assert [k for k, _ in decisions(db_url)][4:] == ["household_member"]
    assert sorted(r["display_name"] for r in sql(db_url, "SELECT display_name FROM "
                                                         "trapper.sot_people")) \
        == ["Pat Lee", "Sam Lee"]


def test_a_nameless_record_is_not_given_to_one_of_several_holders(db_url: str) -> None:
    # Two people of two names hold the email (a household's): a record with no name could be
    # either; it stays a possible match for a person to settle, as before.
    process(db_url, "clinichq", "owner_info", owner("44-5", "Ann", "Cole",
                                                    email="coles@example.org"))
    process(db_url, "clinichq", "owner_info", owner("44-6", "Bob", "Cole",
                                                    email="coles@example.org"))
    process(db_url, "clinichq", "owner_info", owner("44-7", "", "", email="coles@example.org"))
    assert [k for k, _ in decisions(db_url)] == ["new_entity", "household_member",
                                                 "review_pending"]
    # and a phone several people hold is no sole holder either: below review, a new person
    process(db_url, "clinichq", "owner_info", owner("44-8", "Cy", "Ray", phone="707-823-4419"))
    process(db_url, "clinichq", "owner_info", owner("44-9", "Di", "Ray", phone="707-823-4419"))
    process(db_url, "clinichq", "owner_info", owner("44-10", "", "", phone="707-823-4419"))
    assert [k for k, _ in decisions(db_url)][3:] == ["new_entity", "household_member",
                                                     "new_entity"]


def test_the_entry_point_weighs_the_address_it_reads_only_for_a_candidate(db_url: str) -> None:
    """find_or_create_person hands the resolver an address, not its key: the key is read
    once a candidate is there to compare it with (core 049), and weighs as it did."""
    process(db_url, "clinichq", "owner_info", owner(
        "49-1", "Ann", "Lee", email="ann.lee@sonic.net", phone="707-555-0101",
        address="12 Oak St, Sonoma, CA 95476"))
    find = ("SELECT trapper.find_or_create_person($1, NULL, 'Ann', 'Lee', $2, 'test')")
    same = val(db_url, find, "ann.lee@sonic.net", "12 Oak Street, Sonoma, CA 95476")
    other = val(db_url, find, "ann.lee@sonic.net", "40 Elm St, Petaluma, CA 94952")
    none = val(db_url, find, "ann.lee@sonic.net", None)
    assert same == other == none == people(db_url)[0]["person_id"]
    weights = [r["w"] for r in sql(db_url, """
        SELECT (score_breakdown ->> 'address')::numeric AS w
        FROM trapper.data_engine_match_decisions
        WHERE source_system = 'test' ORDER BY decision_id""")]
    assert weights[0] > 0 > weights[1]    # the same place agrees, another disagrees
    assert weights[2] == 0                # no address: unknown
