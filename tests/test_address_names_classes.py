"""Addresses and names of classes the synthetic world (synthetic/) never wrote, written by hand
(docs/identity.md, "Places" and "Names as people write them"; core 042): each class's forms of
one place or one person read as one, and what must stay apart stays apart. Two real places
wrongly joined is worse than one place left split, and a name never matches alone: the pairs
that must stay apart are as much the test as the pairs that must meet."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.entities import owner, people, process, rekey_places_keyed_before
from tests.helpers import sql, val
from tests.pg import Server


@pytest.fixture(scope="module")
def fn_db(pg: Server) -> Iterator[str]:
    """One database with the engines for the module's function calls (they write nothing)."""
    name = pg.create("core")
    try:
        yield pg.url(name)
    finally:
        pg.drop(name)


def keys(url: str, addresses: list[str]) -> dict[str, str | None]:
    return {r["a"]: r["k"] for r in sql(
        url, "SELECT a, trapper.address_key(a) AS k FROM unnest($1::text[]) a", addresses)}


# ---- addresses: the forms of one place, one key ------------------------------------------

# Each class: groups of the ways one address is written, and the key they all read as.
SAME: dict[str, list[tuple[str, list[str]]]] = {
    "rural route and highway contract boxes": [
        ("rr 2 box 14|rr 2||", [
            "RR 2 Box 14",
            "Rural Route 2 Box 14",
            "RR2 Box 14",
            "R.R. 2, Box 14",
        ]),
        ("hc 1 box 30|hc 1||", [
            "HC 1 Box 30",
            "HCR 1 Box 30",
            "Hc 1, Bx 30",
        ]),
    ],
    "numbered state highways and county roads": [
        ("12345|hwy 116||sebastopol", [
            "12345 State Hwy 116, Sebastopol, CA",
            "12345 Highway 116, Sebastopol, CA",
            "12345 CA-116, Sebastopol, CA",
            "12345 State Route 116 Sebastopol CA",
            "12345 Hwy 116 Sebastopol CA 95472",
        ]),
        ("450|co rd 12||orland", [
            "450 County Road 12, Orland, CA",
            "450 CR 12, Orland, CA",
            "450 Co Rd 12, Orland, CA",
            "450 County Rd 12 Orland CA",
            "450 CR 12 Orland CA",
        ]),
        ("12|hwy 128||philo", [
            "12 SR 128 Philo CA",
            "12 CA-128 Philo CA",
            "12 Hwy 128, Philo",
        ]),
        ("12|hwy 128 n||philo", [
            "12 SR 128 N Philo CA",
            "12 State Route 128 North, Philo",
        ]),
    ],
    "farm to market, private roads and interstates": [
        ("99|fm 1960||houston", [
            "99 FM 1960, Houston, TX",
            "99 Farm to Market Rd 1960, Houston, TX",
            "99 FM Road 1960 Houston TX",
            "99 FM 1960 Houston TX",
            "99 FM-1960, Houston, TX",
        ]),
        ("12|pr 4512||gatesville", [
            "12 PR 4512, Gatesville, TX",
            "12 Private Road 4512, Gatesville, TX",
        ]),
        ("1|i 80 frontage rd||davis", [
            "1 Interstate 80 Frontage Rd, Davis",
            "1 I-80 Frontage Rd, Davis",
            "1 I 80 Frontage Road, Davis",
        ]),
    ],
    "fractional house numbers": [
        ("123 1/2|main st||petaluma", [
            "123 1/2 Main St, Petaluma, CA",
            "123-1/2 Main St, Petaluma, CA",
            "123½ Main St, Petaluma, CA",
            "123-1/2 Main Street Petaluma CA",
        ]),
    ],
    "Queens numbers and numbered streets without their ordinal ending": [
        ("35-20|81st st||jackson heights", [
            "35-20 81st St, Jackson Heights, NY",
            "35-20 81 St, Jackson Heights, NY",
            "35-20 Eighty-First Street, Jackson Heights, NY",
        ]),
        ("18|w 81st st||new york", [
            "18 W 81 St New York NY",
            "18 West 81st Street, New York, NY",
        ]),
        ("200|5th ave||new york", [
            "200 5 Ave, New York, NY",
            "200 Fifth Avenue New York NY",
        ]),
    ],
    "grid addresses": [
        ("1200|w 1200 n||provo", [
            "1200 W 1200 N, Provo, UT",
            "1200 West 1200 North, Provo, UT",
            "1200 W. 1200 N., Provo, UT 84604",
            "1200 West 1200 North Provo UT 84604",
        ]),
        ("1200|w 1200 n||st george", [
            "1200 W 1200 N St George UT 84770",
            "1200 W 1200 N, St George, UT",
            "1200 West 1200 North, Saint George, UT",
        ]),
        ("1200|w 1200 n||salt lake city", [
            "1200 W 1200 N Salt Lake City UT 84116",
            "1200 W 1200 N, Salt Lake City, UT",
        ]),
    ],
    "directionals and ordinal words": [
        ("100|n 5th st||petaluma", [
            "100 N 5th St, Petaluma, CA",
            "100 North Fifth Street, Petaluma, CA",
            "100 N. 5th Street Petaluma CA",
        ]),
        ("1600|pennsylvania ave nw||washington", [
            "1600 Pennsylvania Ave NW, Washington, DC 20500",
            "1600 Pennsylvania Avenue Northwest, Washington, DC 20500",
        ]),
    ],
    "a street type before an 'of the' name": [
        ("1221|ave of the americas||new york", [
            "1221 Avenue of the Americas, New York, NY",
            "1221 Ave of the Americas, New York, NY",
            "1221 Avenue Of The Americas New York NY 10020",
        ]),
        ("5|ave of the stars||los angeles", [
            "5 Ave of the Stars, Los Angeles",
            "5 Avenue of the Stars Los Angeles CA",
        ]),
    ],
    "Saint, Mount, Fort": [
        ("12|st james pl||petaluma", [
            "12 St. James Pl, Petaluma, CA",
            "12 Saint James Place, Petaluma, CA",
            "12 St James Pl Petaluma CA",
        ]),
        ("15|ste claire ave||sonoma", [
            "15 Ste Claire Ave, Sonoma",
            "15 Sainte Claire Ave, Sonoma",
        ]),
        ("44|mt vernon ave||petaluma", [
            "44 Mt Vernon Ave, Petaluma, CA",
            "44 Mount Vernon Avenue, Petaluma, CA",
        ]),
        ("9|ft ross rd||jenner", [
            "9 Ft Ross Rd, Jenner, CA",
            "9 Fort Ross Road, Jenner, CA",
        ]),
        ("3|mt shasta blvd||mt shasta", [
            "3 Mt Shasta Blvd Mt Shasta CA",
            "3 Mount Shasta Boulevard, Mount Shasta, California 96067",
        ]),
    ],
    "unit forms": [
        ("10|oak st|b|santa rosa", [
            "10 Oak St #B, Santa Rosa, CA",
            "10 Oak St Apt B, Santa Rosa, CA",
            "10 Oak St, Apt. B, Santa Rosa, CA",
            "10 Oak St Unit B Santa Rosa CA",
        ]),
        ("22|elm ave|3b|santa rosa", [
            "22 Elm Ave Apt. 3-B, Santa Rosa, CA",
            "22 Elm Ave Apt 3B, Santa Rosa, CA",
            "22 Elm Ave #3B, Santa Rosa, CA",
            "22 Elm Ave # 3-B Santa Rosa CA",
            "22 Elm Ave Unit 3-b, Santa Rosa",
        ]),
        ("500|stony pt rd|12|santa rosa", [
            "500 Stony Point Rd Spc 12, Santa Rosa, CA",
            "500 Stony Point Rd Space 12, Santa Rosa, CA",
            "500 Stony Point Rd Sp 12, Santa Rosa, CA",
            "500 Stony Point Rd #12, Santa Rosa, CA",
        ]),
        ("77|country ln|4|cloverdale", [
            "77 Country Ln Lot 4, Cloverdale, CA",
            "77 Country Lane, Lot 4, Cloverdale, CA",
        ]),
        ("88|main st|c|ukiah", [
            "88 Main St Bldg C, Ukiah, CA",
            "88 Main St Building C, Ukiah, CA",
            "88 Main St, Bldg. C, Ukiah, CA",
        ]),
        ("123|main st|4|ukiah", [
            "123 Main St Unit No. 4 Ukiah",
            "123 Main St Apartment Number 4, Ukiah",
            "123 Main St Apt #4, Ukiah",
            "123 Main St Trailer 4 Ukiah",
            "123 Main St Space #4 Ukiah",
        ]),
        ("123|main st|5|santa rosa", [
            "123 Main St 5 Santa Rosa CA",
            "123 Main St #5, Santa Rosa",
        ]),
    ],
    "case, spacing, punctuation, USA, ZIP+4 and a town with no comma": [
        ("123|main st||petaluma", [
            "123 Main St, Petaluma, CA 94952, USA",
            "123 Main St, Petaluma, CA 94952",
            "123 Main St Petaluma CA 94952-1234",
            "  123  MAIN  ST ,  PETALUMA , CA  94952 ",
            "123 main st, petaluma, ca",
            "123 Main St Petaluma CA 94952",
            ".123 Main St., Petaluma, CA.",
            "123 Main St, Petaluma, CA, United States",
            "123 Main St; Petaluma CA",
            "123 Main Street\nPetaluma, CA 94952",
        ]),
        ("700|s main st|4|santa rosa", [
            "700 S. Main St. Apt. #4, Santa Rosa, CA 95404",
            "Apt 4 700 S Main St Santa Rosa",
            "700 South Main Street; Apt 4; Santa Rosa",
        ]),
    ],
}


