"""Helpers for engine tests: stage one payload and run its processor, directly in SQL."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.helpers import sql, val

PROCESSOR = {
    ("clinichq", "appointment_info"): "process_clinichq_appointment_info",
    ("clinichq", "cat_info"): "process_clinichq_cat_info",
    ("clinichq", "owner_info"): "process_clinichq_owner_info",
    ("shelterluv", "people"): "process_shelterluv_person",
    ("shelterluv", "animals"): "process_shelterluv_animal",
    ("shelterluv", "outcomes"): "process_shelterluv_outcome",
    ("petlink", "owners"): "process_petlink_owner",
    ("petlink", "pets"): "process_petlink_pet",
    ("volunteerhub", "users"): "process_volunteerhub_user",
    ("airtable", "trappers"): "process_airtable_trapper",
    ("airtable", "trapping_requests"): "process_airtable_trapping_request",
    ("airtable", "appointment_requests"): "process_airtable_appointment_request",
    ("web_intake", "submissions"): "process_web_intake_submission",
    ("atlas_ui", "manual_entry"): "process_atlas_ui_manual_entry",
    ("google_maps", "geocode_results"): "process_google_maps_geocode",
}


def stage(url: str, system: str, table: str, payload: dict[str, Any],
          row_id: str | None = None) -> int:
    """Stage one payload as a staged record; returns its id."""
    rid = row_id or uuid.uuid4().hex[:10]
    return int(val(url, "INSERT INTO trapper.staged_records (source_system, source_table, "
                        "source_row_id, row_hash, payload) VALUES ($1, $2, $3, $4, $5) "
                        "RETURNING id", system, table, rid, uuid.uuid4().hex[:32],
                   json.dumps(payload)))


def process(url: str, system: str, table: str, payload: dict[str, Any],
            row_id: str | None = None) -> dict[str, Any]:
    """Stage and process one record; returns the processor's result."""
    sid = stage(url, system, table, payload, row_id)
    fn = PROCESSOR[(system, table)]
    return dict(json.loads(val(url, f"SELECT trapper.{fn}($1)", sid)))


def owner(number: str, first: str, last: str, *, email: str = "", phone: str = "",
          cell: str = "", address: str = "", date: str = "03/14/2025") -> dict[str, str]:
    return {"Number": number, "Date": date, "Owner First Name": first,
            "Owner Last Name": last, "Owner Address": address, "Owner Phone": phone,
            "Owner Cell Phone": cell, "Owner Email": email, "Microchip Number": "",
            "Animal Name": "", "Ownership": "Owned"}


def people(url: str) -> list[Any]:
    return sql(url, "SELECT * FROM trapper.sot_people WHERE merged_into_person_id IS NULL "
                    "ORDER BY created_at")


def identifiers(url: str, person_id: Any) -> set[tuple[str, str]]:
    return {(r["id_type"], r["id_value_norm"]) for r in sql(
        url, "SELECT id_type, id_value_norm FROM trapper.person_identifiers "
             "WHERE person_id = $1", person_id)}


def places_keyed_before(url: str, old: list[tuple[str, str]]) -> None:
    """Places written with the keys an earlier parser gave (``(address, key)``, the first the
    oldest), as a database made before a migration holds them."""
    for i, (address, key) in enumerate(old):
        sql(url, """
            INSERT INTO trapper.places (address_key, formatted_address, normalized_address,
                                        address_kind, created_at)
            VALUES ($1, $2, trapper.normalize_address($2), 'address',
                    now() - make_interval(days => $3))""", key, address, 10 - i)


def live_place_keys(url: str) -> set[str]:
    """The address keys of the places not merged away."""
    return {r["address_key"] for r in sql(
        url, "SELECT address_key FROM trapper.places WHERE merged_into_place_id IS NULL")}


def rekey_places_keyed_before(url: str, old: list[tuple[str, str]]) -> tuple[dict[str, Any],
                                                                             set[str]]:
    """``places_keyed_before``, then ``rekey_places()`` as a migration runs it: its counts
    and the live keys."""
    places_keyed_before(url, old)
    out = dict(sql(url, "SELECT * FROM trapper.rekey_places()")[0])
    return out, live_place_keys(url)
