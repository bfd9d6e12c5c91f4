"""The shadow triggers and the listener on real PostgreSQL: never hurting the host, losing
nothing, enriching each event once, and the counters that come out of it."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from listener.events.service import Listener, ListenerConfig
from tests.conftest import run_cli
from tests.helpers import execute, sql, val
from tests.listening import (
    ListenerProcess,
    audit,
    listen_once,
    listen_once_while_open,
    stage_rows,
    wait_for,
)
from tests.pg import Server


def _warnings_of(url: str, script: str) -> list[str]:
    """Run ``script`` on one connection and return the WARNINGs the server sent."""
    seen: list[str] = []

    async def go() -> None:
        conn = await asyncpg.connect(url)
        conn.add_log_listener(lambda _c, msg: seen.append(f"{msg.severity}: {msg.message}"))
        try:
            await conn.execute(script)
        finally:
            await conn.close()

    anyio.run(go)
    return [s for s in seen if s.startswith("WARNING")]


STAGE_ONE = """INSERT INTO trapper.staged_records (source_system, source_table, source_row_id,
               row_hash, payload) VALUES ('clinichq', 'owner_info', 'x1', 'h1', '{}')"""


def test_host_write_commits_when_the_events_table_is_gone(db_url: str) -> None:
    execute(db_url, "ALTER TABLE trapper.orchestrator_events RENAME TO orchestrator_events_x")
    warnings = _warnings_of(db_url, STAGE_ONE)
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records") == 1
    assert any("orchestrator_staged_insert failed" in w for w in warnings), warnings
    failures = sql(db_url, "SELECT trigger, sqlstate FROM trapper.orchestrator_shadow_failures")
    assert [(f["trigger"], f["sqlstate"]) for f in failures] == [
        ("orchestrator_staged_insert", "42P01")]


def test_host_write_commits_when_the_event_insert_fails(db_url: str) -> None:
    execute(db_url, "ALTER TABLE trapper.orchestrator_events ADD CONSTRAINT refuse_all "
                    "CHECK (kind = 'nothing') NOT VALID")
    warnings = _warnings_of(db_url, STAGE_ONE + "; " + """
        INSERT INTO trapper.processing_jobs (source_system, source_table)
        VALUES ('clinichq', 'owner_info')""")
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records") == 1
    assert val(db_url, "SELECT count(*) FROM trapper.processing_jobs") == 1
    assert len(warnings) == 2
    assert val(db_url, "SELECT count(*) FROM trapper.orchestrator_shadow_failures "
                       "WHERE sqlstate = '23514'") == 2


def test_even_the_failure_count_failing_only_warns(db_url: str) -> None:
    execute(db_url, """
        ALTER TABLE trapper.orchestrator_events RENAME TO orchestrator_events_x;
        ALTER TABLE trapper.orchestrator_shadow_failures RENAME TO orchestrator_sf_x""")
    warnings = _warnings_of(db_url, STAGE_ONE)
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records") == 1
    assert any("could not be counted" in w for w in warnings), warnings


def _notifications(url: str, script: str, channel: str = "orchestrator_events") -> list[str]:
    got: list[str] = []

    async def go() -> None:
        listen = await asyncpg.connect(url)
        await listen.add_listener(channel, lambda *a: got.append(a[3]))
        writer = await asyncpg.connect(url)
        try:
            await writer.execute(script)
            await anyio.sleep(0.3)
        finally:
            await writer.close()
            await listen.close()

    anyio.run(go)
    return got


def test_one_notify_per_transaction_and_never_a_payload_that_grows(db_url: str) -> None:
    got = _notifications(db_url, """
        BEGIN;
        INSERT INTO trapper.staged_records (source_system, source_table, source_row_id,
                                            row_hash, payload)
        SELECT 'clinichq', 'owner_info', 'r' || g, md5(g::text), '{}'
        FROM generate_series(1, 5000) g;
        INSERT INTO trapper.staged_records (source_system, source_table, source_row_id,
                                            row_hash, payload)
        VALUES ('petlink', 'owners', 'p1', 'x', '{}');
        INSERT INTO trapper.processing_jobs (source_system, source_table)
        VALUES ('clinichq', 'owner_info');
        COMMIT;""")
    assert got == [""]
    # 5,000 rows in one statement are one event; each statement and job one more
    assert val(db_url, "SELECT count(*) FROM trapper.orchestrator_events") == 3


def test_the_job_log_channel_carries_the_newest_log_seq_once(db_url: str) -> None:
    got = _notifications(db_url, """
        BEGIN;
        INSERT INTO trapper.orchestrator_job_log (action, source_system, source_table)
        SELECT 'routed', 'clinichq', 'owner_info' FROM generate_series(1, 3);
        INSERT INTO trapper.orchestrator_job_log (action, source_system, source_table)
        VALUES ('skipped', 'clinichq', 'owner_info');
        COMMIT;""", channel="orchestrator_job_log")
    assert got == [str(val(db_url, "SELECT max(log_seq) - 1 FROM trapper.orchestrator_job_log"))]


def test_the_notify_switch_as_a_database_setting_wins(db_url: str) -> None:
    dbname = val(db_url, "SELECT current_database()")
    execute(db_url, f"ALTER DATABASE \"{dbname}\" SET atlas_orch.notify = 'off'")
    assert _notifications(db_url, STAGE_ONE) == []


def test_notify_off_sends_nothing_and_the_poll_still_finds_the_events(db_url: str) -> None:
    execute(db_url, "UPDATE trapper.orchestrator_settings SET value = 'off' WHERE key = 'notify'")
    assert _notifications(db_url, STAGE_ONE) == []
    stats = listen_once(db_url)
    assert stats.events == 1 and audit(db_url) == {"missing": 0, "doubled": 0, "events": 1}


def test_events_committed_with_no_listener_are_processed_when_one_starts(db_url: str) -> None:
    stage_rows(db_url, "clinichq", "owner_info", 250)
    stage_rows(db_url, "petlink", "owners", 40)
    stats = listen_once(db_url)
    assert stats.events == 2
    rows = sql(db_url, "SELECT source_system, decision_details ->> 'count' AS n "
                       "FROM trapper.orchestrator_job_log WHERE action = 'staged' "
                       "ORDER BY source_system")
    assert [(r["source_system"], r["n"]) for r in rows] == [("clinichq", "250"),
                                                          ("petlink", "40")]
    src = sql(db_url, "SELECT total_records_ingested, last_ingest_at IS NOT NULL AS seen "
                      "FROM trapper.orchestrator_sources WHERE source_system = 'clinichq' "
                      "AND source_table = 'owner_info'")[0]
    assert src["total_records_ingested"] == 250 and src["seen"]


def test_transactions_committing_out_of_id_order_are_not_skipped(db_url: str) -> None:
    async def go() -> None:
        early = await asyncpg.connect(db_url)
        late = await asyncpg.connect(db_url)
        try:
            # `early` takes the lower event id and xid, but commits last
            await early.execute("BEGIN")
            await early.execute(STAGE_ONE)
            await late.execute(STAGE_ONE.replace("'x1', 'h1'", "'x2', 'h2'"))
            first = await Listener(ListenerConfig(url=db_url, once=True)).run()
            assert first.events == 1
            await early.execute("COMMIT")
            second = await Listener(ListenerConfig(url=db_url, once=True)).run()
            assert second.events == 1
            third = await Listener(ListenerConfig(url=db_url, once=True)).run()
            assert third.events == 0
        finally:
            await early.close()
            await late.close()

    anyio.run(go)
    assert audit(db_url) == {"missing": 0, "doubled": 0, "events": 2}
    ids = [r["event_id"] for r in sql(db_url, "SELECT event_id FROM trapper.orchestrator_job_log "
                                              "ORDER BY log_seq")]
    assert ids[0] > ids[1]   # the later id was enriched first: it committed first


def test_while_a_long_transaction_holds_the_horizon_each_event_is_still_read_once(
    db_url: str,
) -> None:
    """A pass reads only what the last completed pass's snapshot did not show (its
    transactions then in progress, and those after its xmax), not every event since the
    horizon (sql/triggers_shadow/007_last_snapshot.sql): held-open and late-committing
    transactions, many passes, pages of two."""

    async def go() -> None:
        held = await asyncpg.connect(db_url)
        middle = await asyncpg.connect(db_url)
        writer = await asyncpg.connect(db_url)
        try:
            # two transactions in progress across passes; `held` keeps the horizon below it
            await held.execute("BEGIN")
            await held.execute(STAGE_ONE)
            await middle.execute("BEGIN")
            await middle.execute(STAGE_ONE.replace("'x1', 'h1'", "'m1', 'hm'"))
            seen = 0
            for r in range(5):
                for k in range(3):
                    await writer.execute(STAGE_ONE.replace("'x1', 'h1'", f"'r{r}k{k}', 'h{r}{k}'"))
                if r == 2:
                    await middle.execute("COMMIT")
                got = await Listener(ListenerConfig(url=db_url, once=True, batch=2)).run()
                seen += got.events
            assert seen == 16
            ck = await writer.fetchrow(
                "SELECT cardinality(done) AS done, last_snapshot IS NOT NULL AS remembered "
                "FROM trapper.orchestrator_listener_checkpoint")
            assert ck["done"] >= 16 and ck["remembered"]
            await held.execute("COMMIT")
            last = await Listener(ListenerConfig(url=db_url, once=True, batch=2)).run()
            assert last.events == 1
            again = await Listener(ListenerConfig(url=db_url, once=True, batch=2)).run()
            assert again.events == 0
        finally:
            await held.close()
            await middle.close()
            await writer.close()

    anyio.run(go)
    assert audit(db_url) == {"missing": 0, "doubled": 0, "events": 17}


def test_a_rolled_back_transaction_leaves_no_event_and_blocks_nothing(db_url: str) -> None:
    execute(db_url, f"BEGIN; {STAGE_ONE}; ROLLBACK")
    stage_rows(db_url, "clinichq", "owner_info", 3)
    assert listen_once(db_url).events == 1
    assert audit(db_url) == {"missing": 0, "doubled": 0, "events": 1}


def test_processing_an_event_twice_yields_one_row_and_counts_once(db_url: str) -> None:
    stage_rows(db_url, "clinichq", "owner_info", 10)
    listen_once(db_url)
    # forget the checkpoint's horizon: every event is read again
    execute(db_url, "UPDATE trapper.orchestrator_listener_checkpoint "
                    "SET horizon = '0', done = '{}'")
    again = listen_once(db_url)
    assert again.events == 1 and again.log_rows == 0
    assert audit(db_url) == {"missing": 0, "doubled": 0, "events": 1}
    assert val(db_url, "SELECT total_records_ingested FROM trapper.orchestrator_sources "
                       "WHERE source_system = 'clinichq' AND source_table = 'owner_info'") == 10
    assert val(db_url, "SELECT sum(staged) FROM trapper.orchestrator_source_hourly") == 10


def test_pages_split_a_large_backlog_without_loss(db_url: str) -> None:
    for i in range(25):
        stage_rows(db_url, "clinichq", "owner_info", 2, tag=f"b{i}")
    stats = listen_once(db_url, batch=7)
    assert stats.events == 25 and stats.pages >= 4
    assert audit(db_url) == {"missing": 0, "doubled": 0, "events": 25}


def test_the_pipeline_is_enriched_with_reasons_scores_and_counters(
    db_url: str, world: Path
) -> None:
    env = {"DATABASE_URL": db_url}
    assert run_cli("ingest", "--manifest", str(world / "manifest.json"), env=env).returncode == 0
    assert run_cli("process", env=env, timeout=300).returncode == 0
    # a merge and a failed job, so every kind of event is there
    execute(db_url, """
        WITH two AS (SELECT person_id FROM trapper.sot_people
                     WHERE merged_into_person_id IS NULL ORDER BY created_at LIMIT 2)
        UPDATE trapper.sot_people SET merged_into_person_id = (SELECT min(person_id::text)::uuid
                                                               FROM two)
        WHERE person_id = (SELECT max(person_id::text)::uuid FROM two);
        INSERT INTO trapper.processing_jobs (source_system, source_table, status, last_error)
        VALUES ('petlink', 'owners', 'queued', NULL);
        UPDATE trapper.processing_jobs SET status = 'dead_letter', last_error = 'boom: test'
        WHERE status = 'queued'""")
    stats = listen_once(db_url)
    assert audit(db_url)["missing"] == 0 and audit(db_url)["doubled"] == 0
    actions = {r["action"]: r["n"] for r in sql(
        db_url, "SELECT action, count(*) AS n FROM trapper.orchestrator_job_log "
                "WHERE event_id IS NOT NULL GROUP BY 1")}
    assert {"staged", "job_queued", "job_started", "job_completed", "job_failed",
            "identity_decision", "entity_created", "entity_merged"} <= set(actions)
    assert stats.events == sum(actions.values())
    decision = sql(db_url, """
        SELECT l.decision_reason, l.decision_details, l.target_entity_id, d.resulting_person_id,
               d.decision_type, l.source_record_id, d.source_row_id
        FROM trapper.orchestrator_job_log l
        JOIN trapper.data_engine_match_decisions d
          ON d.decision_id = (l.decision_details ->> 'decision_id')::bigint
        WHERE l.action = 'identity_decision' AND d.decision_type = 'auto_match' LIMIT 1""")[0]
    assert decision["decision_reason"].startswith("auto_match: ")
    assert "score" in decision["decision_details"] or "fs_score" in decision["decision_details"]
    assert decision["target_entity_id"] == decision["resulting_person_id"]
    assert decision["source_record_id"] == decision["source_row_id"]
    failed = val(db_url, "SELECT decision_reason FROM trapper.orchestrator_job_log "
                         "WHERE action = 'job_failed'")
    assert failed == "job dead_letter: boom: test"
    created = sql(db_url, """
        SELECT l.source_system, l.source_table, l.source_record_id, s.source_row_id
        FROM trapper.orchestrator_job_log l
        JOIN trapper.entity_sources s ON s.entity_id = l.target_entity_id AND s.action = 'created'
        WHERE l.action = 'entity_created' AND l.target_surface = 'sot_cats' LIMIT 1""")[0]
    assert created["source_record_id"] == created["source_row_id"]
    # counters: what was staged per source, and entities per source, once each
    mismatched = sql(db_url, """
        SELECT s.source_system, s.source_table, s.total_records_ingested, count(r.id) AS staged
        FROM trapper.orchestrator_sources s
        LEFT JOIN trapper.staged_records r USING (source_system, source_table)
        GROUP BY 1, 2, 3 HAVING s.total_records_ingested <> count(r.id)""")
    assert mismatched == []
    assert val(db_url, "SELECT sum(total_entities_created) FROM trapper.orchestrator_sources") \
        == actions["entity_created"]
    assert val(db_url, "SELECT sum(staged) FROM trapper.orchestrator_source_hourly") \
        == val(db_url, "SELECT count(*) FROM trapper.staged_records")
    assert val(db_url, "SELECT sum(routed) FROM trapper.orchestrator_source_hourly") \
        == val(db_url, "SELECT count(*) FROM trapper.orchestrator_job_log "
                       "WHERE action = 'routed'")


def _queue_state(url: str) -> list[Any]:
    """Jobs by source and status, and records not processed: what a failure message needs."""
    return sql(url, """
        SELECT source_system, source_table, status, attempt_count, last_error
        FROM trapper.processing_jobs WHERE status <> 'completed'
        UNION ALL
        SELECT source_system, source_table, 'unprocessed', count(*)::int, NULL
        FROM trapper.staged_records WHERE NOT is_processed GROUP BY 1, 2""")


def _natural_keys(url: str) -> dict[str, Any]:
    rows = sql(url, """
        SELECT
          (SELECT array_agg(k ORDER BY k) FROM (
              SELECT coalesce(display_name, '') || '|' ||
                     coalesce((SELECT string_agg(id_type || ':' || id_value_norm, ','
                                                 ORDER BY id_type, id_value_norm)
                               FROM trapper.person_identifiers i
                               WHERE i.person_id = p.person_id), '') AS k
              FROM trapper.sot_people p WHERE merged_into_person_id IS NULL) x) AS people,
          -- ORDER BY the value: "ORDER BY 1" in an aggregate orders by the constant 1, which
          -- left the arrays in heap order, and autovacuum's timing moves that (a flaky test)
          (SELECT array_agg(k ORDER BY k) FROM (
              SELECT coalesce(address_key, display_name, '') AS k
              FROM trapper.places WHERE merged_into_place_id IS NULL) x) AS places,
          (SELECT array_agg(k ORDER BY k) FROM (
              SELECT coalesce(clinichq_animal_id, display_name, '') AS k
              FROM trapper.sot_cats WHERE merged_into_cat_id IS NULL) x) AS cats,
          (SELECT count(*) FROM trapper.sot_requests) AS requests,
          (SELECT count(*) FROM trapper.sot_appointments) AS appointments""")[0]
    return dict(rows)


def test_the_same_load_gives_the_same_core_data_with_and_without_the_shadow_layer(
    db_url: str, pg: Server, world: Path
) -> None:
    # the same engines and router, minus the shadow triggers and their events
    bare_name = pg.create("full")
    bare = pg.url(bare_name)
    try:
        execute(bare, """
            DO $$
            DECLARE t record;
            BEGIN
                FOR t IN SELECT tgname, tgrelid::regclass AS rel FROM pg_trigger
                         WHERE NOT tgisinternal AND tgname LIKE 'orchestrator\\_%'
                           AND (tgrelid::regclass::text NOT LIKE 'trapper.orchestrator\\_%'
                                OR tgname = 'orchestrator_job_log_insert') LOOP
                    EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
                END LOOP;
            END $$""")
        for url in (bare, db_url):
            env = {"DATABASE_URL": url}
            assert run_cli("ingest", "--manifest", str(world / "manifest.json"),
                           env=env).returncode == 0
            assert run_cli("process", env=env, timeout=300).returncode == 0
        listen_once(db_url)
        assert val(bare, "SELECT count(*) FROM trapper.orchestrator_events") == 0
        assert val(db_url, "SELECT count(*) FROM trapper.orchestrator_events") > 1000
        without, with_shadow = _natural_keys(bare), _natural_keys(db_url)
        assert with_shadow["people"] and with_shadow["cats"]
        assert without == with_shadow, (_queue_state(bare), _queue_state(db_url))
    finally:
        pg.drop(bare_name)


ACTIVE_FLOW_TABLES = {"web_intake_submissions", "sot_requests", "request_trappers",
                      "journal_entries", "staff", "staff_sessions"}


def test_the_active_flow_safety_gate_holds(db_url: str) -> None:
    triggers = sql(db_url, """
        SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND t.tgname LIKE 'orchestrator\\_%'""")
    on_tables = {t["relname"] for t in triggers if not t["relname"].startswith("orchestrator_")}
    assert on_tables == {"staged_records", "processing_jobs", "data_engine_match_decisions",
                         "sot_people", "places", "sot_cats"}
    assert not on_tables & ACTIVE_FLOW_TABLES
    bodies = sql(db_url, """
        SELECT o.object_identity, pg_get_functiondef(p.oid) AS def
        FROM trapper.orchestrator_objects o
        JOIN pg_proc p ON p.oid = to_regprocedure(o.object_identity)
        WHERE o.object_type = 'function'""")
    assert len(bodies) > 20
    written: set[str] = set()
    for b in bodies:
        written |= set(re.findall(
            r"(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+trapper\.(\w+)", b["def"], re.I))
    assert written, "the scan found no writes at all, so it is not reading the functions"
    assert not written & ACTIVE_FLOW_TABLES, written & ACTIVE_FLOW_TABLES


def test_listen_once_refuses_while_another_listener_leads(db_url: str, tmp_path: Path) -> None:
    leader = ListenerProcess(db_url, tmp_path, "leader")
    try:
        wait_for(lambda: leader.leads(db_url), 20, "the first listener to lead")
        done = run_cli("listen", "--once", env={"DATABASE_URL": db_url})
        assert done.returncode == 3
        assert "another listener" in done.stderr and str(leader.proc.pid) in done.stderr
    finally:
        assert leader.stop() == 0


def test_sigterm_finishes_and_exits_zero_with_its_checkpoint(db_url: str, tmp_path: Path) -> None:
    proc = ListenerProcess(db_url, tmp_path, "one")
    try:
        wait_for(lambda: proc.leads(db_url), 20, "the listener to lead")
        stage_rows(db_url, "clinichq", "owner_info", 5)
        wait_for(lambda: val(db_url, "SELECT count(*) FROM trapper.orchestrator_job_log "
                                     "WHERE action = 'staged'"), 10, "the live event")
    finally:
        assert proc.stop() == 0
    lines = [json.loads(line) for line in proc.log().splitlines() if line.startswith("{")]
    assert [ln["action"] for ln in lines][-2:] == ["listener_stopping", "listener_stopped"]
    assert lines[-1]["events"] == 1
    # released: a --once run can take the lock at once
    assert run_cli("listen", "--once", env={"DATABASE_URL": db_url}).returncode == 0


@pytest.mark.slow
def test_a_standby_takes_over_when_the_leader_is_killed(db_url: str, tmp_path: Path) -> None:
    a = ListenerProcess(db_url, tmp_path, "a")
    b = ListenerProcess(db_url, tmp_path, "b")
    try:
        first = wait_for(lambda: next((p for p in (a, b) if p.leads(db_url)), None), 20,
                         "one listener to lead")
        other = b if first is a else a
        wait_for(lambda: '"standby"' in other.log(), 10, "the other to stand by")
        stage_rows(db_url, "clinichq", "owner_info", 3)
        wait_for(lambda: audit(db_url)["missing"] == 0 and audit(db_url)["events"] == 1, 10,
                 "the leader to enrich")
        first.kill()
        killed_at = time.monotonic()
        wait_for(lambda: other.leads(db_url), 15, "the standby to take over")
        assert time.monotonic() - killed_at < 10
        stage_rows(db_url, "petlink", "owners", 3)
        wait_for(lambda: audit(db_url) == {"missing": 0, "doubled": 0, "events": 2}, 10,
                 "the new leader to enrich")
    finally:
        a.kill()
        b.kill()


def test_poll_capture_costs_the_writers_no_trigger_and_loses_nothing(db_url: str) -> None:
    env = {"DATABASE_URL": db_url}
    stage_rows(db_url, "clinichq", "owner_info", 4, tag="before")   # evented by the trigger
    done = run_cli("shadow", "set", "--capture", "poll", "--notify", "off", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert {r["key"]: r["value"] for r in json.loads(done.stdout)}["capture_staged"] == "poll"
    assert val(db_url, "SELECT tgenabled FROM pg_trigger "
                       "WHERE tgname = 'orchestrator_staged_insert'") == b"D"
    stage_rows(db_url, "clinichq", "owner_info", 6, tag="during")
    stage_rows(db_url, "petlink", "owners", 2, tag="during")
    assert val(db_url, "SELECT count(*) FROM trapper.orchestrator_events") == 1
    stats = listen_once(db_url)
    assert stats.events == 3
    # an insert still open holds the poll back until it commits, then it is captured
    assert listen_once_while_open(db_url, STAGE_ONE) == 0
    assert listen_once(db_url).events == 1
    # back to the trigger: whatever the poll had not captured is captured at the switch
    stage_rows(db_url, "clinichq", "owner_info", 5, tag="late")
    assert run_cli("shadow", "set", "--capture", "trigger", env=env).returncode == 0
    stage_rows(db_url, "clinichq", "owner_info", 7, tag="after")
    listen_once(db_url)
    assert audit(db_url)["missing"] == 0 and audit(db_url)["doubled"] == 0
    staged = val(db_url, "SELECT count(*) FROM trapper.staged_records")
    assert val(db_url, "SELECT sum((decision_details ->> 'count')::int) FROM "
                       "trapper.orchestrator_job_log WHERE action = 'staged'") == staged
    assert val(db_url, "SELECT sum(total_records_ingested) FROM "
                       "trapper.orchestrator_sources") == staged


def test_shadow_status_reports_the_backlog_and_failures(db_url: str) -> None:
    stage_rows(db_url, "clinichq", "owner_info", 2)
    listen_once(db_url)
    stage_rows(db_url, "clinichq", "owner_info", 2)
    done = run_cli("shadow", "status", "--json", env={"DATABASE_URL": db_url})
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["listeners"][0]["events_pending"] == 1
    assert doc["listeners"][0]["events_consumed"] == 1
    assert doc["shadow_failures"]["failures"] == 0
    assert run_cli("shadow", "set", env={"DATABASE_URL": db_url}).returncode == 2


DECIDE_ONE = """INSERT INTO trapper.data_engine_match_decisions
                    (source_system, source_table, source_row_id, decision_type, decision_reason)
                VALUES ('clinichq', 'owner_info', 'open-1', 'rejected', 'test: no identifiers')"""


def _engine_log_counts(url: str) -> dict[str, Any]:
    return sql(url, """
        SELECT (SELECT count(*) FROM trapper.orchestrator_job_log
                WHERE action = 'identity_decision') AS decision_rows,
               (SELECT count(DISTINCT decision_details ->> 'decision_id')
                FROM trapper.orchestrator_job_log
                WHERE action = 'identity_decision') AS decisions_logged,
               (SELECT count(*) FROM trapper.data_engine_match_decisions) AS decisions,
               (SELECT count(*) FROM trapper.orchestrator_job_log
                WHERE action = 'entity_created') AS entity_rows,
               (SELECT count(DISTINCT target_entity_id) FROM trapper.orchestrator_job_log
                WHERE action = 'entity_created') AS entities_logged,
               (SELECT count(*) FROM trapper.sot_people) + (SELECT count(*) FROM trapper.places)
                 + (SELECT count(*) FROM trapper.sot_cats) AS entities""")[0]


def test_engine_poll_capture_logs_every_decision_and_entity_once(
    db_url: str, world: Path
) -> None:
    env = {"DATABASE_URL": db_url}
    manifest = json.loads((world / "manifest.json").read_text())
    files = manifest["files"]
    half = len(files) // 2
    # the first half with the triggers, the rest polled: the switch loses and doubles nothing
    first = world / "first.json"
    first.write_text(json.dumps({**manifest, "files": files[:half]}))
    rest = world / "rest.json"
    rest.write_text(json.dumps({**manifest, "files": files[half:]}))
    assert val(db_url, "SELECT value FROM trapper.orchestrator_settings "
                       "WHERE key = 'capture_decisions'") == "poll"     # the default
    assert val(db_url, "SELECT count(*) FROM pg_trigger WHERE tgname = "
                       "'orchestrator_match_decision_insert' AND tgenabled = 'D'") == 1
    assert run_cli("shadow", "set", "--capture-engine", "trigger", env=env).returncode == 0
    assert run_cli("ingest", "--manifest", str(first), env=env).returncode == 0
    assert run_cli("process", env=env, timeout=300).returncode == 0
    by_trigger = val(db_url, "SELECT count(*) FROM trapper.orchestrator_events "
                             "WHERE kind IN ('identity_decision', 'entity_created')")
    assert by_trigger > 0
    done = run_cli("shadow", "set", "--capture-engine", "poll", "--json", env=env)
    assert done.returncode == 0, done.stderr
    settings = {r["key"]: r["value"] for r in json.loads(done.stdout)}
    assert settings["capture_decisions"] == settings["capture_entities"] == "poll"
    assert [dict(r) for r in sql(db_url, "SELECT tgname, tgenabled FROM pg_trigger WHERE tgname IN "
                       "('orchestrator_match_decision_insert', 'orchestrator_person_insert', "
                       "'orchestrator_place_insert', 'orchestrator_cat_insert') "
                       "ORDER BY tgname")] == [
        {"tgname": n, "tgenabled": b"D"} for n in (
            "orchestrator_cat_insert", "orchestrator_match_decision_insert",
            "orchestrator_person_insert", "orchestrator_place_insert")]
    assert run_cli("ingest", "--manifest", str(rest), env=env).returncode == 0
    assert run_cli("process", env=env, timeout=300).returncode == 0
    # the host's processing wrote no decision or entity event of its own
    assert val(db_url, "SELECT count(*) FROM trapper.orchestrator_events "
                       "WHERE kind IN ('identity_decision', 'entity_created')") == by_trigger
    listen_once(db_url)
    assert val(db_url, "SELECT count(*) FROM trapper.orchestrator_events "
                       "WHERE payload ->> 'captured' = 'poll'") > 0
    counts = _engine_log_counts(db_url)
    assert counts["decision_rows"] == counts["decisions_logged"] == counts["decisions"]
    assert counts["entity_rows"] == counts["entities_logged"] == counts["entities"]
    # a polled decision is enriched like a trigger's: its reason, score and source record
    polled = sql(db_url, """
        SELECT l.decision_reason, l.source_record_id, d.source_row_id, d.decision_type,
               d.decision_reason AS reason
        FROM trapper.orchestrator_job_log l
        JOIN trapper.orchestrator_events e USING (event_id)
        JOIN trapper.data_engine_match_decisions d
          ON d.decision_id = (l.decision_details ->> 'decision_id')::bigint
        WHERE e.payload ->> 'captured' = 'poll' LIMIT 1""")[0]
    assert polled["decision_reason"] == f"{polled['decision_type']}: {polled['reason']}"
    assert polled["source_record_id"] == polled["source_row_id"]
    assert audit(db_url)["missing"] == 0 and audit(db_url)["doubled"] == 0


def test_engine_poll_capture_waits_for_an_open_writer_and_hands_back(db_url: str) -> None:
    env = {"DATABASE_URL": db_url}
    # poll is installed: setting it again changes nothing
    assert run_cli("shadow", "set", "--capture-engine", "poll", env=env).returncode == 0
    # the committed decision has a higher id than the open one: the watermark holds both
    # back until the open writer ends
    assert listen_once_while_open(db_url, DECIDE_ONE,
                                  DECIDE_ONE.replace("open-1", "committed-2")) == 0
    assert listen_once(db_url).events == 2
    # back to the triggers: what the poll had not captured is captured at the switch
    execute(db_url, DECIDE_ONE.replace("open-1", "late-3"))
    assert run_cli("shadow", "set", "--capture-engine", "trigger", env=env).returncode == 0
    execute(db_url, DECIDE_ONE.replace("open-1", "after-4"))
    listen_once(db_url)
    counts = _engine_log_counts(db_url)
    assert counts["decision_rows"] == counts["decisions_logged"] == counts["decisions"] == 4
    assert audit(db_url)["missing"] == 0 and audit(db_url)["doubled"] == 0
    bad = run_cli("shadow", "set", "--capture-engine", "sometimes", env=env)
    assert bad.returncode == 2
    for stream, mode, message in (
            ("engine", "sometimes", "capture mode 'sometimes': not one of trigger, poll"),
            ("cats", "poll", "capture stream 'cats': not one of staged, decisions, entities, "
                             "engine")):
        with pytest.raises(asyncpg.InvalidParameterValueError, match=message):
            sql(db_url, "SELECT trapper.orchestrator_set_capture($1, $2)", stream, mode)
    assert val(db_url, "SELECT value FROM trapper.orchestrator_settings "
                       "WHERE key = 'capture_entities'") == "trigger"


def test_a_polled_stream_being_written_is_looked_at_again_soon(db_url: str) -> None:
    """Polled decisions send no NOTIFY: once a capture probe waits for an open writer, the
    listener looks again within a fraction of a second, not at its next poll (60 s here)."""

    async def go() -> float:
        listener = Listener(ListenerConfig(url=db_url, poll_interval=60, probe_interval=60,
                                           detect_interval=0, alerts=False))
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.run)
            with anyio.fail_after(20):
                await listener.leading.wait()
            writer = await asyncpg.connect(db_url)
            other = await asyncpg.connect(db_url)
            try:
                await writer.execute("BEGIN")
                await writer.execute(DECIDE_ONE)
                # a staged row wakes the listener (trigger + NOTIFY); its capture probe finds
                # the decision's writer still open
                await other.execute("""
                    INSERT INTO trapper.staged_records
                        (source_system, source_table, source_row_id, row_hash, payload)
                    VALUES ('clinichq', 'owner_info', 'wake-1', md5('wake-1'), '{}')""")
                with anyio.fail_after(20):
                    while not await other.fetchval(
                            "SELECT count(*) FROM trapper.orchestrator_job_log "
                            "WHERE action = 'staged'"):
                        await anyio.sleep(0.05)
                await writer.execute("COMMIT")
                committed = time.monotonic()
                with anyio.fail_after(10):
                    while not await other.fetchval(
                            "SELECT count(*) FROM trapper.orchestrator_job_log "
                            "WHERE action = 'identity_decision'"):
                        await anyio.sleep(0.02)
                return time.monotonic() - committed
            finally:
                listener.stop()
                await writer.close()
                await other.close()

    assert anyio.run(go) < 5
    assert audit(db_url)["missing"] == 0 and audit(db_url)["doubled"] == 0


def test_while_events_flow_the_listener_steps_without_waiting_for_notify(db_url: str) -> None:
    """With NOTIFY off nothing wakes the listener; once it has found events it steps again
    after busy_interval, backing off from there, so the next event is logged at once, not at
    the next poll (60 s here)."""
    execute(db_url, "UPDATE trapper.orchestrator_settings SET value = 'off' WHERE key = 'notify'")
    stage_rows(db_url, "clinichq", "owner_info", 1, tag="first")
    staged_logged = ("SELECT count(*) FROM trapper.orchestrator_job_log "
                     "WHERE action = 'staged'")

    async def go() -> float:
        listener = Listener(ListenerConfig(url=db_url, poll_interval=60, probe_interval=60,
                                           detect_interval=0, alerts=False))
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.run)
            conn = await asyncpg.connect(db_url)
            try:
                with anyio.fail_after(20):
                    while await conn.fetchval(staged_logged) < 1:
                        await anyio.sleep(0.02)
                await conn.execute("""
                    INSERT INTO trapper.staged_records
                        (source_system, source_table, source_row_id, row_hash, payload)
                    VALUES ('clinichq', 'owner_info', 'second', md5('second'), '{}')""")
                written = time.monotonic()
                with anyio.fail_after(10):
                    while await conn.fetchval(staged_logged) < 2:
                        await anyio.sleep(0.02)
                return time.monotonic() - written
            finally:
                listener.stop()
                await conn.close()

    assert anyio.run(go) < 5


def test_listen_refuses_intervals_that_are_not_positive(db_url: str) -> None:
    for option in ("--poll-interval", "--busy-interval"):
        bad = run_cli("listen", "--once", option, "0", env={"DATABASE_URL": db_url})
        assert bad.returncode == 2
        assert "--batch, --poll-interval and --busy-interval must be positive" in bad.stderr
    bad = run_cli("listen", "--once", "--idle-check", "-0.1", env={"DATABASE_URL": db_url})
    assert bad.returncode == 2 and "--idle-check must be 0 (off) or positive" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert val(db_url, "SELECT count(*) FROM trapper.orchestrator_listener_checkpoint") == 0


def test_a_busy_listener_still_tallies_every_log_row_once(db_url: str) -> None:
    """While steps keep finding events the tally is put off (tally_interval, an hour here);
    a step that finds none tallies, so every row is counted, and counted once."""
    async def go() -> tuple[int, int]:
        listener = Listener(ListenerConfig(url=db_url, tally_interval=3600.0,
                                           busy_interval=0.01, poll_interval=0.05,
                                           alerts=False))
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.run)
            await listener.leading.wait()
            conn = await asyncpg.connect(db_url, server_settings={"atlas_orch.notify": "off"})
            try:
                for i in range(30):         # one event each, no NOTIFY: busy steps
                    await conn.execute(STAGE_ONE.replace("'x1', 'h1'", f"'b{i}', 'h{i}'"))
                behind = 1                  # log rows not tallied yet
                with anyio.fail_after(60):
                    while listener.stats.events < 30 or behind:
                        await anyio.sleep(0.05)
                        behind = await conn.fetchval(
                            "SELECT max(log_seq) - $1 FROM trapper.orchestrator_job_log",
                            listener.stats.tallied_upto)
            finally:
                await conn.close()
            listener.stop()
        return listener.stats.events, listener.stats.tallied

    events, tallied = anyio.run(go)
    assert events == 30 and tallied == 30
    assert val(db_url, "SELECT total_records_ingested FROM trapper.orchestrator_sources "
                       "WHERE source_system = 'clinichq' AND source_table = 'owner_info'") == 30


def _step_footprint(url: str, query: str) -> tuple[str | None, bool]:
    """Run one listener query inside a transaction and report whether the transaction got an
    xid (it wrote something, so its commit waits for a WAL flush) and whether it holds the job
    log's write lock (which the live feed's watermark waits on)."""
    async def go() -> tuple[str | None, bool]:
        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():
                await conn.fetch(query)
                xid = await conn.fetchval("SELECT pg_current_xact_id_if_assigned()::text")
                locked = await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = pg_backend_pid() "
                    "AND locktype = 'relation' AND mode = 'RowExclusiveLock' "
                    "AND relation = 'trapper.orchestrator_job_log'::regclass)")
                return xid, bool(locked)
        finally:
            await conn.close()

    return anyio.run(go)


def test_an_idle_listener_step_writes_nothing_and_leaves_the_log_unlocked(db_url: str) -> None:
    """Once caught up, the capture and tally steps find nothing to move: they write no row
    (so their commits wait on no WAL flush) and no step of the listener's takes the job log's
    write lock, which would hold the live feed's watermark back (docs/benchmarks.md)."""
    stage_rows(db_url, "clinichq", "owner_info", 5)
    listen_once(db_url)                      # caught up: every event read, every row tallied
    for query in ("SELECT * FROM trapper.orchestrator_capture('listener')",
                  "SELECT * FROM trapper.orchestrator_tally_log('listener')"):
        assert _step_footprint(db_url, query) == (None, False), query
    # an empty page moves the pass (a write) but still leaves the log alone
    _, locked = _step_footprint(
        db_url, "SELECT * FROM trapper.orchestrator_consume_events('listener', 1000)")
    assert not locked
    # a page with events does write the log, and its rows are all there
    stage_rows(db_url, "clinichq", "owner_info", 3)
    _, locked = _step_footprint(
        db_url, "SELECT * FROM trapper.orchestrator_consume_events('listener', 1000)")
    assert locked
    assert audit(db_url) == {"missing": 0, "doubled": 0, "events": 2}


def test_an_idle_listener_sees_notify_off_rows_well_before_its_poll(db_url: str) -> None:
    """With NOTIFY off nothing wakes an idle listener, so the first rows of a stream waited for
    its poll (1 s by default; 30 s here). Its look at change_mark between waits finds them
    within a fraction of that."""
    async def go() -> float:
        listener = Listener(ListenerConfig(url=db_url, poll_interval=30.0, probe_interval=60.0,
                                           alerts=False))
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.run)
            await listener.leading.wait()
            await anyio.sleep(2.0)               # idle: its wait has grown to the poll
            conn = await asyncpg.connect(db_url, server_settings={"atlas_orch.notify": "off"})
            try:
                t = time.monotonic()
                await conn.execute(STAGE_ONE)
                with anyio.fail_after(40):
                    while listener.stats.log_rows < 1:
                        await anyio.sleep(0.01)
                took = time.monotonic() - t
            finally:
                await conn.close()
            listener.stop()
        return took

    assert anyio.run(go) < 5.0                # the poll alone takes up to 30 s