@pytest.mark.parametrize("cls", list(SAME))
def test_each_way_of_writing_an_address_reads_as_its_key(fn_db: str, cls: str) -> None:
    for key, forms in SAME[cls]:
        got = keys(fn_db, forms)
        assert set(got.values()) == {key}, got


# Two real places: never one key (the worse error). Each pair differs in one thing.
APART = [
    ("100 N 5th St, Petaluma", "100 S 5th St, Petaluma"),
    ("123 Main St, Petaluma", "123 1/2 Main St, Petaluma"),
    ("35-20 81st St, Jackson Heights, NY", "35-22 81st St, Jackson Heights, NY"),
    ("35-20 81st St, Jackson Heights, NY", "35 81st St, Jackson Heights, NY"),
    ("RR 2 Box 14", "RR 2 Box 15"), ("RR 2 Box 14", "RR 3 Box 14"), ("HC 1 Box 30", "RR 1 Box 30"),
    ("12345 Hwy 116, Sebastopol", "12345 Hwy 16, Sebastopol"),
    ("450 County Road 12, Orland", "450 County Road 21, Orland"),
    ("99 FM 1960, Houston, TX", "99 FM 1961, Houston, TX"),
    ("99 FM 1960, Houston, TX", "99 Hwy 1960, Houston, TX"),
    ("1 I-80 Frontage Rd, Davis", "1 Hwy 80 Frontage Rd, Davis"),
    ("12 St James Pl, Petaluma", "12 James Pl, Petaluma"),
    ("12 St James Pl, Petaluma", "12 St James St, Petaluma"),
    ("10 Oak St #B, Santa Rosa", "10 Oak St #C, Santa Rosa"),
    ("10 Oak St Apt B, Santa Rosa", "10 Oak St, Santa Rosa"),
    ("22 Elm Ave Apt 3-4, Santa Rosa", "22 Elm Ave Apt 34, Santa Rosa"),
    ("500 Stony Point Rd Spc 12, Santa Rosa", "500 Stony Point Rd Spc 21, Santa Rosa"),
    ("77 Country Ln Lot 4, Cloverdale", "77 Country Ln Lot 5, Cloverdale"),
    ("88 Main St Bldg C Apt 1, Ukiah", "88 Main St Bldg D Apt 1, Ukiah"),
    ("123 Main St 5 Santa Rosa CA", "123 Main St Santa Rosa CA"),
    ("1200 W 1200 N, Provo, UT", "1200 W 1200 S, Provo, UT"),
    ("1200 W 1200 N, Provo, UT", "1200 E 1200 N, Provo, UT"),
    ("1200 W 1200 N Provo UT", "1200 W 1200 S Provo UT"),
    ("123 Main St Petaluma CA 94952", "123 Main St Penngrove CA 94951"),
    ("123 Main St, Petaluma", "123 Main Ave, Petaluma"),
    ("200 5 Ave, New York", "200 5 St, New York"),
    ("18 W 81 St New York NY", "18 E 81 St New York NY"),
    ("1221 Avenue of the Americas New York NY", "1221 Avenue of the Stars New York NY"),
    ("1600 Pennsylvania Ave NW, Washington, DC", "1600 Pennsylvania Ave SE, Washington, DC"),
    ("4 Mt Vernon Ave, Petaluma", "4 Vernon Ave, Petaluma"),
    ("10 Oak St Unit 1 Bldg 2, Ukiah", "10 Oak St Unit 2 Bldg 1, Ukiah"),
    # a number that is the street's own stays the street's ("4 Corners Rd", "7 Mile Rd")
    ("123 4 Corners Rd, Sebastopol", "123 4th Corners Rd, Sebastopol"),
    # known limits, kept apart rather than guessed: Queens's hyphen left out, a street's
    # name written as one word or two, an initialism for a name
    ("35-20 81st St, Jackson Heights, NY", "3520 81st St, Jackson Heights, NY"),
    ("17 Bay View Ter, Benicia", "17 Bayview Terrace, Benicia"),
    ("5 MLK Jr Blvd, Oakland", "5 Martin Luther King Jr Blvd, Oakland"),
]


