"""The true world: places, households, people, cats, and who appears in which source.

Everything is drawn from one ``random.Random(seed)``, so a seed gives the same world. The
renderers in ``exports`` write it out as each source's own export, with the mess.
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass, field, fields, replace

from synthetic import vocab


@dataclass(frozen=True)
class Scale:
    """How big a world is. ``atlas`` matches the real platform (docs/research/atlas-data.md §5)."""

    name: str
    places: int
    ungeocodable_places: int
    name_only_people: int
    clinic_owners: int
    clinic_cats: int
    revisit_rate: float
    shelter_people_new: int
    shelter_people_reused: int
    shelter_only_cats: int
    shelter_animals_from_clinic: int
    shelter_outcomes: int
    petlink_owners_new: int
    petlink_owners_reused: int
    petlink_only_cats: int
    petlink_pets_from_known: int
    volunteers_new: int
    volunteers_reused: int
    trappers: int
    trapping_requests: int
    appointment_requests: int
    web_intake: int
    manual_identified: int
    chipless_clinic_cats: int
    chipless_shelter_cats: int


SCALES = {
    "atlas": Scale(
        name="atlas", places=11_400, ungeocodable_places=93, name_only_people=986,
        clinic_owners=26_000, clinic_cats=34_800, revisit_rate=0.125,
        shelter_people_new=8_200, shelter_people_reused=926, shelter_only_cats=1_200,
        shelter_animals_from_clinic=10_106, shelter_outcomes=6_420,
        petlink_owners_new=3_300, petlink_owners_reused=479, petlink_only_cats=600,
        petlink_pets_from_known=7_680, volunteers_new=900, volunteers_reused=442,
        trappers=120, trapping_requests=275, appointment_requests=1_136, web_intake=600,
        manual_identified=300, chipless_clinic_cats=1_500, chipless_shelter_cats=108,
    ),
    "small": Scale(
        name="small", places=300, ungeocodable_places=4, name_only_people=12,
        clinic_owners=500, clinic_cats=650, revisit_rate=0.10,
        shelter_people_new=120, shelter_people_reused=20, shelter_only_cats=30,
        shelter_animals_from_clinic=150, shelter_outcomes=90,
        petlink_owners_new=50, petlink_owners_reused=10, petlink_only_cats=15,
        petlink_pets_from_known=120, volunteers_new=25, volunteers_reused=10,
        trappers=8, trapping_requests=20, appointment_requests=40, web_intake=25,
        manual_identified=10, chipless_clinic_cats=25, chipless_shelter_cats=5,
    ),
}


def times(base: Scale, factor: int, name: str) -> Scale:
    """``base`` with every count multiplied by ``factor``; the rates (revisits, and every
    trap's rate in ``exports``) stay the same, so a 10× world has the same traps, ten times
    as often (issue 20, docs/synthetic-world.md "Larger worlds")."""
    counts = {f.name: getattr(base, f.name) * factor for f in fields(base)
              if f.type in (int, "int")}
    return replace(base, name=name, **counts)


# atlas2 and atlas3 are for measuring how the load's cost grows with the data (a 1× and a
# 2×–3× world compared, docs/benchmarks.md); atlas10 is the county-wide organisation.
SCALES.update({f"atlas{k}": times(SCALES["atlas"], k, f"atlas{k}") for k in (2, 3, 10)})


@dataclass(slots=True)
class Place:
    id: str
    house: int
    street: str
    suffix: tuple[str, str]
    unit: str | None
    town: str
    zip: str
    lat: float
    lng: float
    geocodable: bool = True
    colony_size: int = 0
    # Issue 17's shapes (docs/synthetic-world.md, "Shapes"): a directional before or after
    # the street, (abbreviation, word); a ranged house number's last number; "Avenue A"
    # (the suffix written first); an intersection's other street (then ``house`` is 0 and
    # the place is a corner, never the same place as a house on either street).
    directional: tuple[str, str] | None = None
    post_directional: bool = False
    house_to: int | None = None
    suffix_first: bool = False
    cross: tuple[str, tuple[str, str]] | None = None

    @property
    def is_intersection(self) -> bool:
        return self.cross is not None


@dataclass(slots=True)
class Person:
    id: str
    first: str
    last: str
    email: str | None
    cell: str | None
    landline: str | None = None      # shared by the household when set
    place: Place | None = None
    name_only: bool = False
    suffix: str | None = None        # Jr., Sr., III
    po_box: str | None = None        # a mailing address some sources send instead of the home


@dataclass(slots=True)
class Cat:
    id: str
    name: str
    sex: str
    breed: str
    color: str
    color2: str
    chip: str | None
    clinic_number: str | None = None
    shelter_id: str | None = None
    owner: Person | None = None
    place: Place | None = None
    visits: list[str] = field(default_factory=list)   # MM/DD/YYYY


@dataclass(slots=True)
class World:
    seed: int
    scale: Scale
    places: list[Place]
    people: list[Person]
    cats: list[Cat]
    rng: random.Random


def _surname(rng: random.Random) -> str:
    """A surname: 3 % compound (Delgado-Ruiz), 1.5 % with particles (de la Cruz)."""
    last = rng.choice(vocab.LAST_NAMES)
    roll = rng.random()
    if roll < 0.03:
        return f"{last}-{rng.choice(vocab.LAST_NAMES)}"
    if roll < 0.045:
        return rng.choice(vocab.PARTICLE_SURNAMES)
    return last


def _suffix_and_box(rng: random.Random, person: Person) -> None:
    """2 % of people write a suffix (Jr., III); 3 % of those at home have a PO box too."""
    if rng.random() < 0.02:
        person.suffix = rng.choice(vocab.NAME_SUFFIXES)
    if person.place is not None and rng.random() < 0.03:
        person.po_box = f"PO Box {rng.randint(10, 9999)}"


def _letters(text: str) -> str:
    return "".join(c for c in text if c.isalnum())


def _phone(rng: random.Random, used: set[str]) -> str:
    while True:
        area = rng.choice(("707", "707", "707", "415", "510", "925"))
        number = f"{area}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
        # 707-576-7999 is the organisation's own landline, a placeholder in the data.
        if number not in used and number != "7075767999" and number[3:6] != "555":
            used.add(number)
            return number


def _chip(rng: random.Random, used: set[str]) -> str:
    while True:
        kind = rng.random()
        if kind < 0.90:
            chip = rng.choice(("981020", "985112", "900164", "956000")) + \
                f"{rng.randint(0, 999_999_999):09d}"
        elif kind < 0.96:
            chip = f"{rng.randint(100_000_000, 999_999_999)}"          # 9-digit AVID
        else:
            chip = "".join(rng.choice("0123456789ABCDEF") for _ in range(10))  # 10-char hex
        if chip not in used and len(set(chip)) > 1:
            used.add(chip)
            return chip


def _places(rng: random.Random, scale: Scale) -> list[Place]:
    places: list[Place] = []
    seen: set[tuple[int, str, str, str | None]] = set()
    while len(places) < scale.places:
        town, zip5, lat0, lng0 = rng.choice(vocab.TOWNS)
        street, suffix, suffix_first = _street(rng)
        house = rng.randint(1, 99) * 100 + rng.randint(0, 99)
        unit = str(rng.randint(1, 40)) if rng.random() < 0.08 else None
        # The key ignores the directional: N Main and S Main are two places in the engines,
        # but a record that leaves the directional out could then be either.
        key = (house, street, zip5, unit)
        if key in seen:
            continue
        seen.add(key)
        directional, post = None, False
        roll = rng.random()
        if roll < 0.03:
            directional = rng.choice(vocab.PRE_DIRECTIONALS)
        elif roll < 0.06:
            directional, post = rng.choice(vocab.POST_DIRECTIONALS), True
        house_to = house + 2 * rng.randint(1, 5) if unit is None and rng.random() < 0.015 \
            else None
        # Houses on one street lie along a line; 100 numbers ~ 150 m, so two houses are
        # always tens of metres apart (the 10 m place match cannot join them by accident).
        h = zlib.crc32(f"{street}|{zip5}".encode())
        angle = (h % 360) * math.pi / 180
        along = house / 100 * 0.00135 + (h % 97) * 0.0004
        lat = round(lat0 + along * math.sin(angle) + (h % 50) * 0.0003, 6)
        lng = round(lng0 + along * math.cos(angle) + (h % 53) * 0.0003, 6)
        places.append(Place(f"place-{len(places) + 1:05d}", house, street, suffix, unit,
                            town, zip5, lat, lng, directional=directional,
                            post_directional=post, house_to=house_to,
                            suffix_first=suffix_first))
    for p in rng.sample(places, scale.ungeocodable_places):
        p.geocodable = False
    return places


def _street(rng: random.Random) -> tuple[str, tuple[str, str], bool]:
    """A street name and suffix: mostly named streets, 6 % numbered (7th St, 2nd Ave), 1 %
    lettered avenues written suffix first (Avenue A)."""
    roll = rng.random()
    if roll < 0.06:
        return ordinal(rng.randint(1, 20)), rng.choice(vocab.STREET_SUFFIXES[:2]), False
    if roll < 0.07:
        return rng.choice("ABCDEF"), vocab.STREET_SUFFIXES[1], True
    return rng.choice(vocab.STREET_NAMES), rng.choice(vocab.STREET_SUFFIXES), False


def ordinal(n: int) -> str:
    """1 → 1st, 2 → 2nd, 11 → 11th."""
    tail = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{tail}"


def _intersections(rng: random.Random, places: list[Place], count: int) -> list[Place]:
    """Street corners (colonies are often reported at one): places of their own, made of two
    streets that houses of the world lie on, in the first one's town."""
    out: list[Place] = []
    seen: set[tuple[str, str, str]] = set()
    while len(out) < count:
        a, b = rng.sample(places, 2)
        if a.street == b.street or a.suffix_first or b.suffix_first:
            continue
        one, two = sorted((f"{a.street} {a.suffix[1]}", f"{b.street} {b.suffix[1]}"))
        key = (one, two, a.town)
        if key in seen:
            continue
        seen.add(key)
        out.append(Place(f"corner-{len(out) + 1:04d}", 0, a.street, a.suffix, None, a.town,
                         a.zip, round(a.lat + 0.0007, 6), round(a.lng - 0.0009, 6),
                         cross=(b.street, b.suffix)))
    return out


def build(seed: int, scale_name: str | Scale) -> World:
    """Build the true world for ``seed`` at ``scale`` (a name of SCALES, or a Scale)."""
    scale = scale_name if isinstance(scale_name, Scale) else SCALES[scale_name]
    rng = random.Random(seed)
    places = _places(rng, scale)
    phones: set[str] = set()
    emails: set[str] = set()
    people: list[Person] = []

    def new_person(place: Place | None = None, *, name_only: bool = False) -> Person:
        first = rng.choice(vocab.FIRST_NAMES)
        last = _surname(rng)
        pid = f"person-{len(people) + 1:06d}"
        if name_only:
            person = Person(pid, first, last, None, None, place=None, name_only=True)
        else:
            email = None
            if rng.random() < 0.78:
                base = f"{first}.{_letters(last)}{rng.randint(1, 9999)}".lower()
                email = f"{base}@{rng.choice(('gmail.com', 'yahoo.com', 'sonic.net', 'comcast.net', 'hotmail.com'))}"  # noqa: E501
                while email in emails:
                    email = f"{base}{rng.randint(0, 9)}@gmail.com"
                emails.add(email)
            cell = _phone(rng, phones) if (email is None or rng.random() < 0.8) else None
            person = Person(pid, first, last, email, cell, place=place)
            _suffix_and_box(rng, person)
        people.append(person)
        return person

    # Households: most places get one or more residents; some share a landline.
    for place in places:
        size = rng.choices((1, 2, 3, 4), weights=(55, 30, 10, 5))[0]
        landline = _phone(rng, phones) if size > 1 and rng.random() < 0.35 else None
        for _ in range(size):
            resident = new_person(place)
            if landline:
                resident.landline = landline
                if resident.email is None and resident.cell is None:
                    resident.cell = _phone(rng, phones)
    for _ in range(scale.name_only_people):
        new_person(name_only=True)

    # Corners are added after the households: nobody lives at one.
    places += _intersections(rng, places[: scale.places], max(4, scale.places // 70))

    identified = [p for p in people if not p.name_only]
    needed = (scale.clinic_owners + scale.shelter_people_new + scale.petlink_owners_new
              + scale.volunteers_new + scale.trappers + scale.trapping_requests
              + scale.appointment_requests + scale.web_intake + scale.manual_identified)
    while len(identified) < needed:
        identified.append(new_person(None))

    chips: set[str] = set()
    cats: list[Cat] = []

    def new_cat(owner: Person | None, chipless: bool) -> Cat:
        name = "Unknown" if rng.random() < 0.319 else rng.choice(vocab.CAT_NAMES)
        cat = Cat(
            f"cat-{len(cats) + 1:06d}", name, rng.choice(("Male", "Female")),
            rng.choice(vocab.BREEDS), rng.choice(vocab.COLORS), rng.choice(("", *vocab.COLORS)),
            None if chipless else _chip(rng, chips), owner=owner,
            place=owner.place if owner else rng.choice(places),
        )
        cats.append(cat)
        return cat

    clinic_owners = identified[: scale.clinic_owners]
    for i in range(scale.clinic_cats):
        owner = clinic_owners[i % len(clinic_owners)] if i < len(clinic_owners) \
            else rng.choice(clinic_owners)
        cat = new_cat(owner, chipless=i < scale.chipless_clinic_cats)
        cat.clinic_number = f"{rng.randint(21, 26)}-{len(cats):05d}"
    for i in range(scale.shelter_only_cats):
        cat = new_cat(None, chipless=i < scale.chipless_shelter_cats)
    for _ in range(scale.petlink_only_cats):
        new_cat(None, chipless=False)
    return World(seed, scale, places, people, cats, rng)
