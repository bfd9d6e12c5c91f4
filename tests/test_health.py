"""Data health on real PostgreSQL: the three views, and every anomaly kind raised from data
and resolved when the data recovers."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from listener.admin.read import HEALTH_STATUSES
from tests.conftest import run_cli
from tests.helpers import execute, sql, val
from tests.listening import listen_once, stage_rows
from tests.serving import READER, Server


def detect(url: str) -> dict[str, str]:
    """Run the detectors; returns {anomaly_key: 'raised' | 'resolved'} for what changed."""
    return {r["anomaly_key"]: r["change"]
            for r in sql(url, "SELECT * FROM trapper.orchestrator_detect_anomalies()")}


def open_anomalies(url: str) -> dict[str, dict[str, Any]]:
    rows = sql(url, "SELECT * FROM trapper.orchestrator_anomalies WHERE resolved_at IS NULL")
    return {r["anomaly_key"]: {**dict(r), "details": json.loads(r["details"])} for r in rows}


def logged(url: str, action: str, key: str) -> int:
    return int(val(url, "SELECT count(*) FROM trapper.orchestrator_job_log WHERE action = $1 "
                        "AND decision_details ->> 'anomaly_key' = $2", action, key))


def add_run(url: str, system: str, table: str, rows: int, ago: str, status: str = "completed",
            ) -> int:
    return int(val(url, """
        INSERT INTO trapper.ingest_runs (source_system, source_table, source_file, rows_read,
                                         rows_new, status, started_at, finished_at)
        VALUES ($1, $2, 'test.csv', $3, $3, $4, now() - $5::text::interval,
                now() - $5::text::interval)
        RETURNING ingest_run_id""", system, table, rows, status, ago))


# -- the views --------------------------------------------------------------------------------

def test_why_missing_counts_exactly_the_world_s_gaps(db_url: str, world: Path) -> None:
    env = {"DATABASE_URL": db_url}
    assert run_cli("ingest", "--manifest", str(world / "manifest.json"), env=env).returncode == 0
    assert run_cli("process", env=env, timeout=300).returncode == 0
    expected = json.loads((world / "ground_truth" / "expected.json").read_text())
    counts = {r["issue_type"]: r["n"] for r in sql(
        db_url, "SELECT issue_type, count(*) AS n FROM trapper.v_data_why_missing GROUP BY 1")}
    assert counts.get("person_no_identifiers", 0) == expected["people_without_identifiers"]
    assert counts.get("cat_no_microchip", 0) == expected["cats_without_microchip"]
    assert counts.get("place_no_geometry", 0) == expected["places_without_coordinates"]
    assert counts.get("person_merge_chain", 0) == 0
    assert counts.get("place_merge_chain", 0) == 0
    # each row says what to do, and where the entity came from
    row = sql(db_url, "SELECT * FROM trapper.v_data_why_missing "
                      "WHERE issue_type = 'person_no_identifiers' LIMIT 1")[0]
    assert row["suggested_fix"] and row["explanation"]
    assert row["source_system"] and row["source_record_id"]
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records WHERE source_system = $1 "
                       "AND source_table = $2 AND source_row_id = $3",
               row["source_system"], row["source_table"], row["source_record_id"]) >= 1


def test_why_missing_shows_merge_chains_and_the_router_s_decision(db_url: str) -> None:
    execute(db_url, """
        INSERT INTO trapper.sot_people (person_id, display_name) VALUES
            ('00000000-0000-0000-0000-00000000000a', 'A'),
            ('00000000-0000-0000-0000-00000000000b', 'B'),
            ('00000000-0000-0000-0000-00000000000c', 'C');
        ALTER TABLE trapper.sot_people DISABLE TRIGGER USER;
        UPDATE trapper.sot_people SET merged_into_person_id = '00000000-0000-0000-0000-00000000000c'
        WHERE person_id = '00000000-0000-0000-0000-00000000000b';
        UPDATE trapper.sot_people SET merged_into_person_id = '00000000-0000-0000-0000-00000000000b'
        WHERE person_id = '00000000-0000-0000-0000-00000000000a';
        ALTER TABLE trapper.sot_people ENABLE TRIGGER USER;""")
    chains = sql(db_url, "SELECT entity_id FROM trapper.v_data_why_missing "
                         "WHERE issue_type = 'person_merge_chain'")
    assert [r["entity_id"] for r in chains] == ["00000000-0000-0000-0000-00000000000a"]
    # a survey response whose address names no street: the router skips the place and says why
    rid = val(db_url, """
        INSERT INTO trapper.staged_records (source_system, source_table, source_row_id,
                                            row_hash, payload)
        VALUES ('client_survey', 'responses', 'r1', 'h', '{"response_id": "r1",
                "first_name": "Ann", "last_name": "Lee", "email": "ann@example.org",
                "address": "somewhere", "cat_count": "3"}') RETURNING id""")
    val(db_url, "SELECT trapper.route_staged_record($1)", rid)
    why = sql(db_url, "SELECT * FROM trapper.v_data_why_missing "
                      "WHERE issue_type LIKE 'routing_%' AND staged_record_id = $1", rid)
    assert why and why[0]["decision_rule_id"] is not None
    assert "street" in why[0]["decision_reason"]


