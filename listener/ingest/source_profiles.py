"""What ingest knows about each source's export: which fields identify a record, the names
its processor reads the fields by (and the other names real exports give them), and the
ClinicHQ service-line quirk. Unknown sources name their id field with ``--id-field``."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from listener.core.field_names import field_key
from listener.core.record_ids import id_text
from listener.ingest.readers import Row


@dataclass(frozen=True)
class SourceProfile:
    """How to read one source table's export."""

    id_fields: tuple[str, ...]
    # ClinicHQ: the record id is Number + visit date (one Number recurs across visits).
    date_field: str | None = None
    # ClinicHQ appointment_info: one row per service line; continuation rows have a blank
    # Number and are merged into the appointment's "All Services".
    merge_service_lines: bool = False
    # The names the source's processor reads (sql/core/functions/processors.sql); a header
    # that is one of them written another way (case, spacing, punctuation) or one of its
    # ``aliases`` is staged under that name (``HeaderMapper``).
    fields: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    # the fields are the registry's expected_fields (a source added with SQL alone), read by
    # its routing rules rather than by a processor of its own
    registry: bool = False


# The header names each processor reads, and the other names real exports use for them
# (docs/research/atlas-data.md §2). Data, not code: a new export's name for a field is one
# more alias here.
FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("clinichq", "appointment_info"): (
        "Number", "Date", "Animal Name", "Microchip Number", "Sex", "Breed",
        "Spay Neuter Status", "Primary Color", "Vet Name", "Service / Subsidy"),
    ("clinichq", "cat_info"): (
        "Number", "Date", "Animal Name", "Microchip Number", "Sex", "Breed",
        "Spay Neuter Status", "Primary Color", "Secondary Color", "Weight", "Age Years",
        "Age Months"),
    ("clinichq", "owner_info"): (
        "Number", "Date", "Owner First Name", "Owner Last Name", "Owner Email", "Owner Phone",
        "Owner Cell Phone", "Owner Address", "Ownership"),
    ("shelterluv", "people"): (
        "Internal-ID", "Firstname", "Lastname", "Email", "Phone", "Street", "City", "State",
        "Zip"),
    ("shelterluv", "animals"): (
        "Internal-ID", "ID", "Microchips", "Name", "Sex", "Breed", "Altered", "Color",
        "AssociatedPerson", "Status"),
    ("shelterluv", "outcomes"): (
        "Animal ID", "Microchip Number", "Outcome Type", "Outcome Date",
        "Outcome To Person Name", "Outcome To Person Email", "Outcome To Person Phone",
        "Outcome To Person Street Address 1", "Outcome To Person City",
        "Outcome To Person State", "Outcome To Person Zip"),
    ("petlink", "owners"): (
        "Owner ID", "First Name", "Last Name", "Email", "Address", "City", "State", "Zip Code"),
    ("petlink", "pets"): ("ID", "Microchip", "Name", "Breed", "Email", "First Name", "Owner"),
    ("volunteerhub", "users"): (
        "UserUid", "Name - FirstName", "Name - LastName", "Email", "Home Phone",
        "Mobile Phone", "Street Address - Address1", "Street Address - City",
        "Street Address - State", "Street Address - PostalCode", "User Group Memberships"),
    ("airtable", "trappers"): ("Name", "Email", "Address"),
    ("airtable", "trapping_requests"): (
        "Case Number", "Case Status", "Created", "First Name", "Last Name", "Clean Phone",
        "Clean Email", "Client Email (LK)", "Address", "Cats Address", "Trapping Address",
        "City", "Zip", "Latitude", "Longitude", "Total Cats to be trapped", "Adult Cats",
        "Kittens Present?", "Trappers Assigned", "Case Info"),
    ("airtable", "appointment_requests"): (
        "First Name", "Last Name", "Email", "Best phone number to reach you", "Clean Address",
        "Your address", "Your city", "Your Zip Code", "Submission Status"),
}

