"""The decision log and the event table in monthly partitions (orchestrator 018,
triggers_shadow 006; docs/operations.md, "Partitions and retention"): made ahead, a DEFAULT
partition, retention by whole partitions, the upgrade of an unpartitioned log, idempotent
enrichment and an exact uninstall."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import asyncpg
import pytest

from listener.core import sql
from listener.schema import migrations
from tests.conftest import REPO

pytestmark = pytest.mark.anyio

LOG = "trapper.orchestrator_job_log"
EVENTS = "trapper.orchestrator_events"


def _month(offset: int) -> str:
    """The UTC month ``offset`` months from the current one, as YYYYMM."""
    now = datetime.now(UTC)
    index = now.year * 12 + now.month - 1 + offset
    return f"{index // 12:04d}{index % 12 + 1:02d}"


async def _partitions(conn: asyncpg.Connection, table: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT partition::text AS p FROM trapper.orchestrator_partitions($1::regclass)", table)
    return [r["p"].split(".")[-1] for r in rows]


async def _log_row(conn: asyncpg.Connection, months_ago: int, reason: str) -> int:
    seq: int = await conn.fetchval(
        "INSERT INTO trapper.orchestrator_job_log (action, source_system, source_table, "
        "decision_reason, logged_at) VALUES ('routed', 'clinichq', 'cat_info', $1, "
        "now() - make_interval(months => $2)) RETURNING log_seq", reason, months_ago)
    return seq


async def test_partitions_are_made_ahead_with_a_default(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        for table in (LOG, EVENTS):
            name = table.split(".")[1]
            parts = await _partitions(conn, table)
            assert f"{name}_pdefault" in parts
            for offset in range(0, 4):
                assert f"{name}_p{_month(offset)}" in parts
            assert f"{name}_p{_month(4)}" not in parts
        await conn.execute("UPDATE trapper.orchestrator_settings SET value = '5' "
                           "WHERE key = 'partitions_ahead_months'")
        made = await conn.fetchval(
            "SELECT trapper.orchestrator_ensure_partitions($1::regclass)", LOG)
        assert made == 2
        assert f"orchestrator_job_log_p{_month(5)}" in await _partitions(conn, LOG)
        again = await conn.fetchval(
            "SELECT trapper.orchestrator_ensure_partitions($1::regclass)", LOG)
        assert again == 0
    finally:
        await conn.close()


async def test_a_row_past_every_partition_lands_in_default_then_moves(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        seq = await _log_row(conn, -24, "from the future")  # two years ahead: no month yet
        where = await conn.fetchval("SELECT tableoid::regclass::text FROM "
                                    "trapper.orchestrator_job_log WHERE log_seq = $1", seq)
        assert where == "trapper.orchestrator_job_log_pdefault"
        await conn.fetchval(
            "SELECT trapper.orchestrator_ensure_partitions($1::regclass, NULL, 25)", LOG)
        where, reason = await conn.fetchrow(
            "SELECT tableoid::regclass::text, decision_reason FROM "
            "trapper.orchestrator_job_log WHERE log_seq = $1", seq)
        assert where == f"trapper.orchestrator_job_log_p{_month(24)}"
        assert reason == "from the future"
        assert await conn.fetchval(
            "SELECT count(*) FROM trapper.orchestrator_job_log_pdefault") == 0
    finally:
        await conn.close()


async def test_log_retention_drops_whole_old_partitions_and_only_them(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await conn.fetchval("SELECT trapper.orchestrator_ensure_partitions($1::regclass, "
                            "now() - interval '6 months')", LOG)
        kept_by_default = {await _log_row(conn, m, f"{m} months ago") for m in range(0, 7)}
        assert await conn.fetchval("SELECT trapper.orchestrator_prune_log()") == 0
        assert await conn.fetchval(
            "SELECT count(*) FROM trapper.orchestrator_job_log WHERE log_seq = ANY($1)",
            list(kept_by_default)) == 7

        await conn.execute("UPDATE trapper.orchestrator_settings SET value = '2' "
                           "WHERE key = 'log_retention_months'")
        before = set(await _partitions(conn, LOG))
        dropped = await conn.fetchval("SELECT trapper.orchestrator_prune_log()")
        after = set(await _partitions(conn, LOG))
        gone = {f"orchestrator_job_log_p{_month(-m)}" for m in range(3, 7)}
        assert before - after == gone
        assert "orchestrator_job_log_pdefault" in after
        assert f"orchestrator_job_log_p{_month(-2)}" in after
        assert dropped == 4
        left = await conn.fetch("SELECT decision_reason FROM trapper.orchestrator_job_log "
                                "WHERE decision_reason LIKE '%months ago' ORDER BY 1")
        assert [r[0] for r in left] == ["0 months ago", "1 months ago", "2 months ago"]
    finally:
        await conn.close()


async def _past_the_check(conn: asyncpg.Connection, key: str, value: str) -> None:
    """A setting as one written before settings_check.sql refused such values (an older
    install's row): the readers must still take it with a warning and their default."""
    async with conn.transaction():
        await conn.execute("ALTER TABLE trapper.orchestrator_settings "
                           "DISABLE TRIGGER orchestrator_settings_check")
        await conn.execute("UPDATE trapper.orchestrator_settings SET value = $2 WHERE key = $1",
                           key, value)
        await conn.execute("ALTER TABLE trapper.orchestrator_settings "
                           "ENABLE TRIGGER orchestrator_settings_check")


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "100000"])
async def test_a_bad_retention_setting_keeps_everything_and_says_so(
        db_url: str, value: str) -> None:
    """log_retention_months = -1 (\"forever\" elsewhere) once dropped the current month's
    log, and a typo stopped the listener with a cast error on every housekeeping tick."""
    conn = await asyncpg.connect(db_url)
    warnings: list[str] = []
    conn.add_log_listener(lambda _c, msg: warnings.append(str(msg)))
    try:
        kept = [await _log_row(conn, m, f"{m} months ago") for m in (0, 1)]
        # written today, the value is refused, naming the key
        with pytest.raises(asyncpg.InvalidParameterValueError, match="log_retention_months"):
            await conn.execute("UPDATE trapper.orchestrator_settings SET value = $1 "
                               "WHERE key = 'log_retention_months'", value)
        # one written before the check (settings_check.sql) still keeps everything
        await _past_the_check(conn, "log_retention_months", value)
        await _past_the_check(conn, "partitions_ahead_months", value)
        before = set(await _partitions(conn, LOG))
        # the listener's own housekeeping query
        _, made, dropped = await conn.fetchrow(
            sql.beside(str(Path(REPO) / "listener/events/service.py"), "listener")["housekeep"],
            "w")
        assert dropped == 0 and made == 0
        assert set(await _partitions(conn, LOG)) == before
        assert await conn.fetchval(
            "SELECT count(*) FROM trapper.orchestrator_job_log WHERE log_seq = ANY($1)",
            kept) == 2
        assert any("log_retention_months" in w and value.strip() in w for w in warnings)
        assert any("partitions_ahead_months" in w for w in warnings)
    finally:
        await conn.close()


