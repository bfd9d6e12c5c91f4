"""What ingest knows about each source's export: which fields identify a record, and the
ClinicHQ service-line quirk. Unknown sources name their id field with ``--id-field``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

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


_CHQ = SourceProfile(id_fields=("Number",), date_field="Date")

PROFILES: dict[tuple[str, str], SourceProfile] = {
    ("clinichq", "appointment_info"): SourceProfile(("Number",), "Date", True),
    ("clinichq", "cat_info"): _CHQ,
    ("clinichq", "owner_info"): _CHQ,
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


def profile_for(
    source_system: str, source_table: str, id_fields: Sequence[str] = ()
) -> SourceProfile:
    """The profile of a source table; ``id_fields`` (from ``--id-field`` or the registry's
    ``id_field_candidates``) override the built-in ones."""
    base = PROFILES.get((source_system, source_table), GENERIC)
    if id_fields:
        return SourceProfile(tuple(id_fields), base.date_field, base.merge_service_lines)
    return base


def _iso_date(value: str) -> str:
    text = value.strip()
    for fmt in ("%m/%d/%Y", "%Y-%m-%d", "%m/%d/%y", "%m/%d/%Y %H:%M:%S"):
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return text


def record_id(row: Row, profile: SourceProfile) -> str | None:
    """The source record id of a row, or None when its id field is missing."""
    if row.record_id:
        return row.record_id
    payload = row.payload or {}
    for field in profile.id_fields:
        value = payload.get(field)
        if value is not None and str(value).strip():
            rid = str(value).strip()
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
    later for its missing id)."""

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
                self.merged += 1
            else:
                yield row
        if current is not None:
            yield current