@pytest.mark.parametrize(("a", "b"), APART)
def test_two_places_keep_two_keys(fn_db: str, a: str, b: str) -> None:
    got = keys(fn_db, [a, b])
    assert got[a] is not None and got[b] is not None, got
    assert got[a] != got[b], got


def test_the_classes_meet_as_places(db_url: str) -> None:
    """Through the engines' own path: one place for each address however it is written."""
    groups = [["123-1/2 Main St, Petaluma, CA", "123 1/2 Main St, Petaluma, CA"],
              ["35-20 81 St, Jackson Heights, NY", "35-20 81st Street, Jackson Heights, NY"],
              ["22 Elm Ave Apt. 3-B, Santa Rosa, CA", "22 Elm Ave #3B, Santa Rosa, CA"],
              ["99 FM Road 1960 Houston TX 77070", "99 FM 1960, Houston, TX"]]
    made = []
    for forms in groups:
        ids = {str(val(db_url, "SELECT trapper.find_or_create_place_deduped($1, NULL, NULL, NULL)",
                       f)) for f in forms}
        assert len(ids) == 1, forms
        made.append(ids.pop())
    assert len(set(made)) == len(groups)


def test_places_keyed_before_042_take_the_new_keys(db_url: str) -> None:
    # the keys the parser before 042 gave (042 runs rekey_places)
    old = [("35-20 81 St, Jackson Heights, NY", "35-20|81 st||jackson heights"),
           ("35-20 81st St, Jackson Heights, NY", "35-20|81st st||jackson heights"),
           ("22 Elm Ave # 3-B Santa Rosa CA", "22|elm ave|3-b|santa rosa"),
           ("1200 West 1200 North Provo UT 84604", "1200|w 1200 n provo||84604")]
    out, live = rekey_places_keyed_before(db_url, old)
    assert (out["rekeyed"], out["merged"]) == (2, 1)
    assert live == {"35-20|81st st||jackson heights", "22|elm ave|3b|santa rosa",
                    "1200|w 1200 n||provo"}


