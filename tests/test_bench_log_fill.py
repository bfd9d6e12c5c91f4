"""bench/_db.py's deferred_indexes, which bench/log_scale.py and bench/health.py fill the
partitioned decision log through: inside it the log's partitions have no indexes; after it
every partition has exactly the indexes and keys the product gave it (orchestrator 018,
orchestrator_ensure_partitions), so the readers the benches time plan and run as in
production; and a partition whose indexes came out different is refused."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import asyncpg
import pytest

pytestmark = pytest.mark.anyio

BENCH = Path(__file__).resolve().parents[1] / "bench"
LOG = "trapper.orchestrator_job_log"
FILL = f"""
INSERT INTO {LOG} (action, source_system, source_table, source_record_id, staged_record_id,
    target_entity_id, decision_reason, logged_at)
SELECT 'routed', 'bench', 'rows', 'r' || i, i, md5(i::text)::uuid, 'x',
       now() - make_interval(days => i % 200)
FROM generate_series(1, 30000) i
"""


@pytest.fixture(scope="module")
def bench_db() -> Iterator[ModuleType]:
    # appended, not first: bench/queue.py would shadow the standard library's queue
    sys.path.append(str(BENCH))
    try:
        yield importlib.import_module("_db")
    finally:
        sys.path[:] = [p for p in sys.path if p != str(BENCH)]


async def _index_count(conn: asyncpg.Connection) -> int:
    n: int = await conn.fetchval(
        "SELECT count(*) FROM pg_partition_tree($1::regclass) t "
        "JOIN pg_index ix ON ix.indrelid = t.relid", LOG)
    return n


async def test_the_log_is_filled_without_indexes_and_ends_as_the_product_made_it(
    db_url: str, bench_db: ModuleType
) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await conn.fetchval(bench_db.LOG_MONTHS, 250 * 86400.0)
        shapes = await conn.fetch(bench_db.INDEX_SHAPES, LOG)
        parts = await conn.fetchval(
            "SELECT count(*) FROM trapper.orchestrator_partitions($1::regclass)", LOG)
        # seven keys and indexes on the parent and on each of ~12 partitions
        assert len(shapes) == 7 * (parts + 1)
        async with bench_db.deferred_indexes(conn, LOG):
            assert await _index_count(conn) == 0
            await conn.execute(FILL)
        assert await conn.fetch(bench_db.INDEX_SHAPES, LOG) == shapes
        # the keys hold again, and the readers find the rows through the months' indexes
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(f"INSERT INTO {LOG} (log_id, action, source_system, "
                               "source_table, logged_at) SELECT log_id, action, source_system, "
                               f"source_table, logged_at FROM {LOG} LIMIT 1")
        rows = await conn.fetch("SELECT * FROM trapper.orchestrator_record_log("
                                "'bench', 'rows', 'r42', '{}')")
        assert [r["staged_record_id"] for r in rows] == [42]
        await conn.execute(f"ANALYZE {LOG}")
        plan = "\n".join(r[0] for r in await conn.fetch(
            "EXPLAIN SELECT * FROM trapper.orchestrator_job_log "
            "WHERE target_entity_id = md5('42')::uuid"))
        assert "_target_entity_id_idx" in plan
    finally:
        await conn.close()


async def test_a_partition_whose_indexes_differ_is_refused(
    db_url: str, bench_db: ModuleType
) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        part = await conn.fetchval(
            "SELECT partition::text FROM trapper.orchestrator_partitions($1::regclass) "
            "WHERE range_from IS NOT NULL LIMIT 1", LOG)
        with pytest.raises(AssertionError, match="differ"):
            async with bench_db.deferred_indexes(conn, LOG):
                await conn.execute(FILL)
                # an index of the partition's own, which no partition the product makes has
                await conn.execute(f"CREATE INDEX ON {part} (decision_reason)")
    finally:
        await conn.close()