def test_health_statuses_come_from_real_columns_and_thresholds(db_url: str) -> None:
    def status() -> dict[str, str]:
        return {f"{r['source_system']}/{r['source_table']}": r["health_status"]
                for r in sql(db_url, "SELECT * FROM trapper.v_orchestrator_health")}

    assert set(status().values()) == {"inactive"}   # nothing ingested yet
    add_run(db_url, "clinichq", "owner_info", 10, "1 hour")
    add_run(db_url, "clinichq", "cat_info", 10, "30 days")           # weekly: stale
    add_run(db_url, "petlink", "owners", 10, "1 hour")
    add_run(db_url, "petlink", "pets", 10, "1 hour")
    add_run(db_url, "shelterluv", "people", 10, "1 hour")
    execute(db_url, """
        INSERT INTO trapper.processing_jobs (source_system, source_table, status, last_error)
        VALUES ('petlink', 'owners', 'dead_letter', 'boom');
        UPDATE trapper.orchestrator_health_settings SET value = 5 WHERE key = 'backlog_rows';
        INSERT INTO trapper.staged_records (source_system, source_table, source_row_id, row_hash,
                                            payload, created_at)
        SELECT 'petlink', 'pets', 'p' || g, md5('p' || g), '{}', now() FROM generate_series(1, 6) g;
        INSERT INTO trapper.staged_records (source_system, source_table, source_row_id, row_hash,
                                            payload, created_at)
        VALUES ('shelterluv', 'people', 's1', 'x', '{}', now() - interval '8 hours');""")
    s = status()
    assert s["clinichq/owner_info"] == "healthy"
    assert s["clinichq/cat_info"] == "stale"
    assert s["petlink/owners"] == "errors"
    assert s["petlink/pets"] == "backlogged"
    assert s["shelterluv/people"] == "processing_behind"
    assert s["airtable/trappers"] == "inactive"
    row = sql(db_url, "SELECT * FROM trapper.v_orchestrator_health "
                      "WHERE source_system = 'petlink' AND source_table = 'pets'")[0]
    assert row["unprocessed_staged"] == 6 and row["hours_since_last_ingest"] is not None


def _metric(server: Server, system: str, table: str) -> dict[str, float]:
    """atlas_orch_source_health of one source from a scrape: {status: 0 or 1}."""
    req = urllib.request.Request(server.base + "/metrics")
    with urllib.request.urlopen(req, timeout=60) as resp:
        text = resp.read().decode()
    [family] = [f for f in text_string_to_metric_families(text)
                if f.name == "atlas_orch_source_health"]
    return {s.labels["status"]: s.value for s in family.samples
            if (s.labels["source_system"], s.labels["source_table"]) == (system, table)}