# ---- names ------------------------------------------------------------------------------

def compare(url: str, a: tuple[str, str], b: tuple[str, str]) -> tuple[str, str]:
    """name_compare both ways round: the answer must not depend on which record came first."""
    row = sql(url, "SELECT trapper.name_compare($1, $2, $3, $4) AS ab, "
                   "trapper.name_compare($3, $4, $1, $2) AS ba", *a, *b)[0]
    return str(row["ab"]), str(row["ba"])


# (a, b, level): what name_compare says, in both orders
NAMES = [
    # Spanish double surnames
    (("Maria", "García López"), ("Maria", "García"), "close"),
    (("Maria", "Garcia Lopez"), ("Maria", "Lopez"), "close"),
    (("Maria", "Garcia-Lopez"), ("Maria", "Garcia Lopez"), "exact"),
    (("Maria", "García"), ("Ana", "García López"), "different"),
    (("José Luis", "Hernández"), ("Jose", "Hernandez Ruiz"), "close"),
    # particles written together or apart
    (("Juan", "de la Cruz"), ("Juan", "Dela Cruz"), "exact"),
    (("Juan", "de la Cruz"), ("Juan", "DeLaCruz"), "exact"),
    (("Juan", "Dela Cruz"), ("Juan", "Cruz"), "close"),
    (("Ann", "Van Dyke"), ("Ann", "Vandyke"), "exact"),
    (("Ann", "St. John"), ("Ann", "Saint John"), "exact"),
    (("Ann", "Saint-Pierre"), ("Ann", "St Pierre"), "exact"),
    # apostrophes and Mc
    (("Patrick", "O'Brien"), ("Patrick", "OBrien"), "exact"),
    (("Patrick", "O'Brien"), ("Patrick", "O Brien"), "exact"),
    (("Patrick", "O’Brien"), ("Patrick", "O'Brien"), "exact"),
    (("Ronald", "Mc Donald"), ("Ronald", "McDonald"), "exact"),
    # suffixes
    (("John", "Smith Jr"), ("John", "Smith Jr."), "exact"),
    (("John", "Smith II"), ("John", "Smith"), "close"),
    (("John", "Smith II"), ("John", "Smith III"), "different"),
    (("John", "Smith, Jr."), ("John", "Smith Sr."), "different"),
    (("John", "Smith Junior"), ("John", "Smith Senior"), "different"),
    (("John", "Smith Junior"), ("John", "Smith Jr"), "exact"),
    (("John", "Smith 3rd"), ("John", "Smith III"), "exact"),
    (("John", "Smith 4th"), ("John", "Smith IV"), "exact"),
    (("John", "Smith 4th"), ("John", "Smith III"), "different"),
    (("Junior", "Perez"), ("Carlos", "Perez Jr"), "different"),   # a first name Junior
    # titles before a name
    (("Dr. John", "Smith"), ("John", "Smith"), "exact"),
    (("", "Dr. John Smith"), ("John", "Smith"), "close"),
    (("", "Mr. John Smith"), ("John", "Smith"), "close"),
    (("Mrs. Mary", "Smith"), ("Mary", "Smith"), "exact"),
    (("Mrs.", "Smith"), ("Mary", "Smith"), "different"),     # a surname alone tells no one
    (("Dr. John", "Smith"), ("Dr. Jane", "Smith"), "different"),
    # initials, "Last, First", all caps
    (("J.", "Smith"), ("John", "Smith"), "close"),
    (("", "Smith, John A."), ("John", "Smith"), "close"),
    (("JOHN", "SMITH"), ("John", "Smith"), "exact"),
    # nicknames and spellings of one name
    (("Bob", "Smith"), ("Robert", "Smith"), "close"),
    (("Peggy", "Smith"), ("Margaret", "Smith"), "close"),
    (("Jon", "Smith"), ("John", "Smith"), "close"),
    (("Ann", "Smith"), ("Anne", "Smith"), "close"),
    (("Steven", "Smith"), ("Stephen", "Smith"), "close"),
    (("Kathryn", "Smith"), ("Katherine", "Smith"), "close"),
    # short names one letter apart are two people, whichever came first
    (("Jon", "Smith"), ("Joan", "Smith"), "different"),
    (("Dan", "Smith"), ("Dana", "Smith"), "different"),
    (("Eva", "Smith"), ("Ava", "Smith"), "different"),
    (("Tom", "Lee"), ("Tim", "Lee"), "different"),
    # a name's other gender, one letter apart, is a sibling or a spouse, not a typo
    (("Mario", "Ruiz"), ("Maria", "Ruiz"), "different"),
    (("Julio", "Ruiz"), ("Julia", "Ruiz"), "different"),
    (("Juan", "Perez"), ("Juana", "Perez"), "different"),
    (("Gabriel", "Ruiz"), ("Gabriela", "Ruiz"), "different"),
    (("Francisco", "Lopez"), ("Francisca", "Lopez"), "different"),
    (("Francis", "Smith"), ("Frances", "Smith"), "different"),
    (("Jesse", "Smith"), ("Jessie", "Smith"), "different"),
    (("Toni", "Smith"), ("Tony", "Smith"), "different"),
    (("Mario", ""), ("Maria", ""), "different"),
    # a typo elsewhere in the name is still one
    (("Jodran", "Smith"), ("Jordan", "Smith"), "close"),
    (("Micheal", "Smith"), ("Michael", "Smith"), "close"),
    (("Jenifer", "Smith"), ("Jennifer", "Smith"), "close"),
    (("Eric", "Smith"), ("Erik", "Smith"), "close"),
    # Vietnamese and Chinese order
    (("Nguyen", "Thanh"), ("Thanh", "Nguyen"), "close"),
    (("", "Nguyen Van Thanh"), ("Thanh", "Nguyen"), "close"),
    (("Thanh Van", "Nguyen"), ("Thanh", "Nguyen"), "close"),
    (("", "Zhang Wei"), ("Wei", "Zhang"), "close"),
    (("", "Nguyen Van Thanh"), ("Minh", "Nguyen"), "different"),
    (("", "Nguyen Thi Lan"), ("Lan", "Tran"), "different"),
]