_ZIP = ("Zip", "ZIP", "Zip Code", "ZIP Code", "Postal Code", "Zipcode")
ALIASES: dict[tuple[str, str], dict[str, str]] = {
    # older ClinicHQ files name the animal "Patient Name"
    ("clinichq", "appointment_info"): {"Patient Name": "Animal Name"},
    ("clinichq", "cat_info"): {"Patient Name": "Animal Name"},
    ("shelterluv", "people"): {z: "Zip" for z in _ZIP},
    ("shelterluv", "outcomes"): {f"Outcome To Person {z}": "Outcome To Person Zip"
                                 for z in _ZIP},
    ("petlink", "owners"): {z: "Zip Code" for z in _ZIP},
    ("volunteerhub", "users"): {f"Street Address - {z}": "Street Address - PostalCode"
                                for z in _ZIP},
    ("airtable", "trapping_requests"): {z: "Zip" for z in _ZIP},
    ("airtable", "appointment_requests"): {f"Your {z}": "Your Zip Code" for z in _ZIP},
}

PROFILES: dict[tuple[str, str], SourceProfile] = {
    ("clinichq", "appointment_info"): SourceProfile(("Number",), "Date", True),
    ("clinichq", "cat_info"): SourceProfile(("Number",), "Date"),
    ("clinichq", "owner_info"): SourceProfile(("Number",), "Date"),
    ("airtable", "trapping_requests"): SourceProfile(("Record ID", "Case Number")),
    ("airtable", "appointment_requests"): SourceProfile(("Record ID",)),
    ("airtable", "trappers"): SourceProfile(("Record ID",)),
    ("shelterluv", "animals"): SourceProfile(("Internal-ID",)),
    ("shelterluv", "people"): SourceProfile(("Internal-ID",)),
    ("shelterluv", "events"): SourceProfile(("Internal-ID", "Time")),
    ("shelterluv", "outcomes"): SourceProfile(("Animal ID",), "Outcome Date"),
    ("petlink", "pets"): SourceProfile(("ID", "Microchip")),
    ("petlink", "owners"): SourceProfile(("Owner ID",)),
    ("volunteerhub", "users"): SourceProfile(("UserUid", "Email")),
    ("web_intake", "submissions"): SourceProfile(("submission_id", "id")),
    ("atlas_ui", "manual_entry"): SourceProfile(("entry_id", "id")),
    ("google_maps", "geocode_results"): SourceProfile(("place_key",)),
    ("client_survey", "responses"): SourceProfile(("response_id", "Response ID")),
}

GENERIC = SourceProfile(("id", "ID", "Id", "record_id", "Record ID"))


def is_known_source(source_system: str, source_table: str) -> bool:
    """Whether ingest knows the source without the registry (a built-in profile)."""
    return (source_system, source_table) in PROFILES


def profile_for(
    source_system: str, source_table: str, id_fields: Sequence[str] = (),
    registry_fields: Sequence[str] = (),
) -> SourceProfile:
    """The profile of a source table; ``id_fields`` (from ``--id-field`` or the registry's
    ``id_field_candidates``) override the built-in ones. ``registry_fields`` (the registry's
    ``expected_fields``) are the names a source without a processor of its own is read by:
    its headers are matched to them as a processor's are (``Email Address`` for
    ``EMAIL ADDRESS``), since its routing rules name them verbatim."""
    key = (source_system, source_table)
    base = PROFILES.get(key, GENERIC)
    # a field listed with padding (" Name ") names no header ingest makes (it trims them):
    # `rules check` says so; renaming headers to it would stage the padding
    registry_fields = [f for f in registry_fields if f == " ".join(f.split())]
    return SourceProfile(tuple(id_fields) or base.id_fields, base.date_field,
                         base.merge_service_lines, FIELDS.get(key, tuple(registry_fields)),
                         ALIASES.get(key, {}), registry=key not in FIELDS and bool(registry_fields))


