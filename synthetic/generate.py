"""``atlas-orch demo generate``: build a world, render every source, write the manifest,
the ground truth and the expected counts."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from synthetic import exports, world

# Processing order: ClinicHQ appointment → cat → owner (the order the processors need,
# docs/research/atlas-data.md §3), the other sources, and the geocoder last (it fills in
# coordinates of
# places the others created).
MANIFEST = [
    ("clinichq/appointment_info.xlsx", "clinichq", "appointment_info", "xlsx"),
    ("clinichq/cat_info.xlsx", "clinichq", "cat_info", "xlsx"),
    ("clinichq/owner_info.xlsx", "clinichq", "owner_info", "xlsx"),
    ("shelterluv/shelterluv_people.json", "shelterluv", "people", "json"),
    ("shelterluv/shelterluv_animals.json", "shelterluv", "animals", "json"),
    ("shelterluv/shelterluv_outcomes.xlsx", "shelterluv", "outcomes", "xlsx"),
    ("petlink/petlink_owners.csv", "petlink", "owners", "csv"),
    ("petlink/petlink_pets.csv", "petlink", "pets", "csv"),
    ("volunteerhub/volunteerhub_users.xlsx", "volunteerhub", "users", "xlsx"),
    ("airtable/airtable_trappers.json", "airtable", "trappers", "json"),
    ("airtable/airtable_trapping_requests.json", "airtable", "trapping_requests", "json"),
    ("airtable/airtable_appointment_requests.json", "airtable", "appointment_requests", "json"),
    ("web_intake/web_intake_submissions.json", "web_intake", "submissions", "json"),
    ("atlas_ui/manual_entry.ndjson", "atlas_ui", "manual_entry", "ndjson"),
    ("google_maps/geocode_results.ndjson", "google_maps", "geocode_results", "ndjson"),
]
# A source no processor knows, wired by SQL INSERTs alone (its address in four columns, its
# name in two: docs/orchestrator.md, "A source whose address comes in columns"). Listed apart
# in the manifest under "onboard", with the SQL that registers it, so a plain
# `ingest --manifest` is as before; bench/identity.py runs the SQL and loads it.
ONBOARD = [("partners/partner_signups.csv", "partner_events", "signups", "csv",
            "partners/onboard.sql")]


def generate(out: Path, *, scale: str = "small", seed: int = 1) -> dict[str, Any]:
    """Write a whole world to ``out``; returns the expected counts (also expected.json)."""
    started = time.monotonic()
    w = world.build(seed, scale)
    for folder in {m[0].split("/")[0] for m in MANIFEST + ONBOARD} | {"ground_truth"}:
        (out / folder).mkdir(parents=True, exist_ok=True)
    truth = exports.Truth(out / "ground_truth")
    cursor = exports._Cursor(w)
    rows: dict[str, int] = {}
    for system, counts in (
        ("clinichq", exports.render_clinichq(w, out / "clinichq", truth)),
        ("shelterluv", exports.render_shelterluv(w, out / "shelterluv", truth, cursor)),
        ("petlink", exports.render_petlink(w, out / "petlink", truth, cursor)),
        ("volunteerhub", exports.render_volunteerhub(w, out / "volunteerhub", truth, cursor)),
        ("airtable", exports.render_airtable(w, out / "airtable", truth, cursor)),
        ("web_intake", exports.render_web_intake(w, out / "web_intake", truth, cursor)),
        ("atlas_ui", exports.render_manual(w, out / "atlas_ui", truth, cursor)),
    ):
        rows.update({f"{system}/{k}": v for k, v in counts.items()})
    referenced = set(truth.places)
    rows.update({f"google_maps/{k}": v for k, v in
                 exports.render_geocoder(w, out / "google_maps", truth, referenced).items()})
    onboarded = exports.Truth(out / "ground_truth", prefix="onboarded_")
    onboard_rows = {f"partner_events/{k}": v for k, v in exports.render_partner_signups(
        w, out / "partners", onboarded, cursor, referenced).items()}
    shutil.copyfile(Path(__file__).with_name("partner_signups.sql"),
                    out / "partners" / "onboard.sql")

    truth.close()
    onboarded.close()
    people, cats = truth.people, truth.cats
    by_id_person = {p.id: p for p in w.people}
    by_id_cat = {c.id: c for c in w.cats}
    by_id_place = {p.id: p for p in w.places}
    expected = {
        "seed": seed, "scale": scale,
        "people": len(people), "places": len(referenced), "cats": len(cats),
        "people_without_identifiers": sum(by_id_person[i].name_only for i in people),
        "cats_without_microchip": sum(by_id_cat[i].chip is None for i in cats),
        "places_without_coordinates": sum(not by_id_place[i].geocodable for i in referenced),
        "staged_rows": sum(rows.values()),
        "rows": rows,
        "onboarded_rows": onboard_rows,
        "shapes": exports.shape_counts(w),
    }
    (out / "ground_truth" / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    # A larger world's ClinicHQ exports come in parts (exports.part_name), each listed.
    files = []
    for path, s, t, f in MANIFEST:
        part = 1
        while part == 1 or (out / exports.part_name(path, part)).exists():
            files.append({"path": exports.part_name(path, part), "source_system": s,
                          "source_table": t, "format": f})
            part += 1
    manifest = {"seed": seed, "scale": scale, "files": files, "onboard": [
        {"path": path, "source_system": s, "source_table": t, "format": f, "sql": q}
        for path, s, t, f, q in ONBOARD]}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    expected["seconds"] = round(time.monotonic() - started, 2)
    return expected