@pytest.mark.parametrize(("a", "b", "level"), NAMES)
def test_names_compare_the_same_whichever_comes_first(
    fn_db: str, a: tuple[str, str], b: tuple[str, str], level: str,
) -> None:
    assert compare(fn_db, a, b) == (level, level)


# (first, last, kind): who is a person, and what is not
GATE = [
    ("Smith Family Trust", "", "business"),
    ("", "Smith Family Trust", "business"),
    ("Petaluma Animal Services", "", "agency"),
    ("Joe's Auto", "", "business"),
    ("Bob's Towing", "", "business"),
    ("Happy Tails Pet Sitting", "", "business"),
    ("Green Acres Mobile Home Park", "", "business"),
    ("Redwood Mobile Estates", "", "business"),
    ("Redwood MHP", "", "business"),
    ("Estate of John Smith", "", "business"),
    ("PG&E", "", "business"),
    ("Caltrans", "", "business"),
    ("Kaiser Permanente", "", "business"),
    # "care of": the addressee is the name
    ("c/o Mary Smith", "", "person"),
    ("Mary", "Smith c/o ABC Property Mgmt", "person"),
    ("Mary Smith C/O Joe's Auto", "", "person"),
    ("Ann Lee care of Bob's Towing", "", "person"),
    ("ABC Property Mgmt c/o Mary Smith", "", "business"),
    ("", "Sunset Realty, c/o Ann Lee", "business"),
    # placeholders: nothing but words that name no one
    ("Finder", "", "placeholder"),
    ("Good Samaritan", "", "placeholder"),
    ("Barn Cat", "", "placeholder"),
    ("Feral Cat Colony", "", "placeholder"),
    # a box typed as the name: no person (a rural route box is a place, a PO box none)
    ("RR 2 Box 14", "", "address"),
    ("HC 1 Box 30", "", "address"),
    ("P.O. Box 55, Ukiah", "", "address"),
    ("35-20 81st St", "", "address"),
    ("123-1/2 Main St", "", "address"),
    # people, whatever their surname
    ("Mary", "Box", "person"),
    ("Post", "Malone", "person"),
    ("Mary", "Finder", "person"),
    ("Ann", "Barn", "person"),
    ("Jenny", "Farmer", "person"),
    ("John", "Church", "person"),
    ("Kaiser", "Smith", "person"),
    ("Dr. Mary", "Jones", "person"),
    ("The Smith Family", "", "person"),
]