class HeaderMapper:
    """Stages each field a processor reads under the name it reads it by.

    A header is renamed when it is not already that name but its ``field_key``
    (listener/core/field_names.py) is the key of one of the profile's ``fields`` or
    ``aliases`` (``Patient Name`` → ``Animal Name``, ``ZIP`` → ``Zip``), and no other header
    of the row has that name already (then both stay as they are: no column hides another).
    Other headers are kept verbatim. ``renamed`` records what was renamed, for the run's
    notes; ``seen`` every header met."""

    def __init__(self, profile: SourceProfile) -> None:
        self._targets: dict[str, str] = {field_key(f): f for f in profile.fields}
        for alias, name in profile.aliases.items():
            self._targets.setdefault(field_key(alias), name)
        self._fields = profile.fields
        self._plans: dict[tuple[str, ...], dict[str, str]] = {}
        self.renamed: dict[str, str] = {}
        self.seen: set[str] = set()

    def _plan(self, keys: tuple[str, ...]) -> dict[str, str]:
        plan: dict[str, str] = {}
        present = set(keys)
        self.seen.update(keys)
        for key in keys:
            target = self._targets.get(field_key(key))
            if target is None or target == key or target in present:
                continue
            if target in plan.values():   # two headers for one field: the first wins
                continue
            plan[key] = target
        self.renamed.update(plan)
        return plan

    def __call__(self, rows: Iterable[Row]) -> Iterator[Row]:
        for row in rows:
            if row.payload is not None and self._targets:
                keys = tuple(row.payload)
                plan = self._plans.get(keys)
                if plan is None:
                    plan = self._plans[keys] = self._plan(keys)
                if plan:
                    row.payload = {plan.get(k, k): v for k, v in row.payload.items()}
            yield row

    def missing(self) -> list[str]:
        """The processor's fields that no header of the file gave (for a tabular file, whose
        header is its shape; a JSON export leaves empty fields out of its records)."""
        given = {self.renamed.get(k, k) for k in self.seen}
        return [f for f in self._fields if f not in given]


_CLOCK = (r"(?:(?:[ t]|,\s*)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[ap]\.?m\.?)?"
          r"\s*(?:z|(?:gmt|utc)?\s*[+-]\d{1,2}(?::?\d{2})?|gmt|utc|[a-z][sd]t)?)?")
_YEAR_FIRST = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})" + _CLOCK, re.ASCII)
_US_DATE = re.compile(r"(\d{1,2})([/-])(\d{1,2})\2(\d{4}|\d{2})" + _CLOCK, re.ASCII)
_NAMED_DATE = re.compile(r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?"
                         r"(?:([a-z]{3,9})\.?[\s-]+(\d{1,2})(?:st|nd|rd|th)?,?"
                         r"|(\d{1,2})(?:st|nd|rd|th)?[\s-]+([a-z]{3,9})\.?,?)"
                         r"[\s-]+(\d{4}|\d{2})" + _CLOCK, re.ASCII)
_SERIAL_DATE = re.compile(r"([2-7]\d{4})(?:\.\d+)?", re.ASCII)
_DATE_PADDING = " \t\r\n\xa0"   # what the SQL readers trim, no more
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
             "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun")
_DIGITS = str.maketrans("", "", "0123456789")
_DIGITS_AND_SEPARATORS = str.maketrans("", "", "0123456789/-")


def parse_date(value: str) -> dt.date | None:
    """A date as the exports write one, read as trapper.parse_us_date reads it (the year
    first, US, the month's name, each with a time or not, or an Excel serial from 1954 to
    2119); None for anything else. tests/test_values.py keeps the readers equal."""
    text = value.strip(_DATE_PADDING).lower()
    if "," in text and text.split(",", 1)[0].strip(" ") in _WEEKDAYS:
        text = text.split(",", 1)[1].strip(" ")
    word = text.split(" ", 1)[0].split(",", 1)[0]
    try:
        if text[4:5] in ("-", "/", ".") and text[:4].translate(_DIGITS) == "" \
                and len(text) >= 5:
            m = _YEAR_FIRST.fullmatch(text)
            if not m:
                return None
            year, month, day = int(m[1]), int(m[3]), int(m[4])
        elif word.translate(_DIGITS_AND_SEPARATORS) == "" and word.translate(_DIGITS) != "":
            m = _US_DATE.fullmatch(text)
            if not m:
                return None
            year, month, day = int(m[4]), int(m[1]), int(m[3])
        elif text != text.upper():
            m = _NAMED_DATE.fullmatch(text)
            if not m:
                return None
            name = m[1] or m[4]
            found = [i for i, full in enumerate(_MONTHS, 1) if full.startswith(name)
                     and (len(name) == 3 or full == name or name == "sept")]
            if not found:
                return None
            year, month, day = int(m[5]), found[0], int(m[2] or m[3])
        else:
            m = _SERIAL_DATE.fullmatch(text)
            return dt.date(1899, 12, 30) + dt.timedelta(days=int(m[1])) if m else None
        if year < 100:   # PostgreSQL's and Excel's rule for two-digit years
            year += 2000 if year < 70 else 1900
        return dt.date(year, month, day)
    except ValueError:   # 2/30/2025, month 13
        return None


