"""Benchmark plumbing: a fresh database per benchmark on DATABASE_URL's server (or the
embedded one), the schema installed, dropped at the end; and a cached Atlas-scale world."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

_HERE = str(Path(__file__).resolve().parent)
# bench/queue.py would shadow the standard library's queue module (which anyio's asyncio
# backend imports) while this folder is first on sys.path: move it to the end.
sys.path = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE] + [_HERE]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from listener.core import db  # noqa: E402
from listener.ingest import staging as ingest  # noqa: E402
from listener.ingest.batch import PlannedFile, ingest_files  # noqa: E402
from listener.queue.worker import WorkerStats, drain_queue  # noqa: E402
from listener.schema import migrations  # noqa: E402
from synthetic.generate import generate  # noqa: E402

# The decision log's monthly partitions back to $1 seconds ago (orchestrator 018), for the
# benchmarks that fill the log with rows from the past.
LOG_MONTHS = ("SELECT trapper.orchestrator_ensure_partitions('trapper.orchestrator_job_log', "
              "now() - make_interval(secs => $1))")

# Every index and key constraint of a partitioned table, the parent's and each partition's,
# name-for-name: the shape the product gave them (orchestrator_partition_by_month,
# orchestrator_ensure_partitions), compared by deferred_indexes before and after a fill.
INDEX_SHAPES = """
SELECT t.relid::regclass::text AS "table", c.relname::text AS name,
       regexp_replace(pg_get_indexdef(c.oid), '^(CREATE (UNIQUE )?INDEX) \\S+ ON (ONLY )?\\S+',
                      '\\1 ON') AS def,
       ix.indisvalid AS valid, pi.inhparent::regclass::text AS parent_index,
       (SELECT co.conname || ' ' || pg_get_constraintdef(co.oid) FROM pg_constraint co
        WHERE co.conindid = c.oid AND co.conrelid = t.relid) AS "constraint"
FROM pg_partition_tree($1::regclass) t
JOIN pg_index ix ON ix.indrelid = t.relid
JOIN pg_class c ON c.oid = ix.indexrelid
LEFT JOIN pg_inherits pi ON pi.inhrelid = c.oid
ORDER BY 1, 2
"""

# The whole load reads its files in two lanes (atlas-orch ingest --jobs 2): two processes,
# so that the largest export is not read alone while the other core waits.
INGEST_LANES = 2

WORLD_CACHE = Path(os.environ.get("ATLAS_ORCH_BENCH_WORLD", "/tmp/atlas-orch-bench-world"))


def atlas_world(seed: int = 1, scale: str = "atlas") -> Path:
    """The --scale ``scale`` world (atlas by default), generated once and reused."""
    folder = f"seed-{seed}" if scale == "atlas" else f"{scale}-seed-{seed}"
    marker = WORLD_CACHE / folder / "manifest.json"
    if not marker.exists():
        print(f"generating the {scale} world into {marker.parent} ...", file=sys.stderr)
        generate(marker.parent, scale=scale, seed=seed)
    return marker.parent


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@asynccontextmanager
async def fresh_database(mode: str | None = "with-core") -> AsyncIterator[str]:
    """A new database with ``mode`` installed; dropped on exit."""
    admin = db.resolve_url(None, announce=False)
    name = f"atlas_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    url = _with_db(admin, name)
    try:
        if mode:
            c = await asyncpg.connect(url)
            await migrations.install(c, mode, progress=False)
            await c.close()
        yield url
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.close()


def median(values: list[float]) -> float:
    s = sorted(values)
    return s[len(s) // 2]


async def ingest_world(conn: asyncpg.Connection, url: str, world: Path,
                       lanes: int = INGEST_LANES,
                       tables: set[tuple[str, str]] | None = None) -> None:
    """Every file of the manifest, and the source wired by SQL INSERTs alone (its SQL first),
    in ``lanes`` lanes (``ingest_files``, as ``atlas-orch ingest --jobs``); raises when a
    file did not go in. ``tables``: only the files of these (system, table) pairs."""
    manifest = json.loads((world / "manifest.json").read_text())
    plan = [PlannedFile(e.path, e.source_system, e.source_table, e.fmt)
            for e in ingest.read_manifest(world / "manifest.json")]
    for o in manifest.get("onboard", []):
        await conn.execute((world / o["sql"]).read_text())
        plan.append(PlannedFile(world / o["path"], o["source_system"], o["source_table"],
                                o["format"]))
    if tables is not None:
        plan = [f for f in plan if (f.source_system, f.source_table) in tables]
    report = await ingest_files(url, plan, jobs=lanes)
    if not report.ok:
        raise RuntimeError("; ".join(r.describe_failure() for r in report.failed))


async def load_world(conn: asyncpg.Connection, url: str, world: Path, workers: int,
                     lanes: int = INGEST_LANES) -> tuple[dict[str, float], WorkerStats]:
    """The whole load the benches time: ingest every file of the manifest (and the source
    wired by SQL INSERTs alone: split address and name columns) in ``lanes`` lanes, process
    with ``workers``, link. Returns the seconds of each phase and the queue's counts."""
    times: dict[str, float] = {}
    t = time.perf_counter()
    await ingest_world(conn, url, world, lanes)
    times["ingest"] = time.perf_counter() - t
    t = time.perf_counter()
    stats = await drain_queue(url, workers=workers, job_batch=1)
    times["process"] = time.perf_counter() - t
    t = time.perf_counter()
    await conn.fetch("SELECT * FROM trapper.run_all_entity_linking()")
    times["link"] = time.perf_counter() - t
    return times, stats


