"""Shadow installs onto hosts shaped otherwise than our engines: the least the orchestrator
reads (sql/orchestrator/requires.toml) and nothing more, ids of another type, a host's own
search_path, and the host's writes going through all the while."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import anyio
import asyncpg
import pytest

from listener.core.errors import MigrationError
from listener.schema import migrations
from tests.conftest import run_cli
from tests.helpers import execute, val
from tests.test_install import _snapshot

REQUIRES = Path(migrations.sql_root()) / "orchestrator" / "requires.toml"

# What a host's own engines do, written as they would: a staged row, a job queued, started
# and finished, two people of whom one is merged into the other, an identity decision.
HOST_WRITES = """
INSERT INTO trapper.staged_records (source_system, source_table, row_hash, payload)
VALUES ('clinichq', 'cat_info', 'h-host-1', '{"Number": "25-1"}');
INSERT INTO trapper.processing_jobs (source_system, source_table)
VALUES ('clinichq', 'cat_info');
UPDATE trapper.processing_jobs SET status = 'processing', started_at = now();
UPDATE trapper.processing_jobs SET status = 'completed', completed_at = now();
INSERT INTO trapper.sot_people (display_name) VALUES ('Kept'), ('Merged');
UPDATE trapper.sot_people
SET merged_into_person_id = (SELECT person_id FROM trapper.sot_people
                             WHERE display_name = 'Kept')
WHERE display_name = 'Merged';
INSERT INTO trapper.data_engine_match_decisions (source_system, source_table, source_row_id,
                                                 decision_type, decision_reason)
VALUES ('clinichq', 'owner_info', '25-1_2025-03-14', 'new_entity', 'no candidate');
"""


# What a host adds of its own: columns the engines do not have (one NOT NULL with a default),
# and its own triggers on the tables the orchestrator shadows, before and after ours.
HOST_EXTRAS = """
ALTER TABLE trapper.staged_records ADD COLUMN host_batch text NOT NULL DEFAULT 'nightly';
ALTER TABLE trapper.sot_people ADD COLUMN host_flag int;
ALTER TABLE trapper.places ADD COLUMN host_zone varchar(10) NOT NULL DEFAULT 'z1';
CREATE TABLE public.host_audit (n bigint);
CREATE FUNCTION public.host_stamp() RETURNS trigger LANGUAGE plpgsql AS
    $$BEGIN NEW.source_file := coalesce(NEW.source_file, 'host'); RETURN NEW; END$$;
CREATE TRIGGER aaa_host_stamp BEFORE INSERT ON trapper.staged_records
    FOR EACH ROW EXECUTE FUNCTION public.host_stamp();
CREATE FUNCTION public.host_audit() RETURNS trigger LANGUAGE plpgsql AS
    $$BEGIN INSERT INTO public.host_audit SELECT count(*) FROM new_rows; RETURN NULL; END$$;