def _iso_date(value: str) -> str:
    """The visit date in a record id: one visit written 3/14/25 in one file and 45730 in
    another is one record. A text that is no date stays as it is."""
    date = parse_date(value)
    return date.isoformat() if date else value.strip()


def as_id_reads(payload: Mapping[str, Any], profile: SourceProfile) -> Mapping[str, Any]:
    """The payload with the fields its record id is made of written as the id reads them:
    the id fields' whole numbers as their digits (``101.0``, JSON's ``101`` → ``"101"``), the
    visit date as its ISO day (``3/14/2025`` → ``2025-03-14``). Two rows equal in this form
    are one row written two ways (an export re-saved by a spreadsheet, or sent again as
    JSON): ingest counts the second a duplicate, not a new version of the record. The
    payload itself when nothing changes (the usual case: no copy)."""
    changed: dict[str, Any] = {}
    for name in profile.id_fields:
        value = payload.get(name)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            text = id_text(value)
            if text and text != value:
                changed[name] = text
    if profile.date_field:
        value = payload.get(profile.date_field)
        if isinstance(value, str) and value:
            date = parse_date(value)
            if date is not None and date.isoformat() != value:
                changed[profile.date_field] = date.isoformat()
    return {**payload, **changed} if changed else payload


def record_id(row: Row, profile: SourceProfile) -> str | None:
    """The source record id of a row, or None when its id field is missing."""
    if row.record_id:
        return row.record_id
    payload = row.payload or {}
    for name in profile.id_fields:
        value = payload.get(name)
        if value is not None and str(value).strip():
            rid = id_text(value)
            if profile.date_field:
                date = str(payload.get(profile.date_field) or "").strip()
                if date:
                    rid = f"{rid}_{_iso_date(date)}"
            return rid
    return None


SERVICE_FIELD = "Service / Subsidy"
ALL_SERVICES = "All Services"


class ServiceLineMerger:
    """Folds ClinicHQ continuation rows (blank ``Number``) into the appointment above them,
    as the rows stream by: an appointment is handed on once the next one (or the end) shows
    that no more of its lines follow. ``merged`` counts the rows folded in.

    A continuation row with no appointment above it is handed on as it is (it is rejected
    later for its missing id). An appointment whose service line the file ends inside is
    itself ``cut_off``: the lines that would have followed are missing."""

    def __init__(self) -> None:
        self.merged = 0

    def __call__(self, rows: Iterable[Row]) -> Iterator[Row]:
        current: Row | None = None
        for row in rows:
            payload = row.payload
            if payload is None:
                yield row
                continue
            number = str(payload.get("Number") or "").strip()
            if number:
                if current is not None:
                    yield current
                services = str(payload.get(SERVICE_FIELD) or "").strip()
                payload[ALL_SERVICES] = [services] if services else []
                current = row
            elif current is not None and current.payload is not None:
                service = str(payload.get(SERVICE_FIELD) or "").strip()
                if service:
                    current.payload[ALL_SERVICES].append(service)
                # a file cut off inside a service line cut the appointment short too: the
                # rest of its lines are gone with it
                current.cut_off = current.cut_off or row.cut_off
                self.merged += 1
            else:
                yield row
        if current is not None:
            yield current
