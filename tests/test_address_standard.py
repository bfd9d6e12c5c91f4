"""The address key on USPS Publication 28 (issue 17, item 2; docs/identity.md, "Places").

Each class of address that broke the old key has several members here, run against the
real PostgreSQL: the key (trapper.address_key), the parts (trapper.address_parts) and the
place the engines make (trapper.find_or_create_place_deduped, the processors, the router)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, run_cli
from tests.entities import owner, process, rekey_places_keyed_before
from tests.helpers import execute, sql, val
from tests.pg import Server


def keys(url: str, addresses: list[str]) -> dict[str, str | None]:
    return {r["a"]: r["k"] for r in sql(
        url, "SELECT a, trapper.address_key(a) AS k FROM unnest($1::text[]) a", addresses)}


def parts(url: str, address: str) -> dict[str, Any]:
    raw = val(url, "SELECT trapper.address_parts($1)", address)
    return dict(json.loads(raw)) if raw else {}


def place(url: str, address: str, lat: float | None = None,
          lng: float | None = None) -> str | None:
    pid = val(url, "SELECT trapper.find_or_create_place_deduped($1, NULL, $2, $3)",
              address, lat, lng)
    return None if pid is None else str(pid)


def one_key(url: str, forms: list[str]) -> str:
    got = keys(url, forms)
    assert len(set(got.values())) == 1, got
    key = next(iter(got.values()))
    assert key is not None, forms
    return key


# Each group: ways of writing one address. Groups of a class must stay apart from each other.
SAME = {
    "suffix spellings and misspellings (Pub 28 C1)": [
        ["1234 sunset blv.", "1234 sunset blvd.", "1234 Sunset Boulevard", "1234 SUNSET BOUL",
         "1234 sunset boulv"],
        ["55 Oak Avenue", "55 oak av", "55 oak ave.", "55 Oak Avenu", "55 OAK AVN"],
        ["9 Elm Street", "9 elm st", "9 elm str", "9 Elm Strt"],
        ["7 Pine Court", "7 pine ct", "7 pine crt"],
        ["3 Bay Parkway", "3 bay pkwy", "3 bay pky", "3 Bay Parkwy"],
        ["12 Lake Circle", "12 lake cir", "12 lake circ", "12 Lake Crcl"],
        ["40 Mill Valley Rd", "40 mill valley road", "40 Mill Vly Rd"],
    ],
    "directionals written out or abbreviated": [
        ["3130 Piedmont Rd NE", "3130 piedmont rd. ne", "3130 Piedmont Road Northeast",
         "3130 piedmont rd n.e."],
        ["100 North Main St", "100 N Main St", "100 n. main street"],
        ["100 South Main St", "100 S. Main Street"],
        ["8 E Washington St", "8 East Washington Street"],
    ],
    "ordinal words and numerals, numbered avenues": [
        ["500 seventh ave.", "500 7th ave.", "500 Seventh Avenue"],
        ["12 First St", "12 1st st", "12 FIRST STREET"],
        ["8 Twenty-First Ave", "8 21st ave", "8 twenty first avenue"],
        ["40 W Third St", "40 w 3rd st", "40 W 3d St", "40 West Third Street"],
        ["1 Twelfth St", "1 12th st"],
        ["500 Avenue A", "500 ave. a", "500 Ave A"],
        ["500 Avenue B", "500 ave b"],
        # a lettered avenue in a line with no commas: the letter is the street's, not the town's
        ["1749 W Ave D Santa Rosa CA 95403", "1749 West Avenue D, Santa Rosa, CA"],
        ["1020 Avenue A Rohnert Park CA 94928", "1020 Ave. A, Rohnert Park"],
        ["6126 Ave C W Petaluma CA 94952", "6126 Avenue C West, Petaluma, CA 94952"],
    ],
    "secondary units kept apart from the street": [
        ["1234 Main St Apt 5, Santa Rosa", "1234 Main St #5, Santa Rosa",
         "1234 Main St, Unit 5, Santa Rosa", "1234 main st ste 5 santa rosa",
         "1234 Main St Suite 5, Santa Rosa", "1234 Main St Apt5 Santa Rosa CA 95404"],
        ["1234 Main St, Santa Rosa", "1234 Main Street, Santa Rosa, CA 95404"],
        ["77 Oak St Rear, Petaluma", "77 oak street, rear, petaluma"],
    ],
    "cross-street and landmark notes out of the key": [
        ["88 2nd ave. at 10th st.", "88 second ave.", "88 2nd Ave @ 10th St"],
        ["310 broadway  between 4th and 5th sts.", "310 broadway", "310 Broadway btwn 4th & 5th"],
        ["12 Oak St (behind the Safeway), Petaluma", "12 Oak St, Petaluma",
         "12 Oak St near the creek, Petaluma"],
        ["9 River Rd off Hwy 12", "9 river road", "9 River Rd (across from the school)"],
        # the town after a cross-street note in a line with no commas, or after a unit's comma
        ["4951 Hoen Ln, Apt. 5 at 7th St. Healdsburg CA", "4951 Hoen Ln Apt 5, Healdsburg, CA",
         "4951 Hoen Ln #5 between 6th and 7th Sts. Healdsburg CA 95448",
         "4951 Hoen Ln, Apt 5 off 7th St, Healdsburg", "4951 HOEN LANE APT 5 AT 7TH ST HEALDSBURG"],
        ["3226 Laguna Ave W at 7th St. Santa Rosa CA 95404", "3226 Laguna Ave W, Santa Rosa, CA",
         "3226 Laguna Avenue West off 3rd St Santa Rosa CA 95404"],
    ],
    "ranged house numbers: the first number": [
        ["100-110 main st.", "100 main st", "100 - 110 Main Street"],
        ["200-250 vesey st.", "200 Vesey Street"],
        ["5-7 Elm St, Petaluma", "5 Elm Street, Petaluma"],
    ],
    # Queens, NY: the cross street, a hyphen, the house (two digits): one number, never a
    # range, so two houses of one block stay two places
    "Queens house numbers: one number, kept whole": [
        ["45-67 Main St, Queens, NY", "45-67 Main Street, Queens NY 11375",
         "45 - 67 main st, queens"],
        ["45-89 Main St, Queens, NY"],
        ["45 Main St, Queens, NY"],
        ["118-35 Queens Blvd, Forest Hills, NY", "118-35 QUEENS BOULEVARD, Forest Hills"],
        ["118-37 Queens Blvd, Forest Hills, NY"],
        ["37-06 80th St, Jackson Heights", "37-06 Eightieth Street, Jackson Heights"],
    ],
    # A hyphenated number is a range (keyed by its first number) only when its end is as
    # long as its start and past it; any other is one number, so each of these is its own
    # place: none meets another, nor the house its first number names
    "hyphenated numbers that are no range: one number each": [
        ["45-6 Oak St, Queens", "45 - 6 Oak Street, Queens"],
        ["45-7 Oak St, Queens"],
        ["45-67A Oak St, Queens"],
        ["45-89A Oak St, Queens"],
        ["94-1234 Kamehameha Hwy, Waipahu", "94-1234 KAMEHAMEHA HIGHWAY, Waipahu"],
        ["94-1000 Kamehameha Hwy, Waipahu"],
        ["4-5A Oak St, Queens"],
        ["4-5B Oak St, Queens"],
        ["45 Oak St, Queens"],
        ["4 Oak St, Queens"],
        ["94 Kamehameha Hwy, Waipahu"],
    ],
    "a route by any of its names, its directional before or after its number": [
        ["500 N Highway 12, Sonoma", "500 Highway 12 N, Sonoma", "500 North Hwy 12, Sonoma",
         "500 N State Route 12, Sonoma", "500 SR 12 North, Sonoma"],
        ["500 S Highway 12, Sonoma", "500 Hwy 12 S, Sonoma"],
        ["500 Hwy 12, Sonoma", "500 State Route 12, Sonoma", "500 SR 12, Sonoma",
         "500 CA-12, Sonoma"],
        ["500 US-101, Petaluma", "500 US Highway 101, Petaluma", "500 Hwy 101, Petaluma"],
        ["500 County Road 5, Petaluma", "500 CR 5, Petaluma", "500 Co Rd 5, Petaluma"],
        ["500 N Main St, Petaluma", "500 North Main Street, Petaluma"],
        ["500 Main St N, Petaluma"],
    ],
    "an article before a Spanish street type, with no comma before the town": [
        ["123 El Camino Real Santa Rosa CA", "123 El Camino Real, Santa Rosa, CA",
         "123 EL CAMINO REAL SANTA ROSA CA 95404"],
        ["123 Camino Real Santa Rosa", "123 Camino Real, Santa Rosa"],
        ["123 El Camino Real, Petaluma", "123 El Camino Real Petaluma"],
        ["55 La Calle del Sol Petaluma", "55 La Calle del Sol, Petaluma"],
    ],
    "an article and a Spanish street type as the whole street, the town after with no comma": [
        ["100 El Camino Santa Rosa", "100 El Camino, Santa Rosa",
         "100 EL CAMINO SANTA ROSA CA 95404"],
        ["100 El Camino Real Santa Rosa", "100 El Camino Real, Santa Rosa"],
        ["100 El Camino San Rafael", "100 El Camino, San Rafael"],
        ["100 La Calle St Helena", "100 La Calle Saint Helena CA", "100 La Calle, St. Helena"],
        ["100 El Camino Mt Shasta", "100 El Camino Mount Shasta CA", "100 El Camino, Mt Shasta"],
        ["100 El Camino Ft Bragg", "100 El Camino, Fort Bragg"],
        ["100 El Camino Apt 5 Santa Rosa", "100 El Camino, Apt 5, Santa Rosa"],
        ["100 El Camino Real"],
        ["100 El Camino"],
        # a street's suffix further on ends the street: no town in it
        ["100 El Camino Santa Rosa Ave"],
    ],
    "a landmark before the address": [
        ["Safeway, 1234 Mendocino Ave, Santa Rosa", "1234 Mendocino Ave, Santa Rosa",
         "Behind Safeway 1234 Mendocino Ave Santa Rosa", "1234 mendocino avenue santa rosa"],
        ["Fred's Feed Store, 9 Oak St", "Feed store 9 Oak Street", "9 oak st"],
        ["Coddingtown Mall 733 Coddingtown Ctr", "733 Coddingtown Center"],
    ],
    "intersections": [
        ["4th & Main", "Main & 4th", "corner of 4th and main", "4th and Main",
         "Corner of Fourth & Main"],
        ["4th St & Main St, Santa Rosa", "corner of main st and 4th st, santa rosa",
         "Fourth Street at Main Street, Santa Rosa",
         # no commas: the town follows the second street (the synthetic world writes these)
         "Main Street & 4th St Santa Rosa CA 95404", "corner of 4th St and Main St Santa Rosa CA",
         "Main St and Fourth Street Santa Rosa"],
        ["Oak Ave & 2nd St NW, Cotati", "2nd St NW and Oak Ave Cotati CA 94931"],
    ],
    "numbered routes by any of their names": [
        ["12345 State Route 128, Philo", "12345 Hwy 128 Philo CA 95466", "12345 SR 128, Philo",
         "12345 CA-128, Philo", "12345 State Highway 128, Philo", "12345 Route 128 Philo"],
        ["12345 Hwy 12, Philo", "12345 Highway 12 Philo CA"],
        ["123 County Road 5", "123 County Rd 5", "123 CR 5", "123 Co Rd 5"],
        ["123 US Highway 101", "123 US Hwy 101", "123 Hwy 101", "123 US-101"],
        ["9 Highway 1 N, Bodega Bay", "9 Hwy 1 N Bodega Bay CA", "9 Hwy 1 North, Bodega Bay"],
        ["9 Highway 1 S, Bodega Bay", "9 Hwy 1 South Bodega Bay CA"],
        ["123 County Road 128", "123 Co Rd 128"],
    ],
    "units with a '#' after the designator, glued on, or as written locally": [
        ["1234 Main St Apt #4B", "1234 Main St, Apt. #4B", "1234 Main St Unit # 4B",
         "1234 Main St Apt4B", "1234 Main St Apt-4B", "1234 Main St #4B"],
        ["1234 Main St Apt #4A", "1234 Main St #4A"],
        ["1234 Main St Unit #4, Santa Rosa", "1234 Main St Apt 4, Santa Rosa"],
        ["1234 Main St Sp 12", "1234 Main St Spc 12", "1234 Main St Space 12"],
        ["1234 Main St Sp 13", "1234 Main St Spc. 13"],
    ],
    "Unicode, quotes and dashes as plain ASCII": [
        ["123 Calle Niño, Santa Rosa", "123 Calle Nino, Santa Rosa",
         "\uff11\uff12\uff13 Calle Nino, Santa Rosa",                  # full-width digits
         "123\u00a0Calle\u00a0Niño, Santa Rosa\u00a0",
         "123 \u201cCalle Nino\u201d, Santa Rosa \U0001f408",
         "\u00a0123 Calle Nino\u200b, Santa Rosa"],
        ["12\u00bd O\u2019Farrell St", "12 1/2 O'Farrell St", "12 \u00bd OFarrell Street"],
        ["12 O\u2019Farrell St", "12 OFarrell St"],
        ["12 Main St - Santa Rosa", "12 Main St, Santa Rosa", "12 Main St \u2014 Santa Rosa"],
    ],
    "landmarks on a street": [
        ["4th st. mall", "Fourth Street Mall", "4TH ST MALL"],
        ["Behind the Safeway on Mendocino Ave", "behind the safeway on mendocino avenue"],
    ],
    # the adversarial pass of issue 17: each class with members beyond its first example
    "a landmark before a street with no suffix or a numbered one": [
        ["Sonoma Valley High School 20000 Broadway", "20000 Broadway",
         "Sonoma Valley High School, 20000 Broadway", "Behind the High School 20000 BROADWAY"],
        ["Sonoma Valley High School 20000 Broadway, Sonoma", "20000 Broadway, Sonoma, CA 95476",
         "Sonoma Valley HS 20000 Broadway, Sonoma CA"],
        ["Safeway, 1234 Main St", "Behind Safeway 1234 Main St", "1234 Main Street"],
        ["Lucky 1300 Main St", "1300 Main St"],
        ["Joe's Market - 500 4th St", "Joes Market, 500 Fourth Street", "500 4th St",
         "Joe's Market: 500 4th St"],
        ["Oak Grove Apts 12 Elm Ave #3", "12 Elm Ave Apt 3", "Oak Grove Apartments 12 Elm Ave #3"],
        ["Oak Grove Apts 12 Elm Ave #4", "12 Elm Ave Unit 4"],
        ["Fire Station 2 Petaluma Blvd N", "2 Petaluma Blvd N"],
    ],
    "rural route and highway contract boxes (Pub 28 section 23)": [
        ["RR 2 Box 5", "Rural Route 2 Box 5", "R.R. 2, Box 5", "RR2 Box 5", "Route 2 Box 5",
         "RFD 2 Box 5", "Rural Route 2, Box #5", "Rt. 2 Bx 5"],
        ["RR 2 Box 6", "Rural Route 2 Box 6"],
        ["RR 3 Box 5", "R R 3 Box 5"],
        ["HC 1 Box 3", "Highway Contract 1 Box 3", "HCR 1 Box 3", "Star Route 1 Box 3",
         "H.C. 1, Box 3"],
        ["Star Route Box 3", "HC Box 3", "Star Rte Box 3"],
        ["RR 2 Box 5, Santa Rosa, CA 95404", "Rural Route 2 Box 5 Santa Rosa CA",
         "R.R. 2, Box 5, Santa Rosa"],
        ["RR 2 Box 5, Petaluma", "Rural Route 2 Box 5, Petaluma, CA 94952"],
    ],
    "intersections with a slash, 'x' or 'cnr'": [
        ["4th/Main", "4th / Main", "cnr 4th and Main", "4th x Main", "4th & Main",
         "Cnr of Fourth/Main"],
        ["4th St / Main St", "Main St/4th St", "4th St x Main St", "Cnr 4th St & Main St"],
        ["4th St / Main St, Santa Rosa", "4th St x Main St Santa Rosa CA 95404"],
        ["Malcolm X Blvd & 5th St", "5th St and Malcolm X Blvd"],
    ],
    "ordinal words past 99": [
        ["100 One Hundred Twenty-Fifth St", "100 125th St", "100 one hundred twenty fifth street"],
        ["100 Hundredth St", "100 One Hundredth St", "100 100th St"],
        ["5 One Hundred and First Ave", "5 101st Ave", "5 One Hundred First Avenue"],
        ["5 Two Hundred Twelfth St", "5 212th St"],
        ["5 One Hundred Oaks Dr", "5 one hundred oaks drive"],
        ["One Hundred Twenty-Fifth St & Lenox Ave", "125th St and Lenox Avenue"],
    ],
    "directionals in two words": [
        ["100 North East Elm St", "100 N E Elm St", "100 North-East Elm St", "100 NE Elm St",
         "100 Northeast Elm Street", "100 N.E. Elm St"],
        ["100 S W Elm St", "100 SW Elm St", "100 South West Elm Street"],
        ["100 Elm St N E", "100 Elm St NE", "100 Elm Street North East"],
        # a street named E with its directional N, apart from NE Street
        ["100 N E St", "100 North E Street"],
        ["100 NE St", "100 N.E. St"],
        ["100 N E Park Ave", "100 NE Park Avenue"],
    ],
    "ZIP+4 with no hyphen, a county after the town": [
        ["12 Main St, Santa Rosa, CA 954041234", "12 Main St, Santa Rosa, CA 95404-1234",
         "12 Main St, Santa Rosa, Sonoma County, CA 95404", "12 Main St Santa Rosa CA 954041234",
         "12 Main St, Santa Rosa, Sonoma Co., CA"],
        ["12 Main St, Petaluma, Sonoma County, CA 94952", "12 Main St, Petaluma 949521234"],
        ["12 Main St 954041234", "12 Main St 95404"],
        ["12 Main St, Sonoma County, CA", "12 Main St"],
    ],
    # the second adversarial pass: each class with members beyond its first example
    "a box before its rural route": [
        ["RR 2 Box 5", "Box 5, RR 2", "Box 5 RR 2", "Rural Route 2, Box 5", "RR2 BX5",
         "BOX 5 ROUTE 2", "Bx 5, Rural Route 2"],
        ["HC 68 Box 12", "Box 12 HC 68", "Box 12, Star Route 68"],
        ["RR 2 Box 5, Santa Rosa, CA 95401", "Box 5, Rural Route 2, Santa Rosa",
         "BOX 5 RR 2 SANTA ROSA CA"],
    ],
    "a county after the town with no comma": [
        ["12 Main St Santa Rosa Sonoma County CA 95401",
         "12 Main St, Santa Rosa, Sonoma County, CA 95401", "12 Main St, Santa Rosa, CA 95401",
         "12 Main St Santa Rosa Sonoma Co CA", "12 Main St Santa Rosa Sonoma County",
         "12 Main St, Santa Rosa Sonoma County, CA"],
        ["5 Oak Ave San Jose Santa Clara County CA", "5 Oak Ave, San Jose, CA"],
        ["5 Oak Ave Walnut Creek Contra Costa County CA 94596", "5 Oak Ave, Walnut Creek, CA"],
        ["5 Oak Ave San Luis Obispo San Luis Obispo County CA", "5 Oak Ave, San Luis Obispo"],
        ["5 Oak Ave Sonoma County CA", "5 Oak Ave"],
    ],
    "a state with no ZIP and no comma": [
        ["9 Elm St Reno NV", "9 Elm St, Reno, NV 89501", "9 Elm St Reno"],
        ["9 Elm St Austin TX", "9 Elm St, Austin, Texas"],
        ["7 Pine Ct", "7 Pine Court"],                 # "Ct" is Court, not Connecticut
        ["7 Pine Way", "7 Pine Wy"],                   # "Wy" is Way
    ],
    "intersections: suffixes for both, either order, the town with no comma": [
        ["4th St & Main St", "Main Street and Fourth Street", "4th and Main Sts",
         "Fourth & Main Streets", "main st/4th st"],
        ["4th & Main Santa Rosa", "Main & 4th, Santa Rosa", "Main and Fourth Santa Rosa CA 95404",
         "corner of 4th and main santa rosa"],
        ["4th Ave & Main St", "Main Street and 4th Avenue"],
        ["3rd St W & Main St", "Main Street and 3rd Street West"],
    ],
    "a PO box beside a street address: the street's place": [
        ["123 Main St, PO Box 12, Santa Rosa CA 95401", "PO Box 12, 123 Main St, Santa Rosa",
         "123 Main St PO Box 12 Santa Rosa", "123 Main St, Santa Rosa"],
        ["123 Main St, P.O. Box 12", "123 Main St"],
    ],
    "a unit before the house number": [
        ["123 Main St Apt 4", "Apt 4, 123 Main St", "Apt 4 123 Main St", "#4 123 Main St",
         "Unit 4 - 123 Main St", "123 Main St #4", "APT. 4, 123 MAIN STREET"],
        ["Ste 200, 500 Main St, Santa Rosa", "500 Main St Suite 200, Santa Rosa"],
        ["123 Main St"],
    ],
    "a floor as the unit": [
        ["123 Main St 2nd Floor", "123 Main St Fl 2", "123 Main St Floor 2",
         "123 Main St, Second Floor"],
        ["123 Main St 3rd Floor, Santa Rosa", "123 Main St Fl 3, Santa Rosa"],
    ],
    "Wisconsin grid house numbers": [
        ["N123W456 Main St", "N123 W456 Main St", "n123w456 main street"],
        ["W123N456 Main St", "W123 N456 Main Street"],
        ["123 Main St"],
    ],
    "Spanish street types before the name, the town after with no comma": [
        ["123 Calle del Sol Santa Rosa CA 95401", "123 Calle Del Sol, Santa Rosa, CA"],
        ["123 Camino Alto Mill Valley CA", "123 Camino Alto, Mill Valley"],
        ["123 Avenida de los Arboles Petaluma", "123 Avenida De Los Arboles, Petaluma, CA"],
        ["123 Via Roma Santa Rosa", "123 Via Roma, Santa Rosa"],
        ["123 Calle del Sol", "123 calle del sol"],
    ],
    "St. as Saint in a street and a town": [
        ["123 St. Helena Ave", "123 Saint Helena Avenue", "123 St Helena Ave"],
        ["12 Oak St, St. Helena, CA", "12 Oak St St Helena CA",
         "12 Oak Street Saint Helena CA 94574", "12 Oak St, Saint Helena"],
        ["5 Pine St Mt Shasta CA", "5 Pine St, Mount Shasta, CA"],
        ["5 Pine St, Fort Bragg", "5 Pine St Ft Bragg CA"],
        ["St Francis & Main", "Saint Francis and Main"],
    ],
    "line breaks, capitals and a trailing country": [
        ["123 Calle del Sol\nSanta Rosa, CA 95401", "123 CALLE DEL SOL, SANTA ROSA CA 95401 USA",
         "123 calle del sol\r\nsanta rosa ca"],
        ["123 Main St\nApt 4\nSanta Rosa CA 95401", "123 MAIN ST APT 4, SANTA ROSA, CA 95401, USA",
         "Apt 4\n123 Main St\nSanta Rosa"],
        ["123 Old Redwood Hwy\nSanta Rosa", "123 old redwood highway, santa rosa, united states"],
    ],
}


@pytest.mark.parametrize("cls", list(SAME))
def test_each_class_reads_its_members_as_one_key_and_its_groups_apart(
        db_url: str, cls: str) -> None:
    found = [one_key(db_url, group) for group in SAME[cls]]
    assert len(set(found)) == len(found), found


def test_what_the_parts_say(db_url: str) -> None:
    assert parts(db_url, "100-110 main st., Santa Rosa, CA 95404") == {
        "kind": "address", "house": "100", "house_range": "100-110", "street": "main st",
        "town": "santa rosa", "zip": "95404"}
    # a Queens number is one house, no range
    assert parts(db_url, "45-67 Main St, Queens, NY 11375") == {
        "kind": "address", "house": "45-67", "street": "main st", "town": "queens",
        "zip": "11375"}
    p = parts(db_url, "310 broadway  between 4th and 5th sts.")
    assert p["note"] == "between 4th and 5th sts" and p["street"] == "broadway"
    assert parts(db_url, "Safeway, 1234 Main St")["landmark"] == "safeway"
    assert parts(db_url, "12 Oak St (behind the Safeway)")["note"] == "behind the safeway"
    assert parts(db_url, "1234 Main St Apt 5")["unit"] == "5"
    assert parts(db_url, "3130 Piedmont Rd NE, Atlanta, GA 30305")["street"] == "piedmont rd ne"
    assert keys(db_url, ["4th & Main"])["4th & Main"] == "&|4th & main||"
    assert keys(db_url, ["4th st. mall"])["4th st. mall"] == "@|4th st mall||"


def test_po_boxes_are_recognised_and_make_no_place(db_url: str) -> None:
    for box in ["PO Box 123", "P.O. Box 123, Santa Rosa, CA 95404", "Post Office Box 123",
                "po box 9 santa rosa", "P O BOX 77"]:
        assert parts(db_url, box)["kind"] == "po_box", box
        assert keys(db_url, [box])[box] is None
        assert place(db_url, box) is None
    assert parts(db_url, "P.O. Box 123, Santa Rosa, CA 95404") == {
        "kind": "po_box", "box": "123", "town": "santa rosa", "zip": "95404"}


def test_what_the_new_classes_say(db_url: str) -> None:
    assert parts(db_url, "Sonoma Valley High School 20000 Broadway") == {
        "kind": "address", "house": "20000", "street": "broadway",
        "landmark": "sonoma valley high school"}
    assert parts(db_url, "Joe's Market - 500 4th St")["landmark"] == "joes market"
    assert parts(db_url, "R.R. 2, Box 5, Santa Rosa, CA 954041234") == {
        "kind": "rural_route", "street": "rr 2", "box": "5", "town": "santa rosa",
        "zip": "95404"}
    assert keys(db_url, ["RR 2 Box 5"])["RR 2 Box 5"] == "rr 2 box 5|rr 2||"
    assert keys(db_url, ["Star Route Box 3"])["Star Route Box 3"] == "hc box 3|hc||"
    assert keys(db_url, ["4th/Main"])["4th/Main"] == "&|4th & main||"
    assert parts(db_url, "100 One Hundred Twenty-Fifth St")["street"] == "125th st"
    assert parts(db_url, "100 N E Elm St")["street"] == "ne elm st"
    assert parts(db_url, "100 N E St")["street"] == "n e st"
    assert parts(db_url, "12 Main St, Santa Rosa, Sonoma County, CA 954041234") == {
        "kind": "address", "house": "12", "street": "main st", "town": "santa rosa",
        "zip": "95404"}


def test_what_the_second_pass_classes_say(db_url: str) -> None:
    assert parts(db_url, "Box 5, Rural Route 2, Santa Rosa CA 95401") == {
        "kind": "rural_route", "street": "rr 2", "box": "5", "town": "santa rosa",
        "zip": "95401"}
    assert parts(db_url, "12 Main St Santa Rosa Sonoma County CA 95401") == {
        "kind": "address", "house": "12", "street": "main st", "town": "santa rosa",
        "zip": "95401"}
    assert parts(db_url, "Apt 4, 123 Main St, Santa Rosa") == {
        "kind": "address", "house": "123", "street": "main st", "unit": "4",
        "town": "santa rosa"}
    assert parts(db_url, "N123 W456 Main St")["house"] == "n123w456"
    assert parts(db_url, "123 Camino Alto Mill Valley CA") == {
        "kind": "address", "house": "123", "street": "camino alto", "town": "mill valley"}
    assert parts(db_url, "12 Oak St St Helena CA") == {
        "kind": "address", "house": "12", "street": "oak st", "town": "st helena"}
    # an intersection: the streets' names sorted, their suffixes in the same order
    assert parts(db_url, "Main St & 4th Ave, Santa Rosa") == {
        "kind": "intersection", "street": "4th & main", "suffixes": "ave & st",
        "town": "santa rosa"}
    assert keys(db_url, ["Main St & 4th Ave, Santa Rosa"])["Main St & 4th Ave, Santa Rosa"] \
        == "&|4th & main|ave & st|santa rosa"
    assert keys(db_url, ["Main & 4th St"])["Main & 4th St"] == "&|4th & main|st & |"


def test_the_town_after_an_article_and_a_street_type(db_url: str) -> None:
    assert parts(db_url, "100 El Camino Santa Rosa") == {
        "kind": "address", "house": "100", "street": "el camino", "town": "santa rosa"}
    assert parts(db_url, "100 El Camino Real") == {
        "kind": "address", "house": "100", "street": "el camino real"}
    assert parts(db_url, "100 El Camino Real Santa Rosa")["street"] == "el camino real"
    assert parts(db_url, "100 El Camino St Helena")["town"] == "st helena"
    assert parts(db_url, "100 El Camino St Santa Rosa") == {
        "kind": "address", "house": "100", "street": "el camino st", "town": "santa rosa"}
    assert parts(db_url, "100 El Camino Santa")["street"] == "el camino santa"
    # a town an address with a ZIP named (address_zip_towns, 017), in one word or more
    for town in ("Mill Valley, CA 94941", "Petaluma, CA 94952"):
        assert place(db_url, f"1 Main St, {town}") is not None
    assert parts(db_url, "100 El Camino Mill Valley") == {
        "kind": "address", "house": "100", "street": "el camino", "town": "mill valley"}
    assert parts(db_url, "100 La Calle Petaluma CA") == {
        "kind": "address", "house": "100", "street": "la calle", "town": "petaluma"}
    # the words that begin a town are data: one added is read at once
    assert parts(db_url, "100 El Camino Rio Vista")["street"] == "el camino rio"
    execute(db_url, "INSERT INTO trapper.address_town_starts VALUES ('rio')")
    assert parts(db_url, "100 El Camino Rio Vista") == {
        "kind": "address", "house": "100", "street": "el camino", "town": "rio vista"}
    assert val(db_url, "SELECT trapper.address_parts_memoized('100 El Camino Rio Vista') "
                       "->> 'town'") == "rio vista"


def test_places_keyed_before_039_take_the_town_after_an_article_street(db_url: str) -> None:
    # the keys the parser before 039 gave (039 runs rekey_places)
    old = [("100 El Camino Santa Rosa", "100|el camino santa||rosa"),
           ("100 El Camino, Santa Rosa", "100|el camino||santa rosa"),
           ("100 La Calle St Helena", "100|la calle st||helena"),
           ("100 El Camino Real Santa Rosa", "100|el camino real||santa rosa")]
    out, live = rekey_places_keyed_before(db_url, old)
    # La Calle takes its new key; El Camino's old key meets the one written with a comma
    assert (out["rekeyed"], out["merged"]) == (1, 1)
    assert live == {"100|el camino||santa rosa", "100|la calle||st helena",
                    "100|el camino real||santa rosa"}


@pytest.mark.parametrize(("text", "kind"), [
    ("P.O.B. 12", "po_box"), ("Post Office Box 12", "po_box"), ("POB12", "po_box"),
    ("Drawer 12", "po_box"), ("PO Drawer 12, Santa Rosa CA", "po_box"),
    # military mail (Pub 28 section 237) is a box at a base's post office
    ("PSC 1234 Box 5678, APO AE 09001", "po_box"), ("Unit 2050 Box 4190, APO AP 96278", "po_box"),
    ("CMR 411 Box 1234 APO AE 09112", "po_box"), ("USS Enterprise FPO AE 09543", "po_box"),
    ("General Delivery", "general_delivery"),
    ("General Delivery, Santa Rosa, CA 95401", "general_delivery"),
])
def test_mailing_addresses_make_no_place(db_url: str, text: str, kind: str) -> None:
    assert parts(db_url, text)["kind"] == kind
    assert keys(db_url, [text])[text] is None
    assert place(db_url, text) is None


def test_an_intersection_meets_its_spelling_with_or_without_suffixes(db_url: str) -> None:
    bare = place(db_url, "4th & Main, Santa Rosa")
    assert bare is not None
    # the suffixes for both streets, one of them, another order, no comma before the town
    assert place(db_url, "Main St and 4th St Santa Rosa CA 95404") == bare
    assert place(db_url, "4th St & Main, Santa Rosa") == bare
    # the place learned them: another suffix is another intersection
    assert val(db_url, "SELECT address_key FROM trapper.places WHERE place_id = $1", bare) \
        == "&|4th & main|st & st|santa rosa"
    ave = place(db_url, "4th Ave & Main St, Santa Rosa")
    assert ave not in (None, bare)
    assert place(db_url, "Main Street & Fourth Street, Santa Rosa") == bare
    # and once both exist, a mention without suffixes is ambiguous: neither is taken
    assert place(db_url, "Main & 4th, Santa Rosa") not in (bare, ave)
    # another town is another intersection; with no town given, two towns' are neither
    other = place(db_url, "4th St & Main St, Petaluma")
    assert other not in (None, bare, ave)
    assert place(db_url, "4th St and Main St") not in (bare, other)
    # an intersection has no unit
    assert val(db_url, "SELECT count(*) FROM trapper.places WHERE unit_number IS NOT NULL") == 0


def test_the_router_says_general_delivery_makes_no_place(db_url: str) -> None:
    log = route_survey_address(db_url, "General Delivery, Petaluma, CA 94952")
    assert [r["action"] for r in log] == ["skipped"], log
    assert "is general delivery, a mailing address and no place" in log[0]["decision_reason"]


def test_places_the_parser_before_025_made_take_the_new_keys(db_url: str) -> None:
    # keys as the parser before 025 left them (025 runs rekey_places)
    old = [("4th St & Main St, Santa Rosa", "&|4th st & main st||santa rosa", "intersection"),
           ("4th & Main, Santa Rosa", "&|4th & main||santa rosa", "intersection"),
           ("Box 5, RR 2", "@|box 5 rr 2||", "landmark"),
           ("RR 2 Box 5", "rr 2 box 5|rr 2||", "rural_route"),
           ("Apt 4, 123 Main St", "123|main st||", "address"),
           ("12 Main St Santa Rosa Sonoma County CA 95401",
            "12|main st||santa rosa sonoma county", "address"),
           ("12 Main St, Santa Rosa", "12|main st||santa rosa", "address"),
           ("N123W456 Main St", "@|n123w456 main st||", "landmark"),
           ("5 Pine St, Saint Helena", "5|pne st||saint helena", "address")]
    for i, (address, key, kind) in enumerate(old):
        sql(db_url, """
            INSERT INTO trapper.places (address_key, formatted_address, normalized_address,
                                        address_kind, created_at)
            VALUES ($1, $2, trapper.normalize_address($2), $3,
                    now() - make_interval(days => $4))""", key, address, kind, 20 - i)
    out = sql(db_url, "SELECT * FROM trapper.rekey_places()")[0]
    # two pairs share a key now; the bare intersection joins the one that names suffixes
    assert (out["rekeyed"], out["merged"]) == (4, 3)
    live = {r["formatted_address"]: (r["address_key"], r["address_kind"]) for r in sql(
        db_url, "SELECT * FROM trapper.places WHERE merged_into_place_id IS NULL")}
    assert live == {
        "4th St & Main St, Santa Rosa": ("&|4th & main|st & st|santa rosa", "intersection"),
        "RR 2 Box 5": ("rr 2 box 5|rr 2||", "rural_route"),
        "Apt 4, 123 Main St": ("123|main st|4|", "address"),
        "12 Main St, Santa Rosa": ("12|main st||santa rosa", "address"),
        "N123W456 Main St": ("n123w456|main st||", "address"),
        "5 Pine St, Saint Helena": ("5|pne st||st helena", "address")}


@pytest.mark.parametrize("text", [
    # a number that counts things or measures a way is no house number
    "Colony of 5 cats behind the barn", "Valley Ford 2 miles north", "feeds 12 cats nightly",
    "fed since 2019 feeding them",
    # a slash or an x between words that are not both streets is no intersection
    "Petaluma/Penngrove", "w/ 3 cats", "John X Smith",
    # a bare street, with its ordinal in words, is no place
    "One Hundred Twenty-Fifth St"])
def test_what_still_names_no_place(db_url: str, text: str) -> None:
    assert keys(db_url, [text])[text] is None, parts(db_url, text)


def test_rural_route_boxes_are_places_that_never_match_a_house(db_url: str) -> None:
    at = (38.44, -122.71)
    box = place(db_url, "RR 2 Box 5, Santa Rosa", *at)
    assert box is not None
    assert place(db_url, "Rural Route 2, Box #5, Santa Rosa, CA 95404") == box
    assert place(db_url, "R.R. 2 Box 5") == box              # no town: the one live place
    # a house at the same spot, and the box's number as a house on a street: other places
    house = place(db_url, "5 Main St, Santa Rosa", *at)
    assert house not in (None, box)
    assert place(db_url, "5 RR 2, Santa Rosa") not in (None, box)
    # another box of the route, another route, another town, even within 10 m (a geocoder
    # puts a rural route's boxes at its ZIP's centre)
    others = [place(db_url, a, *at) for a in ["RR 2 Box 6, Santa Rosa", "RR 3 Box 5, Santa Rosa",
                                              "HC 2 Box 5, Santa Rosa"]]
    others.append(place(db_url, "RR 2 Box 5, Petaluma"))
    assert len(set(others) | {box, house}) == 6
    row = sql(db_url, "SELECT address_kind, house_number FROM trapper.places "
                      "WHERE place_id = $1", box)[0]
    assert dict(row) == {"address_kind": "rural_route", "house_number": None}
    # and a PO box is still no place
    assert place(db_url, "PO Box 5, Santa Rosa") is None


def test_new_intersections_and_landmarks_first_stay_apart_from_houses(db_url: str) -> None:
    at = (38.44, -122.71)
    corner = place(db_url, "4th St / Main St, Santa Rosa", *at)
    assert place(db_url, "4th St x Main St, Santa Rosa") == corner
    house = place(db_url, "400 4th St, Santa Rosa", *at)
    assert corner is not None and house not in (None, corner)
    # two landmarks at two numbers are two places; one at its number is the house's place
    school = place(db_url, "Sonoma Valley High School 20000 Broadway, Sonoma")
    assert school is not None and place(db_url, "20000 Broadway, Sonoma") == school
    assert place(db_url, "Safeway 20010 Broadway, Sonoma") not in (None, school)


def test_town_and_zip_join_the_key(db_url: str) -> None:
    got = keys(db_url, ["1234 Main St, Santa Rosa, CA 95404", "1234 Main St, Petaluma, CA",
                        "1234 Main St 95404", "1234 Main St"])
    assert got == {"1234 Main St, Santa Rosa, CA 95404": "1234|main st||santa rosa",
                   "1234 Main St, Petaluma, CA": "1234|main st||petaluma",
                   "1234 Main St 95404": "1234|main st||95404",
                   "1234 Main St": "1234|main st||"}


def test_different_addresses_stay_apart(db_url: str) -> None:
    forms = ["100 N Main St", "100 S Main St", "100 Main St", "100 Main Ave", "102 Main St",
             "100 Main St Apt 1", "100 Main St Apt 2", "100 E St", "100 W St", "100 1st St",
             "100 2nd St", "100 Ave A", "100 Ave B", "4th & Main", "4 Main St"]
    got = keys(db_url, forms)
    assert len(set(got.values())) == len(forms), got
    # names with suffix words in them keep their streets apart
    got = keys(db_url, ["1 Stony Point Rd", "1 Stony Point Ct", "1 Bennett Valley Rd",
                        "1 Brush Creek Rd", "1 Glen Ellen Way, Glen Ellen"])
    assert len(set(got.values())) == 5, got


def test_the_issues_pairs_are_one_place(db_url: str) -> None:
    for a, b in [("1234 sunset blv.", "1234 sunset blvd."), ("500 seventh ave.", "500 7th ave."),
                 ("88 2nd ave. at 10th st.", "88 second ave."),
                 ("310 broadway  between 4th and 5th sts.", "310 broadway"),
                 ("3130 piedmont rd. ne", "3130 piedmont road")]:
        pa = place(db_url, a)
        assert pa is not None and pa == place(db_url, b), (a, b)
    assert val(db_url, "SELECT count(*) FROM trapper.places") == 5


def test_notes_ranges_and_landmarks_stay_on_the_place(db_url: str) -> None:
    pid = place(db_url, "100-110 main st., Santa Rosa")
    row = sql(db_url, "SELECT house_number, address_kind, formatted_address "
                      "FROM trapper.places WHERE place_id = $1", pid)[0]
    assert dict(row) == {"house_number": "100-110", "address_kind": "address",
                         "formatted_address": "100-110 main st., Santa Rosa"}
    pid = place(db_url, "Safeway, 310 Broadway between 4th and 5th sts (behind the dumpster)")
    assert val(db_url, "SELECT address_note FROM trapper.places WHERE place_id = $1", pid) \
        == "safeway; between 4th and 5th sts; behind the dumpster"


def test_a_note_that_hides_the_town_meets_the_place_by_its_zip(db_url: str) -> None:
    # "near the park Santa Rosa": where the note ends is not known, so the town is not read
    hidden = "3226 Laguna Ave W near the park Santa Rosa CA 95404"
    assert "town" not in parts(db_url, hidden) and parts(db_url, hidden)["zip"] == "95404"
    town = place(db_url, "3226 Laguna Ave W, Santa Rosa, CA 95404")
    assert place(db_url, hidden) == town
    # a ZIP that disagrees is another place; so is another unit
    assert place(db_url, "3226 Laguna Ave W across from the school Cotati CA 94931") != town
    assert place(db_url, "3226 Laguna Ave W Apt 2 near the park Santa Rosa CA 95404") != town
    # the converse: the ZIP-only place first, then the town's place takes it in
    first = place(db_url, "18 Oak St near the park Petaluma CA 94952")
    later = place(db_url, "18 Oak St, Petaluma, CA 94952")
    assert later != first
    assert str(val(db_url, "SELECT trapper.get_canonical_place_id($1)", first)) == later
    assert place(db_url, "18 Oak St (by the creek) near the barn Petaluma CA 94952") == later
    # and a directional one side leaves out ("Lincoln Rd SW" / "Lincoln Rd")
    sw = place(db_url, "5416 Lincoln Road Southwest, Santa Rosa, CA 95409")
    assert place(db_url, "5416 Lincoln Rd near the park Santa Rosa CA 95409") == sw
    # two towns with that house and street: a ZIP-only mention takes neither
    a = place(db_url, "5 Elm St, Cotati, CA 94931")
    b = place(db_url, "5 Elm St, Penngrove, CA 94931")
    assert place(db_url, "5 Elm St near the park Cotati CA 94931") not in (a, b)


def test_a_directional_one_side_leaves_out(db_url: str) -> None:
    bare = place(db_url, "3130 piedmont road, Atlanta")
    ne = place(db_url, "3130 Piedmont Rd NE, Atlanta")
    assert ne == bare
    # the place now names its directional: another directional is another place
    assert val(db_url, "SELECT address_key FROM trapper.places WHERE place_id = $1", bare) \
        == "3130|piedmont rd ne||atlanta"
    sw = place(db_url, "3130 Piedmont Rd SW, Atlanta")
    assert sw != ne
    # and once both exist, a mention without one is ambiguous: neither is taken
    assert place(db_url, "3130 piedmont rd, Atlanta") not in (ne, sw)
    # directional first, then the street without it (and no town)
    n = place(db_url, "77 N Oak St, Cotati")
    assert place(db_url, "77 oak street") == n
    # N and S of one street never meet
    assert place(db_url, "77 S Oak St, Cotati") != n


def test_intersections_and_landmarks_never_match_a_house(db_url: str) -> None:
    corner = place(db_url, "4th St & Main St, Santa Rosa", 38.44, -122.71)
    house = place(db_url, "400 4th St, Santa Rosa", 38.44, -122.71)
    assert corner is not None and house is not None and corner != house
    mall = place(db_url, "4th st. mall, Santa Rosa", 38.44, -122.71)
    assert mall not in (None, corner, house)
    # no town, one suffix left out: the one intersection of those streets
    assert place(db_url, "Corner of Main and 4th St") == corner
    assert place(db_url, "corner of 4th st and main st, santa rosa") == corner
    kinds = {r["address_kind"] for r in sql(db_url, "SELECT address_kind FROM trapper.places")}
    assert kinds == {"intersection", "address", "landmark"}
    assert val(db_url, "SELECT house_number FROM trapper.places WHERE place_id = $1",
               corner) is None


def route_survey_address(db_url: str, address: str) -> list[Any]:
    """Stage one client_survey response with ``address`` and route it; the places decisions."""
    rid = val(db_url, """
        INSERT INTO trapper.staged_records (source_system, source_table, source_row_id,
                                            row_hash, payload)
        VALUES ('client_survey', 'responses', 'r1', 'h', jsonb_build_object(
                'response_id', 'r1', 'first_name', 'Ann', 'last_name', 'Lee',
                'email', 'ann@example.org', 'address', $1::text, 'cat_count', '3'))
        RETURNING id""", address)
    val(db_url, "SELECT trapper.route_staged_record($1)", rid)
    return sql(db_url, "SELECT action, decision_reason FROM trapper.orchestrator_job_log "
                       "WHERE target_surface = 'places'")


@pytest.mark.parametrize("address", ["4th st. mall, Petaluma", "100-110 main st., Petaluma",
                                     "Safeway 1234 Main St Petaluma CA",
                                     "corner of 4th and B st, Petaluma",
                                     "Sonoma Valley High School 20000 Broadway",
                                     "RR 2 Box 5, Petaluma", "4th/Main, Petaluma"])
def test_the_router_makes_the_places_it_skipped(db_url: str, address: str) -> None:
    log = route_survey_address(db_url, address)
    assert [r["action"] for r in log] == ["routed"], log
    assert val(db_url, "SELECT count(*) FROM trapper.places") == 1


@pytest.mark.parametrize(("address", "reason"), [
    ("PO Box 123, Santa Rosa, CA 95404", "is a PO box, a mailing address and no place"),
    ("somewhere out past the barn", "names no street address")])
def test_the_router_says_why_it_makes_no_place(db_url: str, address: str, reason: str) -> None:
    log = route_survey_address(db_url, address)
    assert [r["action"] for r in log] == ["skipped"], log
    assert reason in log[0]["decision_reason"], log
    assert val(db_url, "SELECT count(*) FROM trapper.places") == 0


def test_a_processor_makes_the_places_it_skipped(db_url: str) -> None:
    out = process(db_url, "clinichq", "owner_info", owner(
        "25-1", "Ann", "Lee", email="ann@example.org",
        address="Safeway, 200-250 Vesey St., Santa Rosa, CA 95404"))
    assert out["entity_type"] == "person"
    assert val(db_url, "SELECT address_key FROM trapper.places") == "200|vesey st||santa rosa"


def test_existing_places_are_rekeyed_and_their_duplicates_merged(db_url: str) -> None:
    # places as the old key left them: one address under two keys, and a key that changes
    sql(db_url, """
        INSERT INTO trapper.places (place_id, address_key, normalized_address, formatted_address,
                                    created_at)
        VALUES ('00000000-0000-0000-0000-000000000001', '1234|sunset blv||', '1234 sunset blv',
                '1234 sunset blv.', now() - interval '2 days'),
               ('00000000-0000-0000-0000-000000000002', '1234|sunset blvd||', '1234 sunset blvd',
                '1234 sunset blvd.', now() - interval '1 day'),
               ('00000000-0000-0000-0000-000000000003', '500|seventh ave||', '500 seventh ave',
                '500 seventh ave.', now()),
               ('00000000-0000-0000-0000-000000000004', '9|elm st||', '9 elm st', '9 Elm St',
                now())""")
    out = sql(db_url, "SELECT * FROM trapper.rekey_places()")[0]
    assert (out["rekeyed"], out["merged"]) == (1, 1)
    rows = {str(r["place_id"])[-1]: (r["address_key"], r["merged_into_place_id"] is not None)
            for r in sql(db_url, "SELECT * FROM trapper.places")}
    # the place that already held the standard key survives
    assert rows == {"1": ("1234|sunset blv||", True), "2": ("1234|sunset blvd||", False),
                    "3": ("500|7th ave||", False), "4": ("9|elm st||", False)}
    # and a second run changes nothing
    out = sql(db_url, "SELECT * FROM trapper.rekey_places()")[0]
    assert (out["rekeyed"], out["merged"]) == (0, 0)


def test_places_the_old_parser_made_take_the_new_keys(db_url: str) -> None:
    # keys and kinds as the parser before 023 left them (023 runs rekey_places)
    old = [("Rural Route 2 Box 5", "@|rural rte 2 box 5||", "landmark"),
           ("4th St / Main St", "@|4th st / main st||", "landmark"),
           ("Joe's Market - 500 4th St", "@|joes market - 500 4th st||", "landmark"),
           ("100 N E Elm St", "100|n e elm st||", "address"),
           ("1 Main St Santa Rosa CA 954041234", "1|main st||santa rosa ca 954041234", "address"),
           ("1 Main St, Santa Rosa", "1|main st||santa rosa", "address")]
    for i, (address, key, kind) in enumerate(old):
        sql(db_url, """
            INSERT INTO trapper.places (address_key, formatted_address, normalized_address,
                                        address_kind, created_at)
            VALUES ($1, $2, trapper.normalize_address($2), $3,
                    now() - make_interval(days => $4))""", key, address, kind, 10 - i)
    out = sql(db_url, "SELECT * FROM trapper.rekey_places()")[0]
    assert (out["rekeyed"], out["merged"]) == (4, 1)
    live = {r["formatted_address"]: (r["address_key"], r["address_kind"]) for r in sql(
        db_url, "SELECT * FROM trapper.places WHERE merged_into_place_id IS NULL")}
    assert live == {
        "Rural Route 2 Box 5": ("rr 2 box 5|rr 2||", "rural_route"),
        "4th St / Main St": ("&|4th & main|st & st|", "intersection"),
        "Joe's Market - 500 4th St": ("500|4th st||", "address"),
        "100 N E Elm St": ("100|ne elm st||", "address"),
        "1 Main St, Santa Rosa": ("1|main st||santa rosa", "address")}


def test_the_standard_is_data(db_url: str) -> None:
    counts = sql(db_url, """
        SELECT (SELECT count(*) FROM trapper.address_street_suffixes) AS suffixes,
               (SELECT count(DISTINCT primary_name) FROM trapper.address_street_suffixes) AS names,
               (SELECT count(*) FROM trapper.address_directionals) AS directionals,
               (SELECT count(*) FROM trapper.address_ordinals) AS ordinals,
               (SELECT count(*) FROM trapper.address_unit_designators) AS units""")[0]
    assert counts["names"] >= 200 and counts["suffixes"] >= 500
    assert counts["directionals"] == 16 and counts["units"] >= 40
    # every standard abbreviation is itself a written form
    assert val(db_url, """SELECT count(*) FROM trapper.address_street_suffixes s
                          WHERE NOT EXISTS (SELECT 1 FROM trapper.address_street_suffixes t
                                            WHERE t.written = s.standard)""") == 0
    # a row added is read at once (a local misspelling)
    assert keys(db_url, ["5 Oak Stret"])["5 Oak Stret"] == "5|oak st||"
    sql(db_url, "INSERT INTO trapper.address_street_suffixes VALUES ('avnue2', 'ave', 'avenue')")
    assert keys(db_url, ["5 Oak Avnue2"])["5 Oak Avnue2"] == "5|oak ave||"


# main before the address standard: the SQL (and installer) existing databases were built with
BEFORE_ADDRESS_STANDARD = "c56a18135ccbf6fd66e53c7f96b538cb6f2e8ca4"


def test_an_upgraded_database_rekeys_its_places(tmp_path: Path, pg: Server) -> None:
    if shutil.which("git") is None or subprocess.run(
            ["git", "-C", REPO, "cat-file", "-e", f"{BEFORE_ADDRESS_STANDARD}^{{commit}}"],
            capture_output=True, check=False).returncode != 0:
        pytest.skip("the SQL before the address standard comes from the repository's history")
    archive = subprocess.run(["git", "-C", REPO, "archive", "--format=tar",
                              BEFORE_ADDRESS_STANDARD, "listener", "webhooks", "synthetic", "sql"],
                             capture_output=True, check=True)
    tree = tmp_path / "before"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(tree, filter="data")
    name = pg.create()
    url = pg.url(name)
    try:
        code = (f"import sys; sys.path.insert(0, {str(tree)!r}); "
                "from listener.cli.main import main; main()")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ATLAS_ORCH_", "DATABASE_"))}
        env.update(DATABASE_URL=url, ATLAS_ORCH_SQL_DIR=str(tree / "sql"))
        done = subprocess.run([sys.executable, "-c", code, "install", "--with-core"],
                              capture_output=True, text=True, env=env, cwd=tree, timeout=300)
        assert done.returncode == 0, done.stderr
        # the old key: two places for one address, and keys that change
        old = {a: place(url, a) for a in ["1234 sunset blv., Santa Rosa",
                                          "1234 Sunset Blvd., Santa Rosa",
                                          "500 seventh ave.", "3130 piedmont rd. ne"]}
        assert len(set(old.values())) == 4
        assert run_cli("install", "--with-core", env={"DATABASE_URL": url}).returncode == 0
        assert run_cli("verify", env={"DATABASE_URL": url}).returncode == 0
        live = {r["address_key"]: str(r["place_id"]) for r in sql(
            url, "SELECT address_key, place_id FROM trapper.places "
                 "WHERE merged_into_place_id IS NULL")}
        assert set(live) == {"1234|sunset blvd||santa rosa", "500|7th ave||",
                             "3130|piedmont rd ne||"}
        assert live["500|7th ave||"] == old["500 seventh ave."]
        # the merged place resolves to the one that held the standard key
        assert str(val(url, "SELECT trapper.get_canonical_place_id($1)",
                       old["1234 sunset blv., Santa Rosa"])) \
            == old["1234 Sunset Blvd., Santa Rosa"] == live["1234|sunset blvd||santa rosa"]
        # and new records find them
        assert place(url, "500 7th Avenue") == old["500 seventh ave."]
        assert place(url, "3130 Piedmont Road") == old["3130 piedmont rd. ne"]
    finally:
        pg.drop(name)


def test_the_parts_memo_answers_for_the_parser_and_words_that_wrote_it(core_db_url: str) -> None:
    url = core_db_url
    raw = "1234 Sunset Blv., Santa Rosa, CA 95404"
    fresh = val(url, "SELECT trapper.address_parts($1)::text", raw)
    assert val(url, "SELECT trapper.address_parts_memoized($1)::text", raw) == fresh
    assert val(url, "SELECT count(*) FROM trapper.address_parts_memo WHERE raw = $1", raw) == 1
    # a remembered reading is what answers (planted: the memo is read, not the parser)
    execute(url, """UPDATE trapper.address_parts_memo SET parts = '{"kind": "planted"}'""")
    assert val(url, "SELECT trapper.address_parts_memoized($1) ->> 'kind'", raw) == "planted"
    # the parser applied again (a new version of normalizers.sql): read afresh
    execute(url, "ALTER FUNCTION trapper.address_parts(text) COST 101")
    assert val(url, "SELECT trapper.address_parts_memoized($1)::text", raw) == fresh
    # an edit of the address tables: the memo is emptied and the new word is read
    execute(url, """UPDATE trapper.address_parts_memo SET parts = '{"kind": "planted"}'""")
    execute(url, "INSERT INTO trapper.address_street_suffixes "
                 "(written, standard, primary_name, ends_street) "
                 "SELECT 'bulvrrd', standard, primary_name, ends_street "
                 "FROM trapper.address_street_suffixes WHERE written = 'blvd'")
    assert val(url, "SELECT count(*) FROM trapper.address_parts_memo") == 0
    assert val(url, "SELECT trapper.address_parts_memoized('1234 Sunset Bulvrrd, Santa Rosa') "
                    "->> 'street'") == val(url, "SELECT trapper.address_parts("
                                                 "'1234 Sunset Blvd, Santa Rosa') ->> 'street'")
    # an address too long for the memo's key is read, not remembered
    long = "1 Main St " + "x" * 400
    assert val(url, "SELECT trapper.address_parts_memoized($1)::text", long) == val(
        url, "SELECT trapper.address_parts($1)::text", long)
    assert val(url, "SELECT count(*) FROM trapper.address_parts_memo WHERE raw = $1", long) == 0