# a month goes once the horizon passes its events: no CREATE DATABASE beside it may hold it back
@pytest.mark.quiet_server
async def test_events_go_a_month_at_a_time_once_consumed(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await conn.fetchval("SELECT trapper.orchestrator_ensure_partitions($1::regclass, "
                            "now() - interval '3 months')", EVENTS)
        for months in (3, 2, 0):
            await conn.execute(
                "INSERT INTO trapper.orchestrator_events (kind, payload, created_at) "
                "VALUES ('job_queued', '{}', now() - make_interval(months => $1))", months)
        # nothing is consumed yet: no month may go
        await conn.fetchval("SELECT count(*) FROM trapper.orchestrator_consume_events('w', 0)")
        assert await conn.fetchval("SELECT trapper.orchestrator_prune_events('w')") == 0
        # consumed means below the horizon, and a transaction anywhere on the server (another
        # session's CREATE DATABASE on a shared one) holds it back until it ends
        deadline = time.monotonic() + 30
        while not await conn.fetchval(
                "SELECT pass_complete AND horizon > (SELECT max(xid) "
                "FROM trapper.orchestrator_events) FROM trapper.orchestrator_consume_events('w')"):
            assert time.monotonic() < deadline, "the horizon never passed the events"
            await anyio.sleep(0.02)
        pruned = await conn.fetchval("SELECT trapper.orchestrator_prune_events('w')")
        parts = set(await _partitions(conn, EVENTS))
        assert f"orchestrator_events_p{_month(-3)}" not in parts
        assert f"orchestrator_events_p{_month(-2)}" not in parts
        assert f"orchestrator_events_p{_month(0)}" in parts
        assert pruned >= 2
        assert await conn.fetchval(
            "SELECT count(*) FROM trapper.orchestrator_events WHERE created_at > now() - "
            "interval '1 day' AND kind = 'job_queued'") == 1
    finally:
        await conn.close()


async def test_a_bad_events_retention_is_seven_days_with_a_warning(db_url: str) -> None:
    """events_retention_days = '7 days' stopped the listener with a cast error on every
    housekeeping tick (the same query the listener runs)."""
    conn = await asyncpg.connect(db_url)
    warnings: list[str] = []
    conn.add_log_listener(lambda _c, msg: warnings.append(str(msg)))
    try:
        await conn.execute(
            "INSERT INTO trapper.orchestrator_events (kind, payload, created_at) "
            "VALUES ('job_queued', '{}', now() - interval '3 days')")
        while not await conn.fetchval(
                "SELECT pass_complete FROM trapper.orchestrator_consume_events('w')"):
            pass
        with pytest.raises(asyncpg.InvalidParameterValueError, match="events_retention_days"):
            await conn.execute("UPDATE trapper.orchestrator_settings SET value = '7 days' "
                               "WHERE key = 'events_retention_days'")
        await _past_the_check(conn, "events_retention_days", "7 days")
        prune = sql.beside(str(Path(REPO) / "listener/events/service.py"), "listener")["housekeep"]
        assert await conn.fetchval(prune, "w") == 0      # 3 days old: within the default 7
        assert any("events_retention_days" in w and "7 days" in w for w in warnings)
        warnings.clear()
        await conn.execute("UPDATE trapper.orchestrator_settings SET value = '0.5' "
                           "WHERE key = 'events_retention_days'")
        await conn.fetchval(prune, "w")                  # a fraction of a day is a number
        assert warnings == []
    finally:
        await conn.close()


async def test_enriching_an_event_twice_adds_no_log_row(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("INSERT INTO trapper.orchestrator_events (kind, payload) VALUES "
                           "('job_queued', '{\"job_id\": null}')")
        first = 0
        while True:
            row = await conn.fetchrow("SELECT * FROM trapper.orchestrator_consume_events('a')")
            first += row["log_rows"]
            if row["pass_complete"]:
                break
        assert first >= 1
        # a second consumer starts from nothing and re-reads every event
        second = 0
        while True:
            row = await conn.fetchrow("SELECT * FROM trapper.orchestrator_consume_events('b')")
            second += row["log_rows"]
            if row["pass_complete"]:
                break
        assert second == 0
        dupes = await conn.fetchval(
            "SELECT count(*) FROM (SELECT event_id, action FROM trapper.orchestrator_job_log "
            "WHERE event_id IS NOT NULL GROUP BY 1, 2, coalesce(target_entity_id::text, '') "
            "HAVING count(*) > 1) d")
        assert dupes == 0
    finally:
        await conn.close()


@pytest.fixture
def previous_sql(tmp_path: Path) -> Iterator[Path]:
    """A copy of sql/ as it was before the partitions (without 018, 006 and their helpers)."""
    root = tmp_path / "sql"
    shutil.copytree(Path(REPO) / "sql", root)
    (root / "orchestrator" / "018_partitioned_log.sql").unlink()
    (root / "orchestrator" / "functions" / "partitions.sql").unlink()
    (root / "orchestrator" / "functions" / "log_readers.sql").unlink()
    (root / "triggers_shadow" / "006_partitioned_events.sql").unlink()
    for layer, names in (("orchestrator", ("018_partitioned_log.sql", "functions/partitions.sql",
                                           "functions/log_readers.sql")),
                         ("triggers_shadow", ("006_partitioned_events.sql",))):
        order = root / layer / "order.txt"
        lines = [line for line in order.read_text().splitlines() if line.strip() not in names]
        order.write_text("\n".join(lines) + "\n")
    # the prune of the time before partitions, which 006's helpers replace
    events = root / "triggers_shadow" / "functions" / "events.sql"
    text = events.read_text()
    start = text.index("-- Remove consumed events past their retention")
    end = text.index("-- What is waiting:")
    events.write_text(text[:start] + text[end:])
    yield root


async def test_upgrade_of_an_unpartitioned_log_keeps_every_row(
    core_db_url: str, previous_sql: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = await asyncpg.connect(core_db_url)
    try:
        monkeypatch.setenv("ATLAS_ORCH_SQL_DIR", str(previous_sql))
        await migrations.install(conn, "shadow", progress=False)
        assert await conn.fetchval(
            "SELECT relkind::text FROM pg_class WHERE oid = $1::regclass", LOG) == "r"
        # rows over 14 months, some with events (the listener's idempotency key), and a
        # burnt identity value, so the sequence must continue from where it was
        await conn.execute("""
            INSERT INTO trapper.orchestrator_job_log (action, source_system, source_table,
                source_record_id, staged_record_id, target_entity_id, decision_reason,
                decision_details, event_id, logged_at)
            SELECT (ARRAY['routed', 'skipped', 'entity_created'])[1 + i % 3], 'clinichq',
                   'cat_info', 'r' || i, i, CASE WHEN i % 3 = 2 THEN gen_random_uuid() END,
                   'row ' || i, jsonb_build_object('i', i),
                   CASE WHEN i % 2 = 0 THEN i END,
                   now() - make_interval(days => i % 420)
            FROM generate_series(1, 500) AS i""")
        await conn.execute("""
            INSERT INTO trapper.orchestrator_events (kind, payload, created_at)
            SELECT 'job_queued', jsonb_build_object('i', i), now() - make_interval(days => i)
            FROM generate_series(1, 50) AS i""")
        await conn.fetchval("SELECT nextval(pg_get_serial_sequence($1, 'log_seq'))", LOG)
        rows_before = await conn.fetch(f"SELECT l::text FROM {LOG} l ORDER BY log_seq")
        events_before = await conn.fetch(f"SELECT e::text FROM {EVENTS} e ORDER BY event_id")
        last_seq = await conn.fetchval(f"SELECT max(log_seq) FROM {LOG}")

        monkeypatch.delenv("ATLAS_ORCH_SQL_DIR")
        applied = await migrations.install(conn, "shadow", progress=False)
        assert {m.label for m in applied} >= {"orchestrator/018_partitioned_log.sql",
                                              "triggers_shadow/006_partitioned_events.sql"}
        assert await conn.fetchval(
            "SELECT relkind::text FROM pg_class WHERE oid = $1::regclass", LOG) == "p"
        assert await conn.fetch(f"SELECT l::text FROM {LOG} l ORDER BY log_seq") == rows_before
        assert await conn.fetch(
            f"SELECT e::text FROM {EVENTS} e ORDER BY event_id") == events_before
        parts = await _partitions(conn, LOG)
        assert f"orchestrator_job_log_p{_month(-13)}" in parts
        assert await conn.fetchval(
            "SELECT count(*) FROM trapper.orchestrator_job_log_pdefault") == 0
        new_seq = await _log_row(conn, 0, "after the upgrade")
        assert new_seq == last_seq + 2  # the burnt value stays burnt
        # the trigger came back, and the view that reads the log
        assert await conn.fetchval(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = $1::regclass "
            "AND tgname = 'orchestrator_job_log_insert'", LOG) == 1
        await conn.fetch("SELECT * FROM trapper.v_data_why_missing LIMIT 1")
        assert await migrations.verify(conn) == []
        dropped = await migrations.uninstall(conn)
        assert f"table {LOG}" in dropped
        left = await conn.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'trapper' AND c.relname LIKE 'orchestrator%'")
        assert left == 0
    finally:
        await conn.close()
        os.environ.pop("ATLAS_ORCH_SQL_DIR", None)