CREATE TRIGGER zzz_host_audit AFTER INSERT ON trapper.staged_records
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.host_audit();
"""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _strip_to_requirements(url: str) -> None:
    """Make the engines a host's that has exactly what requires.toml lists: no record of
    atlas-orch, no view, no table, column or function of the engines beyond the list."""
    with REQUIRES.open("rb") as fh:
        req = tomllib.load(fh)
    tables = {t.split(".", 1)[1]: set(cols) for t, cols in req["tables"].items()}
    functions = {f.split(".", 1)[1] for f in req["functions"]}
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("DROP TABLE trapper.core_migrations")
            rels = await conn.fetch(
                "SELECT c.relname, c.relkind::text AS relkind FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'trapper' AND c.relkind IN ('v', 'm', 'r', 'p') "
                "AND NOT c.relispartition ORDER BY c.relkind DESC")
            for r in rels:
                kind = {"v": "VIEW", "m": "MATERIALIZED VIEW"}.get(r["relkind"], "TABLE")
                if kind != "TABLE" or r["relname"] not in tables:
                    await conn.execute(
                        f"DROP {kind} IF EXISTS trapper.{_quote(r['relname'])} CASCADE")
            for table, keep in tables.items():
                columns = await conn.fetch(
                    "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass "
                    "AND attnum > 0 AND NOT attisdropped", f"trapper.{table}")
                for c in columns:
                    if c["attname"] not in keep:  # a generated column may go with another
                        await conn.execute(f"ALTER TABLE trapper.{_quote(table)} DROP COLUMN "
                                           f"IF EXISTS {_quote(c['attname'])} CASCADE")
            procs = await conn.fetch(
                "SELECT p.oid::regprocedure::text AS sig, p.proname FROM pg_proc p "
                "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'trapper'")
            for p in procs:
                if p["proname"] not in functions:
                    await conn.execute(f"DROP FUNCTION IF EXISTS {p['sig']} CASCADE")
    finally:
        await conn.close()


@pytest.fixture
def bare_host_url(core_db_url: str) -> Iterator[str]:
    """The engines cut down to what requires.toml lists, as a host that never had atlas-orch."""
    anyio.run(_strip_to_requirements, core_db_url)
    yield core_db_url


def _ok(url: str, *args: str) -> str:
    result = run_cli(*args, env={"DATABASE_URL": url})
    assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def test_a_host_with_only_what_requires_lists_installs_works_and_uninstalls(
    bare_host_url: str,
) -> None:
    url = bare_host_url
    assert val(url, "SELECT count(*) FROM pg_attribute WHERE attrelid = "
                    "'trapper.processing_jobs'::regclass AND attname = 'worker_id'") == 0
    execute(url, HOST_EXTRAS)
    schema_before, rows_before = _snapshot(url)

    _ok(url, "install")
    # the host's writes go through, and every shadow trigger records its event: none reads
    # a column the list leaves out (the jobs' worker_id, counters, trigger_type ...)
    execute(url, HOST_WRITES)
    assert val(url, "SELECT count(*) FROM trapper.orchestrator_shadow_failures") == 0
    assert val(url, "SELECT source_file FROM trapper.staged_records") == "host"
    assert val(url, "SELECT sum(n) FROM public.host_audit") == 1
    kinds = {r for (r,) in _rows(url, "SELECT DISTINCT kind FROM trapper.orchestrator_events")}
    assert {"staged", "job_queued", "job_started", "job_completed", "entity_merged"} <= kinds
    _ok(url, "listen", "--once")
    for command in (("health",), ("why-missing",), ("anomalies",), ("review", "list"),
                    ("log",), ("sources",), ("backfill",), ("verify",)):
        _ok(url, *command)
    assert val(url, "SELECT count(*) FROM trapper.orchestrator_job_log "
                    "WHERE action = 'job_completed'") == 1

    execute(url, "UPDATE trapper.sot_people SET merged_into_person_id = NULL; "
                 "DELETE FROM trapper.sot_people; DELETE FROM trapper.processing_jobs; "
                 "DELETE FROM trapper.data_engine_match_decisions; "
                 "DELETE FROM trapper.staged_records; DELETE FROM public.host_audit")
    _ok(url, "uninstall")
    schema_after, rows_after = _snapshot(url)
    assert schema_after == schema_before
    assert rows_after == rows_before


def test_backfill_reads_a_host_without_the_engines_optional_job_columns(
    bare_host_url: str,
) -> None:
    url = bare_host_url
    execute(url, HOST_WRITES)            # years of it, before the orchestrator came
    _ok(url, "install", "--backfill")
    logged = {str(a): str(r) for a, r in _rows(
        url, "SELECT action, decision_reason FROM trapper.orchestrator_job_log "
             "WHERE action IN ('job_started', 'job_completed', 'entity_merged')")}
    assert logged["job_started"] == "job started by a worker (attempt 1)"
    assert logged["job_completed"] == "job completed: 0 processed, 0 failed"
    assert logged["entity_merged"].startswith("person merged into ")


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    async def go() -> list[tuple[object, ...]]:
        conn = await asyncpg.connect(url)
        try:
            return [tuple(r) for r in await conn.fetch(query)]
        finally:
            await conn.close()

    return anyio.run(go)


# Each a host drifted one way, and the line the install must refuse it with.
DRIFTS = [
    # the real system's V1 sot_people had no first or last name
    ("ALTER TABLE trapper.sot_people DROP COLUMN first_name CASCADE",
     "column trapper.sot_people.first_name"),
    # its staged_records had file_upload_id, not ingest runs
    ("ALTER TABLE trapper.staged_records DROP COLUMN ingest_run_id CASCADE",
     "column trapper.staged_records.ingest_run_id"),
    ("ALTER TABLE trapper.data_engine_processors DROP COLUMN config CASCADE",
     "column trapper.data_engine_processors.config"),
    ("ALTER TABLE trapper.data_engine_match_decisions DROP COLUMN decision_reason CASCADE",
     "column trapper.data_engine_match_decisions.decision_reason"),
    ("DROP FUNCTION trapper.get_canonical_person_id(uuid) CASCADE",
     "function trapper.get_canonical_person_id()"),
    ("DROP FUNCTION trapper.work_jobs CASCADE", "function trapper.work_jobs()"),
    ("ALTER TABLE trapper.staged_records ALTER COLUMN payload TYPE json",
     "column trapper.staged_records.payload of type jsonb (it is json)"),
    ("ALTER TABLE trapper.processing_jobs ALTER COLUMN job_id DROP DEFAULT, "
     "ALTER COLUMN job_id TYPE bigint USING 1",
     "column trapper.processing_jobs.job_id of type uuid (it is bigint)"),
    # a later schema's compatibility view in the table's place
    ("ALTER TABLE trapper.sot_people RENAME TO people_base; "
     "CREATE VIEW trapper.sot_people AS SELECT * FROM trapper.people_base",
     "table trapper.sot_people (it is a view; the shadow triggers need a table)"),
    # a status enum of the host's, without the statuses the orchestrator reads and sets
    ("ALTER TABLE trapper.processing_jobs DROP CONSTRAINT processing_jobs_status_check, "
     "ALTER COLUMN status DROP DEFAULT; "
     "DROP INDEX trapper.processing_jobs_claim_idx, trapper.processing_jobs_running_idx, "
     "trapper.processing_jobs_queued_source_idx; "
     "CREATE TYPE public.job_status AS ENUM ('queued', 'processing', 'completed', 'failed'); "
     "ALTER TABLE trapper.processing_jobs ALTER COLUMN status TYPE public.job_status "
     "USING status::public.job_status",
     "column trapper.processing_jobs.status of type text or character varying "
     "(it is job_status)"),
]


@pytest.mark.anyio
async def test_a_host_drifted_one_way_is_refused_naming_it(bare_host_url: str) -> None:
    conn = await asyncpg.connect(bare_host_url)
    try:
        for drift, named in DRIFTS:
            tx = conn.transaction()
            await tx.start()
            try:
                await conn.execute(drift)
                with pytest.raises(MigrationError) as err:
                    await migrations.install(conn, "shadow", progress=False)
                assert named in str(err.value), drift
                assert "lacks what the orchestrator reads" in str(err.value), drift
            finally:
                await tx.rollback()
        # widened the other way round: varchar(n) for text, int for bigint ids install
        await conn.execute(
            "ALTER TABLE trapper.staged_records ALTER COLUMN source_system TYPE varchar(50), "
            "ALTER COLUMN id TYPE integer; "
            "ALTER TABLE trapper.processing_jobs ALTER COLUMN attempt_count TYPE bigint; "
            "ALTER TABLE trapper.data_engine_match_decisions "
            "ALTER COLUMN decision_id TYPE integer")
        await migrations.install(conn, "shadow", progress=False)
    finally:
        await conn.close()


def test_a_host_whose_search_path_has_trapper_after_public(core_db_url: str) -> None:
    """Views the installer makes again (the partitioned decision log's readers) land in
    trapper, not in the schema ahead of it on the host's search_path."""
    url = core_db_url
    execute(url, "DROP TABLE trapper.core_migrations; "
                 "CREATE TABLE public.staged_records (id int, payload jsonb); "
                 "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = public, "
                 "trapper', current_database()); END $$")
    schema_before, rows_before = _snapshot(url)
    _ok(url, "install")
    outside = _rows(url, "SELECT object_identity FROM trapper.orchestrator_objects "
                         "WHERE object_identity NOT LIKE 'trapper.%' "
                         "AND object_identity NOT LIKE '% on trapper.%'")
    assert outside == []
    assert val(url, "SELECT to_regclass('public.v_data_why_missing')") is None
    execute(url, "INSERT INTO trapper.staged_records (source_system, source_table, row_hash, "
                 "payload) VALUES ('clinichq', 'cat_info', 'h1', '{}')")
    assert val(url, "SELECT count(*) FROM public.staged_records") == 0
    _ok(url, "why-missing")
    execute(url, "DELETE FROM trapper.staged_records")
    _ok(url, "uninstall")
    assert _snapshot(url) == (schema_before, rows_before)
