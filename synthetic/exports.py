"""Render the true world as each source's own export, with the traps of
docs/research/atlas-data.md §2,
and write the ground truth: which source rows describe the same person, place and cat."""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from synthetic import vocab
from synthetic.world import Cat, Person, Place, World, ordinal
from synthetic.xlsx import XlsxWriter, write_xlsx

ORG_EMAIL = "info@forgottenfelines.com"
ORG_LANDLINE = "707-576-7999"
FAKE_EMAILS = ("none", "noemail@noemail.com", "no@petestablished.com")
EXPORT_CHANGE = dt.date(2026, 1, 12)   # services per appointment fell from ~13 to ~5


class Truth:
    """The ground truth, written as it is drawn: ``<prefix>people.csv``, ``places.csv`` and
    ``cats.csv`` in ``folder`` (one row per source row naming a true entity), keeping only
    the sets of true ids the expected counts need, so a 10× world's millions of truth rows
    are never in memory (issue 20)."""

    HEADER: ClassVar[list[str]] = ["source_system", "source_table", "source_row_id", "true_id"]

    def __init__(self, folder: Path, prefix: str = "") -> None:
        self._files = {kind: (folder / f"{prefix}{kind}.csv").open("w", newline="")
                       for kind in ("people", "places", "cats")}
        self._writers = {kind: csv.writer(fh) for kind, fh in self._files.items()}
        for w in self._writers.values():
            w.writerow(self.HEADER)
        self.people: set[str] = set()
        self.places: set[str] = set()
        self.cats: set[str] = set()

    def person(self, system: str, table: str, rid: str, p: Person) -> None:
        self._writers["people"].writerow((system, table, rid, p.id))
        self.people.add(p.id)

    def place(self, system: str, table: str, rid: str, p: Place | None) -> None:
        if p is not None:
            self._writers["places"].writerow((system, table, rid, p.id))
            self.places.add(p.id)

    def cat(self, system: str, table: str, rid: str, c: Cat) -> None:
        self._writers["cats"].writerow((system, table, rid, c.id))
        self.cats.add(c.id)

    def close(self) -> None:
        """Flush and close the three files."""
        for fh in self._files.values():
            fh.close()


# ---- how people type things -------------------------------------------------------------

def phone_text(rng: random.Random, digits: str | None) -> str:
    if not digits:
        return ""
    a, b, c = digits[:3], digits[3:6], digits[6:]
    return rng.choice((f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}{b}{c}", f"{a}.{b}.{c}",
                       f"+1 {a} {b} {c}", f"1-{a}-{b}-{c}", f"({a}) {b}-{c}"))


def email_text(rng: random.Random, email: str | None) -> str:
    if not email:
        return ""
    roll = rng.random()
    if roll < 0.05:
        return email.upper()
    if roll < 0.08:
        return f" {email} "
    return email


def name_variant(rng: random.Random, first: str) -> str:
    roll = rng.random()
    if roll < 0.05 and first in vocab.NICKNAMES:
        return vocab.NICKNAMES[first]
    if roll < 0.08 and len(first) > 4:
        i = rng.randint(1, len(first) - 3)
        return first[:i] + first[i + 1] + first[i] + first[i + 2:]   # a swapped-letter typo
    if roll < 0.12:
        return first.upper()
    if roll < 0.135:
        return f"{first[0]}."                                          # an initial
    return first


def last_text(rng: random.Random, p: Person) -> str:
    """The surname as a source writes it: a compound one whole, with a space, or one part;
    particles as written, capitalised, run together or dropped; a suffix kept or not."""
    last = p.last
    roll = rng.random()
    if "-" in last:
        a, b = last.split("-", 1)
        last = last if roll < 0.70 else f"{a} {b}" if roll < 0.80 else a if roll < 0.95 else b
    elif " " in last:
        words = last.split()
        last = (last if roll < 0.60 else " ".join(w.capitalize() for w in words)
                if roll < 0.80 else "".join(words).capitalize() if roll < 0.90 else words[-1])
    if p.suffix:
        roll = rng.random()
        if roll < 0.50:
            last = f"{last} {p.suffix}"
        elif roll < 0.65:
            last = f"{last}, {p.suffix}"
    return last


def full_name(rng: random.Random, p: Person) -> str:
    """A name in one field; now and then "Last, First"."""
    first, last = name_variant(rng, p.first), last_text(rng, p)
    return f"{last}, {first}" if rng.random() < 0.05 else f"{first} {last}"


def split_name(rng: random.Random, p: Person) -> tuple[str, str]:
    """First and last fields; now and then "Last, First" typed into the first, the last empty."""
    if rng.random() < 0.01 and not p.suffix:
        return f"{last_text(rng, p)}, {p.first}", ""
    return name_variant(rng, p.first), last_text(rng, p)