def test_an_open_warning_anomaly_needs_attention_until_it_is_resolved(
    db_url: str, tmp_path: Path
) -> None:
    """A source can no longer be healthy while a warning about it is open: the view, the
    CLI (text and JSON), both API routes and the metric say attention and name the anomaly;
    resolving it gives the source its status back."""
    add_run(db_url, "clinichq", "owner_info", 10, "1 hour")          # healthy
    add_run(db_url, "clinichq", "cat_info", 10, "30 days")           # weekly: stale
    add_run(db_url, "petlink", "owners", 10, "1 hour")               # healthy
    raise_ = ("SELECT trapper.orchestrator_raise_anomaly($1, $2, $3, $4, $5, 'summary', "
              "'fix')")
    val(db_url, raise_, "drift:owner_info", "schema_drift", "warning", "clinichq", "owner_info")
    val(db_url, raise_, "note:owner_info", "implausible_value", "info", "clinichq",
        "owner_info")
    val(db_url, raise_, "info:owners", "implausible_value", "info", "petlink", "owners")
    val(db_url, raise_, "silent:cat_info", "source_silent", "warning", "clinichq", "cat_info")
    # a source that never completed an ingest, its first file failed (critical)
    val(db_url, raise_, "failed:trappers", "ingest_failed", "critical", "airtable", "trappers")
    env = {"DATABASE_URL": db_url}

    def cli() -> dict[str, dict[str, Any]]:
        done = run_cli("health", "--json", env=env)
        assert done.returncode == 0, done.stderr
        return {f"{r['source_system']}/{r['source_table']}": r
                for r in json.loads(done.stdout)["sources"]}

    h = cli()
    assert (h["clinichq/owner_info"]["health_status"], h["clinichq/owner_info"]["worst_anomaly"],
            h["clinichq/owner_info"]["worst_anomaly_severity"],
            h["clinichq/owner_info"]["open_anomalies"]) == (
        "attention", "schema_drift", "warning", 2)
    # an info anomaly is named, and leaves the source healthy
    assert (h["petlink/owners"]["health_status"], h["petlink/owners"]["worst_anomaly"]) == (
        "healthy", "implausible_value")
    # a status that already says what is wrong keeps saying it; the anomaly is named beside
    assert (h["clinichq/cat_info"]["health_status"], h["clinichq/cat_info"]["worst_anomaly"]) \
        == ("stale", "source_silent")
    assert (h["airtable/trappers"]["health_status"],
            h["airtable/trappers"]["worst_anomaly_severity"]) == ("attention", "critical")
    assert h["petlink/pets"]["health_status"] == "inactive"
    assert h["petlink/pets"]["worst_anomaly"] is None
    text = run_cli("health", env=env).stdout
    [line] = [ln for ln in text.splitlines() if ln.split()[:2] == ["clinichq", "owner_info"]]
    assert "attention" in line and line.endswith("schema_drift (warning)")

    server = Server(db_url, tmp_path, "--no-listen", env={"ATLAS_ORCH_METRICS_OPEN": "1"})
    try:
        status, body = server.call("GET", "/api/admin/orchestrator/health", READER)
        assert status == 200, body
        [api] = [r for r in body["data"]["sources"]
                 if (r["source_system"], r["source_table"]) == ("clinichq", "owner_info")]
        assert (api["health_status"], api["worst_anomaly"]) == ("attention", "schema_drift")
        status, body = server.call("GET", "/api/health/processing", READER)
        assert status == 200, body
        processing = body["data"]
        assert processing["sources"]["clinichq/owner_info"] == {
            "status": "attention", "worst_anomaly": "schema_drift",
            "worst_anomaly_severity": "warning"}
        assert "clinichq/owner_info: attention (schema_drift, warning)" \
            in processing["recommendations"]
        # a critical anomaly that needs attention makes the whole unhealthy
        assert processing["status"] == "unhealthy"
        metric = _metric(server, "clinichq", "owner_info")
        assert metric["attention"] == 1 and metric["healthy"] == 0
        assert sum(metric.values()) == 1 and set(metric) == set(HEALTH_STATUSES)
        assert _metric(server, "clinichq", "cat_info")["stale"] == 1

        # resolved: each source has its former status again, everywhere
        for key in ("drift:owner_info", "failed:trappers"):
            assert val(db_url, "SELECT trapper.orchestrator_resolve_anomaly($1, 'test')", key)
        h = cli()
        assert (h["clinichq/owner_info"]["health_status"],
                h["clinichq/owner_info"]["worst_anomaly"]) == ("healthy", "implausible_value")
        assert h["airtable/trappers"]["health_status"] == "inactive"
        assert h["airtable/trappers"]["worst_anomaly"] is None
        status, body = server.call("GET", "/api/health/processing", READER)
        assert body["data"]["sources"]["clinichq/owner_info"]["status"] == "healthy"
        assert not [r for r in body["data"]["recommendations"] if "owner_info" in r]
        metric = _metric(server, "clinichq", "owner_info")
        assert (metric["attention"], metric["healthy"]) == (0, 1)
    finally:
        assert server.stop() == 0, server.log()