@pytest.mark.parametrize(("first", "last", "kind"), GATE)
def test_who_is_a_person(fn_db: str, first: str, last: str, kind: str) -> None:
    assert val(fn_db, "SELECT kind FROM trapper.should_be_person($1, $2)", first, last) == kind


ADDR = "12 Oak St, Santa Rosa, CA 95404"


def decisions(url: str) -> list[str]:
    return [r["decision_type"] for r in sql(
        url, "SELECT decision_type FROM trapper.data_engine_match_decisions ORDER BY decision_id")]


@pytest.mark.parametrize(("a", "b", "second", "n"), [
    # one identifier, two writings of one name: one person
    (("", "Dr. John Smith"), ("John", "Smith"), "auto_match", 1),
    (("Jon", "Smith"), ("John", "Smith"), "auto_match", 1),
    (("", "Nguyen Van Thanh"), ("Thanh", "Nguyen"), "auto_match", 1),
    (("Steven", "Park"), ("Stephen", "Park"), "auto_match", 1),
    # one identifier, two people
    (("Mario", "Ruiz"), ("Maria", "Ruiz"), "household_member", 2),
    (("Juan", "Ruiz"), ("Juana", "Ruiz"), "household_member", 2),
    (("Dan", "Smith"), ("Dana", "Smith"), "household_member", 2),
    (("John", "Smith II"), ("John", "Smith III"), "household_member", 2),
])
def test_one_identifier_two_names(db_url: str, a: tuple[str, str], b: tuple[str, str],
                                  second: str, n: int) -> None:
    process(db_url, "clinichq", "owner_info", owner("42-1", *a, address=ADDR,
                                                    email="smith.home@sonic.net"))
    process(db_url, "clinichq", "owner_info", owner("42-2", *b, address=ADDR,
                                                    email="smith.home@sonic.net"))
    assert decisions(db_url) == ["new_entity", second]
    assert len(people(db_url)) == n


def test_a_name_written_two_ways_never_matches_alone(db_url: str) -> None:
    """The same person's name in another order, with no identifier in common: two people."""
    process(db_url, "clinichq", "owner_info", owner("42-1", "", "Nguyen Van Thanh", address=ADDR,
                                                    phone="707-555-2101"))
    process(db_url, "clinichq", "owner_info", owner("42-2", "Thanh", "Nguyen", address=ADDR,
                                                    phone="707-555-2102"))
    assert len(people(db_url)) == 2


def test_care_of_makes_a_person_of_the_addressee(db_url: str) -> None:
    process(db_url, "clinichq", "owner_info", owner("42-1", "Mary", "Smith c/o ABC Property Mgmt",
                                                    address=ADDR, email="mary.s@sonic.net"))
    assert len(people(db_url)) == 1


def test_a_box_typed_as_the_name_makes_no_person(db_url: str) -> None:
    out = process(db_url, "clinichq", "owner_info", owner("42-1", "RR 2 Box 14", "",
                                                          email="rr2box14@sonic.net"))
    assert people(db_url) == [], out
    assert val(db_url, "SELECT address_key FROM trapper.places") == "rr 2 box 14|rr 2||"