async def _index_shapes(conn: asyncpg.Connection, table: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in await conn.fetch(INDEX_SHAPES, table)]


async def _fresh_partition_shape(conn: asyncpg.Connection, table: str) -> list[tuple[object, ...]]:
    """The indexes and keys of one partition as orchestrator_ensure_partitions makes it now
    (a month past the last one, made in a transaction that is rolled back), without the
    partition's own name."""
    tr = conn.transaction()
    await tr.start()
    try:
        ahead = await conn.fetchval("SELECT trapper.orchestrator_partitions_ahead()")
        await conn.fetchval("SELECT trapper.orchestrator_ensure_partitions($1::regclass, NULL, $2)",
                            table, ahead + 1)
        newest = await conn.fetchval(
            "SELECT partition::text FROM trapper.orchestrator_partitions($1::regclass) "
            "WHERE range_to IS NOT NULL ORDER BY range_to DESC LIMIT 1", table)
        return _anonymous([s for s in await _index_shapes(conn, table) if s[0] == newest])
    finally:
        await tr.rollback()


def _anonymous(shapes: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    # a partition's index and key names embed its own name (cut to 63 bytes): compare the
    # definition and the parent index and constraint, not the name
    return sorted((s[2], s[3], s[4], str(s[5]).split(" ", 1)[-1] if s[5] else None)
                  for s in shapes)


@asynccontextmanager
async def deferred_indexes(conn: asyncpg.Connection, table: str,
                           maintenance_work_mem: str = "1GB") -> AsyncIterator[None]:
    """Fill a partitioned table without its indexes, then build them once per partition.

    Inserting into indexed partitions maintains five btrees row by row (~15,000 rows/s
    here); a heap without indexes takes rows several times faster, and a sorted build of
    each index afterwards costs less than the row-by-row one. On entry the parent's
    partitioned indexes and key constraints are dropped, which drops every partition's
    (docs "Table Partitioning", 5.11.2.2: a partitioned index's children go with it); on
    exit they are made again from their own definitions, in the order they were made, so
    PostgreSQL gives every partition the same indexes under the same names as before. The
    exit then asserts that: every index and key of the parent and of each partition is what
    it was, and each partition has what orchestrator_ensure_partitions gives a new one.

    The table stays a logged, ordinary partitioned table throughout (the readers must read
    what the product reads). maintenance_work_mem sorts a month's index in memory;
    max_parallel_maintenance_workers = 0 keeps the builds on this session's one core (the
    machine is shared). Only for benchmarks: the table has no keys while inside."""
    before = await _index_shapes(conn, table)
    parent = [s for s in before if s[0] == table]
    defs = await conn.fetch("""
        SELECT c.relname AS name,
               CASE WHEN co.oid IS NOT NULL
                    THEN format('ALTER TABLE %s DROP CONSTRAINT %I', $1::regclass, co.conname)
                    ELSE format('DROP INDEX %s', c.oid::regclass) END AS drop,
               CASE WHEN co.oid IS NOT NULL
                    THEN format('ALTER TABLE %s ADD CONSTRAINT %I %s', $1::regclass, co.conname,
                                pg_get_constraintdef(co.oid))
                    ELSE regexp_replace(pg_get_indexdef(c.oid), ' ON ONLY ', ' ON ') END AS ddl
        FROM pg_index ix JOIN pg_class c ON c.oid = ix.indexrelid
        LEFT JOIN pg_constraint co ON co.conindid = c.oid AND co.conrelid = ix.indrelid
        WHERE ix.indrelid = $1::regclass
        ORDER BY c.oid""", table)
    for d in defs:
        await conn.execute(d["drop"])
    yield
    await conn.execute(f"SET maintenance_work_mem = '{maintenance_work_mem}'")
    await conn.execute("SET max_parallel_maintenance_workers = 0")
    for d in defs:
        t = time.perf_counter()
        await conn.execute(d["ddl"])
        print(f"  built {d['name']} on every partition in {time.perf_counter() - t:.0f}s",
              file=sys.stderr)
    await conn.execute("RESET maintenance_work_mem")
    await conn.execute("RESET max_parallel_maintenance_workers")
    after = await _index_shapes(conn, table)
    assert after == before, "the partitions' indexes differ from the ones the product made"
    assert [s for s in after if s[0] == table] == parent
    fresh = await _fresh_partition_shape(conn, table)
    for part in {s[0] for s in after if s[0] != table}:
        shape = _anonymous([s for s in after if s[0] == part])
        assert shape == fresh, f"{part}'s indexes differ from a new partition's"