# -- every anomaly kind, raised and resolved ------------------------------------------------

def test_a_silent_source_is_flagged_and_resolves_when_it_sends_again(db_url: str) -> None:
    add_run(db_url, "clinichq", "cat_info", 100, "12 days")   # weekly source, 10-day window
    key = "silent:clinichq/cat_info"
    assert detect(db_url) == {key: "raised"}
    a = open_anomalies(db_url)[key]
    assert a["severity"] == "warning" and "weekly" in a["summary"] and a["suggested_fix"]
    assert detect(db_url) == {}   # still open: not raised twice
    assert logged(db_url, "anomaly_flagged", key) == 1
    add_run(db_url, "clinichq", "cat_info", 100, "1 minute")
    assert detect(db_url) == {key: "resolved"}
    assert logged(db_url, "anomaly_resolved", key) == 1


def test_a_batch_far_from_its_weekday_history_is_flagged(db_url: str) -> None:
    for weeks, rows in ((5, 1000), (4, 1040), (3, 980), (2, 1010), (1, 995)):
        add_run(db_url, "petlink", "owners", rows, f"{weeks * 7} days 1 hour")
    add_run(db_url, "petlink", "owners", 40, "1 hour")          # same weekday, a fraction
    key = "volume:petlink/owners"
    assert detect(db_url) == {key: "raised"}
    details = open_anomalies(db_url)[key]["details"]
    assert details["history"] == 5 and details["z"] < -3
    add_run(db_url, "petlink", "owners", 1002, "1 minute")
    assert detect(db_url) == {key: "resolved"}


def test_no_volume_alert_without_enough_history(db_url: str) -> None:
    add_run(db_url, "petlink", "owners", 1000, "7 days 1 hour")
    add_run(db_url, "petlink", "owners", 5, "1 hour")
    assert "volume:petlink/owners" not in detect(db_url)


def _stage_run(url: str, system: str, table: str, payloads: list[dict[str, Any]]) -> int:
    run = add_run(url, system, table, len(payloads), "0 seconds")
    sql(url, """
        INSERT INTO trapper.staged_records (source_system, source_table, source_row_id,
                                            row_hash, payload, ingest_run_id)
        SELECT $1, $2, 'r' || $3::text || '-' || o, md5($3::text || '-' || o), p, $3::bigint
        FROM jsonb_array_elements($4::jsonb) WITH ORDINALITY AS t (p, o)""",
        system, table, str(run), json.dumps(payloads))
    listen_once(url, detect_interval=0)
    return run