def _street_name(rng: random.Random, p: Place, long_form: bool) -> str:
    """The street without its house number: ordinals sometimes in words, the suffix
    sometimes misspelled, the directional abbreviated, in words or left out."""
    long_sfx, short_sfx = p.suffix
    name = p.street
    if name[:-2].isdigit() and rng.random() < 0.30:
        name = vocab.ORDINAL_WORDS[int(name[:-2]) - 1]
    sfx = long_sfx if long_form else short_sfx
    if rng.random() < 0.03:
        sfx = rng.choice(vocab.SUFFIX_MISSPELLINGS[short_sfx])
    text = f"{sfx} {name}" if p.suffix_first else f"{name} {sfx}"
    if p.directional:
        roll = rng.random()
        d = p.directional[0] if roll < 0.6 else p.directional[1] if roll < 0.9 else ""
        if d:
            text = f"{text} {d}" if p.post_directional else f"{d} {text}"
    return text


def corner_line(rng: random.Random, p: Place) -> str:
    """An intersection as people write it: `4th St & Main St`, `Main Street and 4th St`,
    `corner of …`, either street first."""
    assert p.cross is not None
    a = f"{p.street} {rng.choice(p.suffix)}"
    b = f"{p.cross[0]} {rng.choice(p.cross[1])}"
    if rng.random() < 0.5:
        a, b = b, a
    roll = rng.random()
    if roll < 0.55:
        return f"{a} & {b}"
    if roll < 0.80:
        return f"{a} and {b}"
    return f"corner of {a} and {b}"


def street_line(rng: random.Random, p: Place, *, style: int | None = None,
                plain: bool = False) -> str:
    """The street line of a place as a person types it (``plain``: no notes or landmark)."""
    if p.is_intersection:
        return corner_line(rng, p)
    style = rng.randint(0, 5) if style is None else style
    unit = ""
    if p.unit:
        unit = " " + rng.choice(vocab.UNIT_FORMS).format(p.unit)
        unit = unit[1:] if unit.startswith(" ,") else unit
    house = f"{p.house}-{p.house_to}" if p.house_to and rng.random() < 0.5 else str(p.house)
    street = _street_name(rng, p, long_form=style in (1, 4))
    if style == 2:
        street += "."
    line = f"{house}  {street}{unit}" if style == 4 else f"{house} {street}{unit}"
    if style == 3:
        line = line.upper()
    if plain:
        return line
    roll = rng.random()
    if roll < 0.03:
        a = rng.randint(1, 19)
        note = rng.choice(vocab.CROSS_NOTES).format(a=ordinal(a), b=ordinal(a + 1))
        line = f"{line} {note}"
    elif roll < 0.035:
        line = f"{rng.choice(vocab.LANDMARKS)}, {line}"
    return line


def address_line(rng: random.Random, p: Place) -> str:
    line = street_line(rng, p)
    roll = rng.random()
    if roll < 0.45:
        return f"{line}, {p.town}, CA {p.zip}"
    if roll < 0.60:
        return f"{line}, {p.town}, CA, {p.zip}, USA"
    if roll < 0.75:
        return f"{line} {p.town} CA {p.zip}"
    if roll < 0.85:
        return f"{line}, {p.town}, CA {p.zip}-{rng.randint(1000, 9999)}"
    return f"{line}, {p.town}, CA"


def canonical_street(p: Place) -> str:
    """The street line as a geocoder or a clean-address field writes it."""
    if p.cross is not None:
        return f"{p.street} {p.suffix[1]} & {p.cross[0]} {p.cross[1][1]}"
    street = f"{p.suffix[1]} {p.street}" if p.suffix_first else f"{p.street} {p.suffix[1]}"
    if p.directional:
        d = p.directional[0]
        street = f"{street} {d}" if p.post_directional else f"{d} {street}"
    unit = f" Apt {p.unit}" if p.unit else ""
    return f"{p.house} {street}{unit}"


def canonical_address(p: Place) -> str:
    return f"{canonical_street(p)}, {p.town}, CA {p.zip}"


def home_street(rng: random.Random, p: Person) -> tuple[str, Place | None]:
    """The street a mailing-address source sends for a person, and the place it names: now
    and then a PO box, which is no place."""
    if p.place is None:
        return "", None
    if p.po_box and rng.random() < 0.6:
        return p.po_box, None
    return street_line(rng, p.place), p.place


