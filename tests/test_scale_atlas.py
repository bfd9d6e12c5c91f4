"""At --scale atlas, after the full load, v_data_why_missing counts exactly the world's injected
gaps. The load takes minutes on 2 cores, so this runs in its own step: `make test-scale`."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import asyncpg
import pytest

from listener.ingest import staging as ingest
from listener.queue.worker import drain_queue
from synthetic.generate import generate
from tests.helpers import sql

pytestmark = [pytest.mark.scale, pytest.mark.timeout(1800)]


def test_why_missing_counts_the_atlas_world_s_gaps(db_url: str, tmp_path: Path) -> None:
    generate(tmp_path, scale="atlas", seed=1)
    expected = json.loads((tmp_path / "ground_truth" / "expected.json").read_text())

    async def load() -> None:
        conn = await asyncpg.connect(db_url)
        try:
            for e in ingest.read_manifest(tmp_path / "manifest.json"):
                await ingest.ingest_file(conn, e.path, e.source_system, e.source_table,
                                         fmt=e.fmt)
            await drain_queue(db_url, workers=2, job_batch=1)
            await conn.fetch("SELECT * FROM trapper.run_all_entity_linking()")
        finally:
            await conn.close()

    anyio.run(load)
    # the processing dashboard after the load: every row worked, and the live entity counts
    # within the precision / recall goals of the ground truth (cats and places exact)
    board = sql(db_url, "SELECT sum(staged) AS staged, sum(processed) AS processed, "
                        "sum(pending) AS pending, sum(failed) AS failed "
                        "FROM trapper.v_processing_dashboard")[0]
    assert board["processed"] == board["staged"] and board["pending"] == board["failed"] == 0
    live = {r["entity_type"]: r["live"] for r in sql(
        db_url, "SELECT entity_type, live FROM trapper.v_entity_counts")}
    assert expected["people"] * 0.99 <= live["person"] <= expected["people"] / 0.95
    assert (live["place"], live["cat"]) == (expected["places"], expected["cats"])
    counts = {r["issue_type"]: r["n"] for r in sql(
        db_url, "SELECT issue_type, count(*) AS n FROM trapper.v_data_why_missing GROUP BY 1")}
    assert expected["people_without_identifiers"] == 986
    assert counts.get("person_no_identifiers", 0) == 986
    assert counts.get("cat_no_microchip", 0) == expected["cats_without_microchip"] == 1608
    assert counts.get("place_no_geometry", 0) == expected["places_without_coordinates"] == 93
    assert counts.get("person_merge_chain", 0) == 0
    assert counts.get("place_merge_chain", 0) == 0
