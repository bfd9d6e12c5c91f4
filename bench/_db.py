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
                       lanes: int = INGEST_LANES) -> None:
    """Every file of the manifest, and the source wired by SQL INSERTs alone (its SQL first),
    in ``lanes`` lanes (``ingest_files``, as ``atlas-orch ingest --jobs``); raises when a
    file did not go in."""
    manifest = json.loads((world / "manifest.json").read_text())
    plan = [PlannedFile(e.path, e.source_system, e.source_table, e.fmt)
            for e in ingest.read_manifest(world / "manifest.json")]
    for o in manifest.get("onboard", []):
        await conn.execute((world / o["sql"]).read_text())
        plan.append(PlannedFile(world / o["path"], o["source_system"], o["source_table"],
                                o["format"]))
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