def test_schema_drift_missing_new_and_retyped_fields(db_url: str) -> None:
    good = {"Number": "1", "Date": "2026-01-01", "Animal Name": "Tom", "Weight": "5"}
    _stage_run(db_url, "clinichq", "cat_info", [good, {**good, "Number": "2"}])
    assert "drift:clinichq/cat_info" not in detect(db_url)
    bad = {"Number": "3", "Animal Name": "Kit", "Weight": 5, "Favourite Toy": "mouse"}
    _stage_run(db_url, "clinichq", "cat_info", [bad, {**bad, "Number": "4"}])
    key = "drift:clinichq/cat_info"
    assert detect(db_url) == {key: "raised"}
    a = open_anomalies(db_url)[key]
    assert a["severity"] == "critical"
    assert a["details"]["missing"] == ["Date"]
    assert a["details"]["unknown"] == ["Favourite Toy"]
    assert a["details"]["retyped"] == ["Weight: string -> number"]
    # back to the old shape: Weight changed type again (number -> string), still drift
    _stage_run(db_url, "clinichq", "cat_info", [{**good, "Number": "5"}])
    assert detect(db_url) == {}
    assert open_anomalies(db_url)[key]["details"]["retyped"] == ["Weight: number -> string"]
    _stage_run(db_url, "clinichq", "cat_info", [{**good, "Number": "6"}])
    assert detect(db_url) == {key: "resolved"}


def test_an_error_burst_is_flagged_and_resolves_when_it_passes(db_url: str) -> None:
    execute(db_url, """
        INSERT INTO trapper.orchestrator_job_log (action, source_system, source_table,
                                                  decision_reason)
        SELECT 'error', 'airtable', 'trappers', 'boom ' || g FROM generate_series(1, 12) g""")
    listen_once(db_url, detect_interval=0)   # it folds the log into the hourly buckets
    key = "errors:airtable/trappers"
    assert detect(db_url) == {key: "raised"}
    execute(db_url, "UPDATE trapper.orchestrator_source_hourly "
                    "SET hour = hour - interval '3 hours'")
    assert detect(db_url) == {key: "resolved"}


def test_a_backlog_is_flagged_and_resolves_when_processed(db_url: str) -> None:
    execute(db_url, """
        UPDATE trapper.orchestrator_health_settings SET value = 5 WHERE key = 'backlog_rows';
        INSERT INTO trapper.staged_records (source_system, source_table, source_row_id, row_hash,
                                            payload, created_at)
        SELECT 'petlink', 'pets', 'p' || g, md5('p' || g), '{}', now() - interval '2 hours'
        FROM generate_series(1, 8) g""")
    key = "backlog:petlink/pets"
    assert detect(db_url) == {key: "raised"}
    execute(db_url, "UPDATE trapper.staged_records SET is_processed = true, "
                    "processed_at = now()")
    assert detect(db_url) == {key: "resolved"}


def test_stuck_and_dead_lettered_jobs_are_flagged_and_resolve(db_url: str) -> None:
    execute(db_url, """
        INSERT INTO trapper.processing_jobs (source_system, source_table, status, started_at,
                                             heartbeat_at)
        VALUES ('petlink', 'pets', 'processing', now() - interval '2 hours',
                now() - interval '2 hours');
        INSERT INTO trapper.processing_jobs (source_system, source_table, status, last_error)
        VALUES ('petlink', 'owners', 'dead_letter', 'no such column');""")
    assert detect(db_url) == {"stuck:petlink/pets": "raised",
                              "dead_letter:petlink/owners": "raised"}
    assert "no such column" in open_anomalies(db_url)["dead_letter:petlink/owners"]["summary"]
    execute(db_url, "UPDATE trapper.processing_jobs SET status = 'completed', "
                    "completed_at = now()")
    assert detect(db_url) == {"stuck:petlink/pets": "resolved",
                              "dead_letter:petlink/owners": "resolved"}


