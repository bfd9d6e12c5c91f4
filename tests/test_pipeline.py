"""The engines end to end on the small world, linking, place context and the AI queue."""

from __future__ import annotations

import json
from pathlib import Path

from synthetic.generate import MANIFEST
from tests.conftest import run_cli
from tests.entities import process
from tests.helpers import sql, val


def test_no_source_is_left_without_a_route(db_url: str) -> None:
    routes = {(r["source_system"], r["source_table"]) for r in sql(
        db_url, "SELECT source_system, source_table FROM trapper.data_engine_processors "
                "WHERE is_active")}
    assert {(s, t) for _, s, t, _ in MANIFEST} <= routes


def test_the_small_world_loads_to_its_truth(db_url: str, world: Path) -> None:
    env = {"DATABASE_URL": db_url}
    assert run_cli("ingest", "--manifest", str(world / "manifest.json"), env=env).returncode == 0
    done = run_cli("process", "--workers", "2", "--json", env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert stats["records_failed"] == 0 and stats["jobs_dead_lettered"] == 0
    expected = json.loads((world / "ground_truth" / "expected.json").read_text())
    gaps = sql(db_url, """
        SELECT (SELECT count(*) FROM trapper.sot_people p WHERE merged_into_person_id IS NULL
                  AND NOT EXISTS (SELECT 1 FROM trapper.person_identifiers i
                                  WHERE i.person_id = p.person_id)) AS people,
               (SELECT count(*) FROM trapper.sot_cats c
                  WHERE NOT EXISTS (SELECT 1 FROM trapper.cat_identifiers i
                                    WHERE i.cat_id = c.cat_id AND id_type = 'microchip')) AS cats,
               (SELECT count(*) FROM trapper.places WHERE location IS NULL) AS places,
               (SELECT count(*) FROM trapper.sot_cats) AS all_cats,
               (SELECT count(*) FROM trapper.places) AS all_places,
               (SELECT count(*) FROM trapper.sot_people WHERE merged_into_person_id IS NULL)
                   AS all_people""")[0]
    assert gaps["people"] == expected["people_without_identifiers"]
    assert gaps["cats"] == expected["cats_without_microchip"]
    assert gaps["places"] == expected["places_without_coordinates"]
    assert gaps["all_cats"] == expected["cats"]
    assert gaps["all_places"] == expected["places"]
    # made-up registry emails and review-pending pairs add a few people, never fewer
    assert expected["people"] <= gaps["all_people"] <= expected["people"] * 1.03
    # the dashboard says the same: every row worked, nothing waiting, the same live counts
    board = sql(db_url, "SELECT * FROM trapper.v_processing_dashboard")
    files = json.loads((world / "manifest.json").read_text())["files"]
    assert {(r["source_system"], r["source_table"]) for r in board} == {
        (f["source_system"], f["source_table"]) for f in files}
    assert all(r["processed"] == r["staged"] and r["pending"] == r["failed"] == 0
               and r["jobs_open"] == 0 for r in board)
    live = {r["entity_type"]: r["live"] for r in sql(
        db_url, "SELECT entity_type, live FROM trapper.v_entity_counts")}
    assert live["person"] == gaps["all_people"]
    assert (live["place"], live["cat"]) == (expected["places"], expected["cats"])
    linking = json.loads(val(db_url, "SELECT trapper.run_all_entity_linking_json()"))
    assert set(linking) == {"appointments_to_owners", "intake_places", "requesters_to_places",
                            "cats_to_places", "appointments_to_trappers",
                            "cats_to_places_via_appointments"}
    skipped = {r["operation"] for r in sql(
        db_url, "SELECT DISTINCT operation FROM trapper.entity_linking_skipped")}
    assert "appointments_to_trappers" in skipped   # ~10% of requests name no trapper
    # every source row is one query from its canonical entity
    one = sql(db_url, "SELECT source_system, source_table, source_row_id "
                      "FROM trapper.staged_records WHERE source_table = 'owner_info' LIMIT 1")[0]
    traced = sql(db_url, "SELECT entity_type FROM trapper.entity_sources WHERE source_system = $1 "
                         "AND source_table = $2 AND source_row_id = $3", *one)
    assert traced


def test_geocoder_fills_coordinates_and_zero_results_stay_missing(db_url: str) -> None:
    addr = "10 Oak St, Petaluma, CA 94952"
    sql(db_url, "SELECT trapper.find_or_create_place_deduped($1)", addr)
    process(db_url, "google_maps", "geocode_results", {
        "place_key": "gm-1", "query_address": addr, "status": "OK",
        "formatted_address": addr + ", USA", "lat": 38.23, "lng": -122.63})
    row = sql(db_url, "SELECT location[0] AS lng, location[1] AS lat, geocode_status "
                      "FROM trapper.places")[0]
    assert (row["lat"], row["lng"], row["geocode_status"]) == (38.23, -122.63, "ok")
    other = "12 Oak St, Petaluma, CA 94952"
    sql(db_url, "SELECT trapper.find_or_create_place_deduped($1)", other)
    process(db_url, "google_maps", "geocode_results", {
        "place_key": "gm-2", "query_address": other, "status": "ZERO_RESULTS", "lat": None})
    assert val(db_url, "SELECT geocode_status FROM trapper.places WHERE location IS NULL") \
        == "zero_results"


def test_place_context_manual_outranks_ai(db_url: str) -> None:
    pid = val(db_url, "SELECT trapper.find_or_create_place_deduped('5 Elm St, Cotati, CA')")
    sql(db_url, "SELECT trapper.assign_place_context($1, 'colony_site', NULL, 'manual', "
                "'seen by staff', 0.6, 'staff', true)", pid)
    after_ai = sql(db_url, "SELECT (trapper.assign_place_context($1, 'colony_site', NULL, 'ai', "
                           "'model guess', 0.95, 'ai')).*", pid)[0]
    assert after_ai["evidence_type"] == "manual" and float(after_ai["confidence"]) == 0.6
    # inferred evidence raises confidence on an unverified context, never lowers it
    sql(db_url, "SELECT trapper.assign_place_context($1, 'feeding_station', NULL, 'ai', NULL, "
                "0.7, 'ai')", pid)
    low = sql(db_url, "SELECT (trapper.assign_place_context($1, 'feeding_station', NULL, "
                      "'inferred', NULL, 0.3, 'rule')).*", pid)[0]
    assert float(low["confidence"]) == 0.7


def test_new_requests_are_queued_for_extraction_with_a_reason(db_url: str) -> None:
    process(db_url, "web_intake", "submissions", {
        "submission_id": "wi-1", "submitted_at": "2026-05-01T10:00:00Z", "first_name": "Ann",
        "last_name": "Lee", "email": "ann@lee.org", "phone": "", "cats_address": "9 Fir St",
        "cats_city": "Sonoma", "cats_zip": "95476", "cat_count_estimate": 4,
        "has_kittens": True, "situation_description": "Kittens under the deck"})
    row = sql(db_url, "SELECT entity_type, trigger_reason, priority "
                      "FROM trapper.extraction_queue")[0]
    assert (row["entity_type"], row["trigger_reason"], row["priority"]) == (
        "request", "new_record", 80)
    assert val(db_url, "SELECT status FROM trapper.web_intake_submissions") == "request_created"
    assert val(db_url, "SELECT total_cats FROM trapper.place_colony_estimates") == 4