def chip_text(rng: random.Random, chip: str) -> str:
    roll = rng.random()
    if roll < 0.06 and len(chip) == 15:
        return f"{chip[:3]} {chip[3:6]} {chip[6:9]} {chip[9:12]} {chip[12:]}"
    if roll < 0.09 and len(chip) == 15:
        return f"{chip[:3]}-{chip[3:9]}-{chip[9:]}"
    if roll < 0.11:
        return f" {chip}"
    return chip


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _write_json(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")


def _write_ndjson(path: Path, docs: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")


_REC_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _rec_id(rng: random.Random) -> str:
    return "rec" + "".join(rng.choice(_REC_CHARS) for _ in range(14))


# ---- ClinicHQ -----------------------------------------------------------------------------

APPOINTMENT_HEADER = [
    "Number", "Date", "Animal Name", "Microchip Number", "Sex", "Breed", "Primary Color",
    "Spay", "Neuter", "Spay Neuter Status", "Service / Subsidy", "Vet Name", "Technician",
    "Temperature", "Internal Medical Notes", "No Surgery Reason", "Death Type",
    "Total Invoiced", "FeLV/FIV (SNAP test, in-house)", "Lactating", "Pregnant", "In Heat",
    "Cryptorchid", "URI", "Fleas", "Ear mites", "Dental Disease", "Lactating", "Fleas",
]
CAT_HEADER = ["Number", "Date", "Animal Name", "Microchip Number", "Sex", "Breed",
              "Primary Color", "Secondary Color", "Spay Neuter Status", "Weight",
              "Age Years", "Age Months"]
OWNER_HEADER = ["Number", "Date", "Owner First Name", "Owner Last Name", "Owner Address",
                "Owner Phone", "Owner Cell Phone", "Owner Email", "Microchip Number",
                "Animal Name", "Ownership"]
# VolunteerHub's export really has doubled spaces in some headers.
VOLUNTEER_HEADER = ["Name - FirstName", "Name  -  LastName", "Email", "Mobile Phone",
                    "Home Phone", "Street Address  -  Address1", "Street Address - City",
                    "Street Address - State", "Street Address - PostalCode", "UserUid",
                    "User Group Memberships"]


def _visit_dates(rng: random.Random, count: int) -> list[dt.date]:
    start = dt.date(2021, 1, 4)
    days = (dt.date(2026, 11, 20) - start).days
    out = []
    first = start + dt.timedelta(days=rng.randint(0, days - 60))
    for i in range(count):
        d = first + dt.timedelta(days=i * rng.randint(14, 45))
        while d.weekday() >= 5:
            d += dt.timedelta(days=1)
        out.append(d)
    return out


@dataclass
class Account:
    """An owner_info row that is not a person: the org, a placeholder, a business, an address."""

    first: str
    last: str
    email: str = ""
    phone: str = ""
    address: str = ""
    place: Place | None = None    # an address typed as the name still names a real place


def _account(rng: random.Random, places: list[Place]) -> Account:
    kind = rng.random()
    if kind < 0.35:
        return Account("Forgotten Felines", "Foster Program", ORG_EMAIL, ORG_LANDLINE)
    if kind < 0.55:
        return Account("Rebooking", "placeholder")
    if kind < 0.75:
        biz = rng.choice(vocab.BUSINESSES)
        return Account(biz, biz, "", phone_text(rng, f"707{rng.randint(200, 999)}0{rng.randint(100, 999)}"))  # noqa: E501
    if kind < 0.85:
        return Account("SCAS", "", "", "707-565-7100")
    place = rng.choice([p for p in places if not p.unit and not p.is_intersection])
    return Account(street_line(rng, place, style=0, plain=True), "", place=place)


def render_clinichq(world: World, out: Path, truth: Truth) -> dict[str, int]:
    rng = world.rng
    # The three sheets are written as the visits are drawn (XlsxWriter streams), so a 10×
    # world's millions of service lines are never in memory at once; past PART_ROWS
    # service lines the three start a next part together, as a clinic exports a period at
    # a time (one atlas-sized file each; the readers' limits refuse a 3-million-row sheet).
    part = 1

    def sheets() -> tuple[XlsxWriter, XlsxWriter, XlsxWriter]:
        return (XlsxWriter(out / part_name("appointment_info.xlsx", part), APPOINTMENT_HEADER),
                XlsxWriter(out / part_name("cat_info.xlsx", part), CAT_HEADER),
                XlsxWriter(out / part_name("owner_info.xlsx", part), OWNER_HEADER))

    appointments, cat_rows, owner_rows = sheets()
    visits_written = 0
    seen_owner_address: set[str] = set()
    for cat in (c for c in world.cats if c.clinic_number):
        if appointments.rows >= PART_ROWS:
            for sheet in (appointments, cat_rows, owner_rows):
                sheet.close()
            part += 1
            appointments, cat_rows, owner_rows = sheets()
        visits = 2 if rng.random() < world.scale.revisit_rate else 1
        for date in _visit_dates(rng, visits):
            d = date.strftime("%m/%d/%Y")
            rid = f"{cat.clinic_number}_{date.isoformat()}"
            name = cat.name
            chip = chip_text(rng, cat.chip) if cat.chip else ""
            if cat.chip and rng.random() < 0.02:
                name, chip = cat.chip, ""          # the chip typed into the name field
            elif not cat.chip and rng.random() < 0.2:
                chip = rng.choice(("000000000000000", "123456789", "N/A", "0"))
            altered = rng.choice(("Yes", "No", "Unknown", "DidNotAsk"))
            nservices = rng.randint(6, 13) if date < EXPORT_CHANGE else rng.randint(2, 5)
            services = rng.sample(vocab.SERVICES, min(nservices, len(vocab.SERVICES)))
            appt = [cat.clinic_number or "", d, name, chip, cat.sex, cat.breed, cat.color,
                    "Yes" if cat.sex == "Female" else "", "Yes" if cat.sex == "Male" else "",
                    altered, services[0], rng.choice(("Dr. Ellis", "Dr. Nakamura", "Dr. Ortiz")),
                    rng.choice(("Sam", "Ana", "Lee")), f"{rng.uniform(99.5, 102.5):.1f}", "",
                    "", "", f"{rng.randint(50, 180)}.00", rng.choice(("Negative", "", "")),
                    *[rng.choice(("", "", "", "Yes")) for _ in range(10)]]
            block = [appt] + [[""] * 10 + [s] + [""] * 18 for s in services[1:]]
            for _ in range(2 if visits_written % 200 == 17 else 1):
                for line in block:                 # 0.5 %: a re-exported appointment
                    appointments.row(line)
            truth.cat("clinichq", "appointment_info", rid, cat)
            cat_rows.row([cat.clinic_number or "", d, name, chip, cat.sex, cat.breed,
                             cat.color, cat.color2, altered, f"{rng.uniform(4, 16):.1f}",
                             str(rng.randint(0, 12)), str(rng.randint(0, 11))])
            truth.cat("clinichq", "cat_info", rid, cat)
            owner_rows.row(_owner_row(rng, world, cat, d, rid, name, chip, truth,
                                      seen_owner_address))
            visits_written += 1
    for sheet in (appointments, cat_rows, owner_rows):
        sheet.close()
    return {"appointment_info": visits_written, "cat_info": visits_written,
            "owner_info": visits_written}


# Service lines per ClinicHQ export file: the atlas world's 317,941 fit in one.
PART_ROWS = 400_000


def part_name(name: str, part: int) -> str:
    """The file of export part ``part``: ``appointment_info.xlsx``, then
    ``appointment_info_part2.xlsx`` …"""
    if part == 1:
        return name
    stem, dot, ext = name.rpartition(".")
    return f"{stem}_part{part}{dot}{ext}"


def _owner_row(rng: random.Random, world: World, cat: Cat, d: str, rid: str, name: str,
               chip: str, truth: Truth, seen_address: set[str]) -> list[str]:
    owner = cat.owner
    ownership = rng.choice(vocab.OWNERSHIP)
    # An owner's first visit always names them, so every household's place is in the data.
    if owner is None or (owner.id in seen_address and rng.random() < 0.08):
        acct = _account(rng, world.places)
        truth.place("clinichq", "owner_info", rid, acct.place)
        return [cat.clinic_number or "", d, acct.first, acct.last, acct.address, acct.phone,
                "", acct.email, chip, name, "Community Cat (Feral)"]
    first, last = split_name(rng, owner)
    if rng.random() < 0.015 and (owner.cell or owner.landline):
        first, last = name_variant(rng, owner.first), ""
    address = ""
    if owner.place is not None and (owner.id not in seen_address or rng.random() < 0.85):
        address = address_line(rng, owner.place)
        truth.place("clinichq", "owner_info", rid, owner.place)
    first_visit = owner.id not in seen_address
    email = email_text(rng, owner.email) if owner.email and (
        first_visit or rng.random() < 0.8) else ""
    cell = phone_text(rng, owner.cell)
    landline = phone_text(rng, owner.landline)
    if not email and not cell and not landline:
        email = owner.email or ""
    if not email and not cell and not landline:
        cell = phone_text(rng, owner.cell or owner.landline)
    if rng.random() < 0.02 and (email or cell):
        landline = ORG_LANDLINE             # the org's landline as a placeholder
    elif not email and rng.random() < 0.05 and (cell or landline):
        email = rng.choice(FAKE_EMAILS)     # fake domains and the literal "none"
    seen_address.add(owner.id)
    truth.person("clinichq", "owner_info", rid, owner)
    return [cat.clinic_number or "", d, first, last, address, landline, cell, email, chip, name,
            ownership]


# ---- ShelterLuv ---------------------------------------------------------------------------

def render_shelterluv(world: World, out: Path, truth: Truth, cursor: _Cursor) -> dict[str, int]:
    rng = world.rng
    sc = world.scale
    persons = cursor.take(sc.shelter_people_new) + cursor.reuse(sc.shelter_people_reused)
    people_docs = []
    sl_person_id: dict[str, str] = {}
    for i, p in enumerate(persons):
        iid = str(500000 + i)
        sl_person_id[p.id] = iid
        street, place = home_street(rng, p)
        first, last = split_name(rng, p)
        people_docs.append({
            "Internal-ID": iid, "Firstname": first, "Lastname": last,
            "Email": email_text(rng, p.email), "Phone": phone_text(rng, p.cell or p.landline),
            "Street": street,
            "City": p.place.town if p.place else "", "State": "CA" if p.place else "",
            "Zip": p.place.zip if p.place else "",
        })
        truth.person("shelterluv", "people", iid, p)
        truth.place("shelterluv", "people", iid, place)
    clinic_chipped = [c for c in world.cats if c.clinic_number and c.chip]
    shelter_only = [c for c in world.cats if not c.clinic_number and c.owner is None][
        : sc.shelter_only_cats]
    animals = rng.sample(clinic_chipped, min(sc.shelter_animals_from_clinic,
                                             len(clinic_chipped))) + shelter_only
    animal_docs = []
    for i, cat in enumerate(animals):
        iid = str(900000 + i)
        cat.shelter_id = f"A{rng.randint(10, 99)}{100000 + i}"
        chips: list[dict[str, str]] = []
        if cat.chip:
            chip = cat.chip
            if rng.random() < 0.01 and len(chip) == 15:
                chip = iid + chip           # a ShelterLuv id glued to the chip
            chips = [{"Id": chip, "Issuer": "AVID" if len(cat.chip) == 9 else "HomeAgain"}]
        adopter = rng.choice(persons) if persons and rng.random() < 0.6 else None
        animal_docs.append({
            "Internal-ID": iid, "ID": cat.shelter_id, "Name": cat.name, "Type": "Cat",
            "Sex": cat.sex, "Altered": rng.choice(("Yes", "No")), "Breed": cat.breed,
            "Color": cat.color, "Status": rng.choice(("Adopted", "Available", "In Foster",
                                                      "Transferred")),
            "InFoster": rng.random() < 0.1, "Microchips": chips, "PreviousIds": [],
            "AssociatedPerson": {"Internal-ID": sl_person_id[adopter.id]} if adopter else None,
            "LastUpdatedUnixTime": 1_700_000_000 + rng.randint(0, 60_000_000),
        })
        truth.cat("shelterluv", "animals", iid, cat)
    _write_json(out / "shelterluv_people.json", {"people": people_docs})
    _write_json(out / "shelterluv_animals.json", {"animals": animal_docs})

    outcome_rows = []
    outcome_cats = rng.sample(animals, min(sc.shelter_outcomes, len(animals)))
    for cat in outcome_cats:
        p = rng.choice(persons)
        date = _visit_dates(rng, 1)[0]
        rid = f"{cat.shelter_id}_{date.isoformat()}"
        place = p.place
        outcome_rows.append([
            cat.shelter_id or "", chip_text(rng, cat.chip) if cat.chip else "",
            rng.choice(("Adoption", "Foster", "Transfer", "ReturnToOwner", "ReturnToField")),
            date.strftime("%m/%d/%Y"), full_name(rng, p), email_text(rng, p.email),
            phone_text(rng, p.cell or p.landline), street_line(rng, place) if place else "",
            place.town if place else "", "CA" if place else "", place.zip if place else "",
        ])
        truth.cat("shelterluv", "outcomes", rid, cat)
        truth.person("shelterluv", "outcomes", rid, p)
        truth.place("shelterluv", "outcomes", rid, place)
    write_xlsx(out / "shelterluv_outcomes.xlsx", [
        "Animal ID", "Microchip Number", "Outcome Type", "Outcome Date",
        "Outcome To Person Name", "Outcome To Person Email", "Outcome To Person Phone",
        "Outcome To Person Street Address 1", "Outcome To Person City",
        "Outcome To Person State", "Outcome To Person Zip"], outcome_rows)
    return {"people": len(people_docs), "animals": len(animal_docs),
            "outcomes": len(outcome_rows)}


class _Cursor:
    """Hands out the world's identified people: each new source person once, and reuses."""

    def __init__(self, world: World) -> None:
        self.rng = world.rng
        self.pool = [p for p in world.people if not p.name_only]
        self.next = world.scale.clinic_owners
        self.used = self.pool[: world.scale.clinic_owners]

    def take(self, n: int) -> list[Person]:
        got = self.pool[self.next: self.next + n]
        self.next += n
        self.used += got
        return got

    def reuse(self, n: int, *, with_email: bool = False) -> list[Person]:
        pool = [p for p in self.used if p.email] if with_email else self.used
        return self.rng.sample(pool, min(n, len(pool)))


# ---- PetLink, VolunteerHub, Airtable, web intake, manual entry, geocoder -----------------

def render_petlink(world: World, out: Path, truth: Truth, cursor: _Cursor) -> dict[str, int]:
    rng = world.rng
    sc = world.scale
    # PetLink knows owners by email only: a reused person is one whose email other sources
    # know too, or no matcher could tell it is the same person.
    owners = cursor.take(sc.petlink_owners_new) + \
        cursor.reuse(sc.petlink_owners_reused, with_email=True)
    owner_rows = []
    for i, p in enumerate(owners):
        oid = f"PL{700000 + i}"
        street, place = home_street(rng, p)
        email = p.email or f"{p.first}.{_letters(p.last)}{i}@petlink-owner.net".lower()
        first, last = split_name(rng, p)
        owner_rows.append([oid, email_text(rng, email), first, last, street,
                           p.place.town if p.place else "", "CA",
                           p.place.zip if p.place else ""])
        if not p.email:
            p.email = email
        truth.person("petlink", "owners", oid, p)
        truth.place("petlink", "owners", oid, place)
    _write_csv(out / "petlink_owners.csv", ["Owner ID", "Email", "First Name", "Last Name",
                                            "Address", "City", "State", "Zip Code"], owner_rows)
    chipped = [c for c in world.cats if c.chip and c.clinic_number]
    petlink_only = [c for c in world.cats if not c.clinic_number and c.owner is None
                    and c.chip and c.shelter_id is None][: sc.petlink_only_cats]
    pets = rng.sample(chipped, min(sc.petlink_pets_from_known, len(chipped))) + petlink_only
    pet_rows = []
    for i, cat in enumerate(pets):
        pid = f"{3000000 + i}"
        owner = rng.choice(owners)
        email = owner.email or ""
        if rng.random() < 0.03:
            # A made-up email (the real data has 1,252): a new low-confidence "person".
            email = f"{owner.first[0]}{_letters(owner.last)}@{_letters(owner.last)}ln.com".lower()
        pet_rows.append([chip_text(rng, cat.chip or ""), pid, cat.name, cat.breed,
                         last_text(rng, owner),
                         owner.first, email, owner.place.town if owner.place else "", "CA",
                         owner.place.zip if owner.place else "", "Active"])
        truth.cat("petlink", "pets", pid, cat)
        if email == owner.email:
            truth.person("petlink", "pets", pid, owner)
    _write_csv(out / "petlink_pets.csv", ["Microchip", "ID", "Name", "Breed", "Owner",
                                          "First Name", "Email", "City", "State", "Zip Code",
                                          "Status"], pet_rows)
    return {"owners": len(owner_rows), "pets": len(pet_rows)}


def render_volunteerhub(world: World, out: Path, truth: Truth,
                        cursor: _Cursor) -> dict[str, int]:
    rng = world.rng
    sc = world.scale
    vols = cursor.take(sc.volunteers_new) + cursor.reuse(sc.volunteers_reused)
    rows = []
    for i, p in enumerate(vols):
        uid = f"vh-{10000 + i}"
        street, place = home_street(rng, p)
        first, last = split_name(rng, p)
        rows.append([first, last, email_text(rng, p.email),
                     phone_text(rng, p.cell), phone_text(rng, p.landline),
                     street, p.place.town if p.place else "",
                     "CA" if p.place else "", p.place.zip if p.place else "", uid,
                     rng.choice(("Approved Trappers", "Approved Foster Parent",
                                 "Approved Trappers;Approved Foster Parent", "Volunteers"))])
        truth.person("volunteerhub", "users", uid, p)
        truth.place("volunteerhub", "users", uid, place)
    write_xlsx(out / "volunteerhub_users.xlsx", VOLUNTEER_HEADER, rows)
    return {"users": len(rows)}


def render_airtable(world: World, out: Path, truth: Truth, cursor: _Cursor) -> dict[str, int]:
    rng = world.rng
    sc = world.scale
    geocodable = [p for p in world.places if p.geocodable and not p.is_intersection]
    corners = [p for p in world.places if p.is_intersection]
    trappers = cursor.take(sc.trappers)
    trapper_docs = []
    for i, p in enumerate(trappers):
        if not p.email:   # Airtable's trapper table carries no phone: the email identifies
            p.email = f"{p.first}.{_letters(p.last)}.trapper{i}@gmail.com".lower()
        rec = _rec_id(rng)
        trapper_docs.append({"id": rec, "createdTime": "2024-03-01T10:00:00.000Z", "fields": {
            "Name": full_name(rng, p), "Email": p.email or "",
            "Address": address_line(rng, p.place) if p.place else "",
            "Approval Status": "Approved", "Preferred Regions": rng.choice(("North", "South"))}})
        truth.person("airtable", "trappers", rec, p)
        truth.place("airtable", "trappers", rec, p.place)
    trapper_ids = [d["id"] for d in trapper_docs]
    requesters = cursor.take(sc.trapping_requests)
    req_docs = []
    for n, p in enumerate(requesters, start=1):
        rec = _rec_id(rng)
        site = _site(rng, geocodable, corners)
        total = rng.randint(1, 25) if n % 137 else 150      # now and then an implausible one
        site.colony_size = max(site.colony_size, total)
        fields: dict[str, Any] = {
            "Case Number": f"TR-{2000 + n}", "Case Status": rng.choice(("Open", "Closed",
                                                                        "In Progress")),
            "Created": f"{rng.randint(2022, 2026)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
            "Client Name": full_name(rng, p), "First Name": p.first, "Last Name": p.last,
            "Clean Phone": phone_text(rng, p.cell or p.landline), "Clean Email": p.email or "",
            "Address": street_line(rng, site), "City": site.town, "Zip": site.zip,
            "Latitude": site.lat, "Longitude": site.lng,
            "Total Cats to be trapped": total, "Adult Cats": max(total - 2, 0),
            "Kittens Present?": rng.choice(("Yes", "No")),
            "Trappers Assigned": rng.sample(trapper_ids, 1) if rng.random() < 0.9 else [],
            "Case Info": "Colony behind the barn", "Internal Notes ": "",
        }
        req_docs.append({"id": rec, "createdTime": "2024-05-01T10:00:00.000Z", "fields": fields})
        truth.person("airtable", "trapping_requests", rec, p)
        truth.place("airtable", "trapping_requests", rec, site)
    appt_people = cursor.take(sc.appointment_requests)
    appt_docs = []
    for p in appt_people:
        rec = _rec_id(rng)
        home = p.place or rng.choice(geocodable)
        appt_docs.append({"id": rec, "createdTime": "2025-02-01T10:00:00.000Z", "fields": {
            "Name": full_name(rng, p), "First Name": p.first, "Last Name": last_text(rng, p),
            "Email": email_text(rng, p.email), "Best phone number to reach you":
                phone_text(rng, p.cell or p.landline),
            "Your address": street_line(rng, home), "Your city": home.town,
            "Your Zip Code": home.zip, "Clean Address": canonical_address(home),
            "Clean Address (Cats)": canonical_address(home),
            "Submission Status": rng.choice(("New", "Booked", "Declined"))}})
        truth.person("airtable", "appointment_requests", rec, p)
        truth.place("airtable", "appointment_requests", rec, home)
    _write_json(out / "airtable_trappers.json", {"records": trapper_docs})
    _write_json(out / "airtable_trapping_requests.json", {"records": req_docs})
    _write_json(out / "airtable_appointment_requests.json", {"records": appt_docs})
    return {"trappers": len(trapper_docs), "trapping_requests": len(req_docs),
            "appointment_requests": len(appt_docs)}


def _site(rng: random.Random, houses: list[Place], corners: list[Place]) -> Place:
    """Where cats are reported: a house, or (8 %) a street corner."""
    return rng.choice(corners) if corners and rng.random() < 0.08 else rng.choice(houses)


def _letters(text: str) -> str:
    return "".join(c for c in text if c.isalnum())


def render_web_intake(world: World, out: Path, truth: Truth, cursor: _Cursor) -> dict[str, int]:
    rng = world.rng
    geocodable = [p for p in world.places if p.geocodable and not p.is_intersection]
    corners = [p for p in world.places if p.is_intersection]
    docs = []
    for i, p in enumerate(cursor.take(world.scale.web_intake)):
        sid = f"wi-{40000 + i}"
        site = _site(rng, geocodable, corners)
        count = rng.randint(1, 12)
        docs.append({
            "submission_id": sid, "submitted_at": f"2026-{rng.randint(1, 11):02d}-15T09:30:00Z",
            "first_name": p.first, "last_name": last_text(rng, p),
            "email": email_text(rng, p.email),
            "phone": phone_text(rng, p.cell or p.landline),
            "requester_address": street_line(rng, p.place) if p.place else "",
            "requester_city": p.place.town if p.place else "",
            "requester_zip": p.place.zip if p.place else "",
            "cats_address": street_line(rng, site), "cats_city": site.town, "cats_zip": site.zip,
            "county": "Sonoma", "ownership_status": rng.choice((
                "unknown_stray", "community_colony", "my_cat", "neighbors_cat", "unsure")),
            "cat_count_estimate": count, "fixed_status": rng.choice((
                "none_fixed", "some_fixed", "most_fixed", "all_fixed", "unknown")),
            "has_kittens": rng.random() < 0.3, "kitten_count": rng.randint(0, 4),
            "awareness_duration": rng.choice(("weeks", "months", "years")),
            "is_emergency": rng.random() < 0.05, "cats_being_fed": rng.random() < 0.7,
            "situation_description": "Cats living under the porch", "status": "new"})
        truth.person("web_intake", "submissions", sid, p)
        truth.place("web_intake", "submissions", sid, site)
    _write_json(out / "web_intake_submissions.json", docs)
    return {"submissions": len(docs)}


def render_manual(world: World, out: Path, truth: Truth, cursor: _Cursor) -> dict[str, int]:
    rng = world.rng
    docs = []
    name_only = [p for p in world.people if p.name_only]
    entries = [(p, True) for p in name_only] + \
        [(p, False) for p in cursor.take(world.scale.manual_identified)]
    for i, (p, bare) in enumerate(entries):
        eid = f"me-{60000 + i}"
        docs.append({
            "entry_id": eid, "entity_type": "person", "first_name": p.first,
            "last_name": p.last, "email": "" if bare else (p.email or ""),
            "phone": "" if bare else phone_text(rng, p.cell or p.landline),
            "address": "" if bare or not p.place else address_line(rng, p.place),
            "entered_by": rng.choice(("staff:maria", "staff:lee", "staff:tom")),
            "entered_at": "2026-06-01T12:00:00Z",
            "notes": "walk-in, name only" if bare else ""})
        truth.person("atlas_ui", "manual_entry", eid, p)
        if not bare:
            truth.place("atlas_ui", "manual_entry", eid, p.place)
    _write_ndjson(out / "manual_entry.ndjson", docs)
    return {"manual_entry": len(docs)}


def render_geocoder(world: World, out: Path, truth: Truth, referenced: set[str]) -> dict[str, int]:
    docs = []
    for p in world.places:
        if p.id not in referenced:
            continue
        key = f"gm-{p.id}"
        ok = p.geocodable
        docs.append({
            "place_key": key, "query_address": canonical_address(p),
            "status": "OK" if ok else "ZERO_RESULTS",
            "formatted_address": f"{canonical_address(p)}, USA" if ok else "",
            "lat": p.lat if ok else None, "lng": p.lng if ok else None})
        truth.place("google_maps", "geocode_results", key, p)
    _write_ndjson(out / "geocode_results.ndjson", docs)
    return {"geocode_results": len(docs)}


PARTNER_HEADER = ["ID", "Event", "First Name", "Last Name", "Email", "Phone", "Street", "City",
                  "State", "Zip"]


def render_partner_signups(world: World, out: Path, truth: Truth, cursor: _Cursor,
                           referenced: set[str]) -> dict[str, int]:
    """partner_events/signups: a partner's event sign-up sheet, its address in four columns
    (street, city, state, ZIP) and its name in two, people the other sources know, at
    places they name (``referenced``), so the world's counts hold with or without it."""
    rng = world.rng
    known = [p for p in cursor.used if p.place is not None and p.place.id in referenced
             and (p.email or p.cell)]
    count = min(len(known), max(25, world.scale.places // 11))
    rows = []
    for i, p in enumerate(rng.sample(known, count)):
        rid = f"pe-{80000 + i}"
        street, place = home_street(rng, p)
        first, last = split_name(rng, p)
        home = p.place
        assert home is not None
        rows.append([rid, rng.choice(("Spay Day 2025", "Adoption Fair", "Cat Café Night")),
                     first, last, email_text(rng, p.email),
                     phone_text(rng, p.cell) if rng.random() < 0.7 or not p.email else "",
                     street, home.town if rng.random() < 0.95 else "", "CA",
                     home.zip if rng.random() < 0.9 else ""])
        truth.person("partner_events", "signups", rid, p)
        truth.place("partner_events", "signups", rid, place)
    _write_csv(out / "partner_signups.csv", PARTNER_HEADER, rows)
    return {"signups": len(rows)}


def shape_counts(world: World) -> dict[str, int]:
    """How many places and people of the world carry each of issue 17's shapes (the rates
    at which they are written each way are in docs/synthetic-world.md)."""
    places = [p for p in world.places if not p.is_intersection]
    people = [p for p in world.people if not p.name_only]
    return {
        "places_numbered_street": sum(p.street[:-2].isdigit() for p in places),
        "places_lettered_avenue": sum(p.suffix_first for p in places),
        "places_pre_directional": sum(bool(p.directional) and not p.post_directional
                                      for p in places),
        "places_post_directional": sum(p.post_directional for p in places),
        "places_ranged_number": sum(p.house_to is not None for p in places),
        "places_with_unit": sum(p.unit is not None for p in places),
        "intersections": len(world.places) - len(places),
        "people_compound_surname": sum("-" in p.last for p in people),
        "people_particle_surname": sum(" " in p.last for p in people),
        "people_name_suffix": sum(p.suffix is not None for p in people),
        "people_po_box": sum(p.po_box is not None for p in people),
    }