def test_an_implausible_colony_size_is_flagged_and_resolves(db_url: str) -> None:
    execute(db_url, """
        INSERT INTO trapper.places (place_id, display_name)
        VALUES ('00000000-0000-0000-0000-0000000000f1', '1 Barn Rd');
        INSERT INTO trapper.place_colony_estimates (place_id, total_cats, source_type,
                                                    source_system, source_record_id)
        VALUES ('00000000-0000-0000-0000-0000000000f1', 450, 'survey', 'client_survey', 'x')""")
    key = "implausible:client_survey/responses"
    assert detect(db_url) == {key: "raised"}
    kinds = {r["anomaly_type"] for r in sql(db_url, "SELECT * FROM trapper.v_routing_anomalies")}
    assert {"implausible_colony_size", "implausible_value"} <= kinds
    execute(db_url, "DELETE FROM trapper.place_colony_estimates")
    assert detect(db_url) == {key: "resolved"}


def test_a_resolved_anomaly_that_returns_is_reopened_and_counted(db_url: str) -> None:
    execute(db_url, "INSERT INTO trapper.processing_jobs (source_system, source_table, status) "
                    "VALUES ('petlink', 'owners', 'dead_letter')")
    key = "dead_letter:petlink/owners"
    detect(db_url)
    execute(db_url, "UPDATE trapper.processing_jobs SET status = 'completed'")
    detect(db_url)
    execute(db_url, "UPDATE trapper.processing_jobs SET status = 'dead_letter'")
    assert detect(db_url) == {key: "raised"}
    assert open_anomalies(db_url)[key]["occurrences"] == 2
    assert logged(db_url, "anomaly_flagged", key) == 2


@pytest.mark.parametrize("threshold,expect_open", [("0", True), ("0.5", False)])
def test_the_listener_raises_the_notify_queue_anomaly(
    db_url: str, threshold: str, expect_open: bool
) -> None:
    execute(db_url, f"UPDATE trapper.orchestrator_settings SET value = '{threshold}' "
                    "WHERE key = 'notify_queue_alert'")
    listen_once(db_url)
    assert ("orchestrator:notify_queue" in open_anomalies(db_url)) is expect_open
    if expect_open:
        execute(db_url, "UPDATE trapper.orchestrator_settings SET value = '0.5' "
                        "WHERE key = 'notify_queue_alert'")
        listen_once(db_url)
        assert "orchestrator:notify_queue" not in open_anomalies(db_url)


def test_the_listener_runs_the_detectors(db_url: str) -> None:
    execute(db_url, "INSERT INTO trapper.processing_jobs (source_system, source_table, status) "
                    "VALUES ('petlink', 'owners', 'dead_letter')")
    stats = listen_once(db_url)
    assert stats.anomalies_changed == 1
    assert "dead_letter:petlink/owners" in open_anomalies(db_url)
    stage_rows(db_url, "petlink", "owners", 1)


# -- ingest runs that did not complete ------------------------------------------------------

def ingest_file(url: str, source: str, path: Path) -> int:
    """``atlas-orch ingest`` of one file; returns its exit status."""
    result = run_cli("ingest", source, str(path), env={"DATABASE_URL": url})
    assert "Traceback" not in result.stderr
    return result.returncode


def test_a_failed_ingest_leaves_a_stale_source_stale(db_url: str, tmp_path: Path) -> None:
    old = add_run(db_url, "clinichq", "cat_info", 100, "12 days")   # weekly: 10-day window
    silent = "silent:clinichq/cat_info"
    assert detect(db_url) == {silent: "raised"}
    broken = tmp_path / "cat_info.xlsx"
    broken.write_bytes(b"PK\x03\x04 cut short")
    assert ingest_file(db_url, "clinichq/cat_info", broken) == 1
    add_run(db_url, "clinichq", "cat_info", 0, "1 minute", status="running")   # not done
    health = sql(db_url, "SELECT h.health_status, li.ingest_run_id "
                         "FROM trapper.v_orchestrator_health h "
                         "JOIN trapper.v_orchestrator_last_ingest li USING (source_system, "
                         "source_table) WHERE source_system = 'clinichq' "
                         "AND source_table = 'cat_info'")[0]
    assert (health["health_status"], health["ingest_run_id"]) == ("stale", old)
    changes = detect(db_url)
    assert silent not in changes and silent in open_anomalies(db_url)   # still open
    assert changes == {"ingest_failed:clinichq/cat_info": "raised"}


def test_a_failed_ingest_is_an_anomaly_until_a_run_completes(
    db_url: str, tmp_path: Path
) -> None:
    f = tmp_path / "owners.csv"
    f.write_bytes(b"")
    assert ingest_file(db_url, "petlink/owners", f) == 1
    key = "ingest_failed:petlink/owners"
    assert detect(db_url) == {key: "raised"}
    a = open_anomalies(db_url)[key]
    run = val(db_url, "SELECT ingest_run_id FROM trapper.ingest_runs")
    assert a["kind"] == "ingest_failed" and a["severity"] == "critical"
    assert f"Ingest run {run} of owners.csv failed: no header row" in a["summary"]
    assert a["details"]["ingest_run_id"] == run and a["suggested_fix"]
    assert logged(db_url, "anomaly_flagged", key) == 1
    assert ingest_file(db_url, "petlink/owners", f) == 1   # again: still open, counted
    assert detect(db_url) == {}
    assert "(2 runs failed or abandoned since the last completed one)" \
        in open_anomalies(db_url)[key]["summary"]
    f.write_text("Owner ID,Name\no1,Ann\n")
    assert ingest_file(db_url, "petlink/owners", f) == 0
    assert detect(db_url) == {key: "resolved"}
    assert logged(db_url, "anomaly_resolved", key) == 1


def test_why_missing_shows_a_failed_run_until_its_file_goes_in(
    db_url: str, tmp_path: Path
) -> None:
    f = tmp_path / "owners.csv"
    f.write_bytes(b"")
    assert ingest_file(db_url, "petlink/owners", f) == 1
    run = val(db_url, "SELECT ingest_run_id FROM trapper.ingest_runs")
    shown = run_cli("why-missing", "--type", "ingest_failed", "--json",
                    env={"DATABASE_URL": db_url})
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)["rows"]
    assert [(r["entity_type"], r["entity_id"]) for r in rows] == [("ingest_run", str(run))]
    row = rows[0]
    assert (row["source_system"], row["source_table"]) == ("petlink", "owners")
    assert "owners.csv" in row["entity_label"] and "no header row" in row["explanation"]
    # a mistyped kind had looked like a kind without gaps
    typo = run_cli("why-missing", "--type", "ingest_faild", env={"DATABASE_URL": db_url})
    assert typo.returncode == 0 and "ingest_failed" in typo.stdout
    assert "no gaps of kind 'ingest_faild' now; the kinds with gaps are " in typo.stderr
    assert "ingest_failed" in typo.stderr.split("the kinds with gaps are ")[1]
    # the same fact in the JSON (issue: --json carries what the text says)
    typo_json = run_cli("why-missing", "--type", "ingest_faild", "--json",
                        env={"DATABASE_URL": db_url})
    assert json.loads(typo_json.stdout)["note"] == typo.stderr.strip().removeprefix(
        "atlas-orch: ")
    assert "none of its rows were staged" in row["explanation"] and row["suggested_fix"]
    other = tmp_path / "other.csv"
    other.write_text("Owner ID,Name\no2,Bob\n")
    assert ingest_file(db_url, "petlink/owners", other) == 0   # another file: still missing
    assert val(db_url, "SELECT count(*) FROM trapper.v_data_why_missing "
                       "WHERE issue_type = 'ingest_failed'") == 1
    f.write_text("Owner ID,Name\no1,Ann\n")
    assert ingest_file(db_url, "petlink/owners", f) == 0
    assert val(db_url, "SELECT count(*) FROM trapper.v_data_why_missing "
                       "WHERE issue_type = 'ingest_failed'") == 0
