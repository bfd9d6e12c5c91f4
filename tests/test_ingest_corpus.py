"""Ingest, end to end against PostgreSQL, on the bad-input corpus and on corrupted exports:
every file is completed or failed (never a traceback), and every row is accounted for —
rows read = staged new + duplicate + rejected + merged, each reject stored with its reason,
position and raw bytes, and a refused file stages nothing (docs/ingest.md, "Ingesting exports")."""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listener.ingest.staging import IngestFailed, ingest_file
from tests.conftest import run_cli
from tests.unit.test_readers import corrupt, corruption, csv_case, json_case, xlsx_case

CORPUS = Path(__file__).resolve().parent / "corpus"
CASES: list[dict[str, Any]] = tomllib.loads((CORPUS / "files.toml").read_text())["file"]
# the outcome each file has with the command's defaults (an entry with no options)
PLAIN = {c["name"]: c for c in CASES
         if not {"encoding", "records_key", "limits"} & set(c)}


async def _run_facts(url: str) -> dict[int, dict[str, Any]]:
    """Per ingest run: its row, the rejects stored for it (by code, with positions and raw
    bytes) and the rows it staged."""
    conn = await asyncpg.connect(url)
    try:
        runs = await conn.fetch("SELECT * FROM trapper.ingest_runs")
        rejects = await conn.fetch(
            "SELECT ingest_run_id, reason_code, reason, row_number, raw "
            "FROM trapper.ingest_rejects")
        staged = await conn.fetch("SELECT ingest_run_id, count(*) AS n "
                                  "FROM trapper.staged_records GROUP BY 1")
    finally:
        await conn.close()
    facts = {r["ingest_run_id"]: {"run": dict(r), "rejects": [], "staged": 0} for r in runs}
    for r in rejects:
        facts[r["ingest_run_id"]]["rejects"].append(dict(r))
    for s in staged:
        facts[s["ingest_run_id"]]["staged"] = s["n"]
    return facts


def _accounted(fact: dict[str, Any]) -> None:
    """The accounting rule, as stored, for one run."""
    run = fact["run"]
    if run["status"] == "completed":
        assert run["rows_read"] == (run["rows_new"] + run["rows_duplicate"]
                                    + run["rows_rejected"] + run["rows_merged"]), run
        assert len(fact["rejects"]) == run["rows_rejected"], run
        assert fact["staged"] == run["rows_new"], run
        for reject in fact["rejects"]:
            assert reject["reason"] and reject["row_number"] and reject["row_number"] >= 1
            assert isinstance(reject["raw"], bytes)
    else:
        assert run["status"] == "failed", run
        assert run["error"], run
        assert fact["staged"] == 0 and not fact["rejects"], run


def test_every_corpus_file_in_one_command(db_url: str) -> None:
    """All of the corpus in one `atlas-orch ingest`: each file stands alone, the refused
    ones fail with their reason, the others complete with every row accounted for."""
    files = sorted((CORPUS / "files").iterdir())
    result = run_cli("ingest", "test/corpus", *map(str, files), "--json",
                     env={"DATABASE_URL": db_url}, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 1, "some corpus files are refused: the exit status says so"
    report = json.loads(result.stdout)
    assert report["files"] == len(files) and len(report["runs"]) == len(files)
    facts = anyio.run(_run_facts, db_url)
    assert len(facts) == len(files)
    by_file = {f["run"]["source_file"]: f for f in facts.values()}
    for path in files:
        fact = by_file[path.name]
        _accounted(fact)
        case = PLAIN.get(path.name)
        if case is None:
            continue
        if "ingest" in case:   # the command reads it otherwise than the readers alone
            case = {k: v for k, v in case.items() if k != "refused"} | case["ingest"]
        if "refused" in case:
            assert fact["run"]["status"] == "failed", path.name
            assert case["refused"] in fact["run"]["error"], (path.name, fact["run"]["error"])
            continue
        assert fact["run"]["status"] == "completed", (path.name, fact["run"]["error"])
        assert fact["run"]["rows_read"] == case["rows"], path.name
        stored = Counter(r["reason_code"] for r in fact["rejects"])
        for code, n in case["rejects"].items():   # ingest adds missing_id, oversized
            assert stored[code] == n, (path.name, stored)
        positions = sorted(r["row_number"] for r in fact["rejects"]
                           if r["reason_code"] in case["rejects"])
        assert positions == sorted(case.get("reject_rows", positions)), path.name


def test_a_refused_file_is_one_line_and_exit_1(db_url: str) -> None:
    refused = [c["name"] for c in PLAIN.values() if "refused" in c and "ingest" not in c]
    assert len(refused) >= 10
    for name in refused[:: max(1, len(refused) // 5)]:
        result = run_cli("ingest", "test/corpus", str(CORPUS / "files" / name),
                         env={"DATABASE_URL": db_url})
        assert result.returncode == 1, name
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert name in lines[0]


# --- the property test, through PostgreSQL --------------------------------------------------

@pytest.fixture(scope="module")
def property_db(pg: Any) -> Any:
    name = pg.create("full")
    try:
        yield pg.url(name)
    finally:
        pg.drop(name)


async def _ingest_one(url: str, path: Path, fmt: str, encoding: str | None) -> int | None:
    conn = await asyncpg.connect(url)
    try:
        try:
            result = await ingest_file(conn, path, "prop", "exports", fmt=fmt,
                                       encoding=encoding, id_fields=("ID", "id"))
        except IngestFailed as failed:
            assert "\n" not in str(failed)
            return failed.result.ingest_run_id
        return result.ingest_run_id
    finally:
        await conn.close()


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupted_exports_are_accounted_for_in_the_database(
    data: st.DataObject, property_db: str, tmp_path: Path
) -> None:
    """A corrupted export (the readers' property test's corruptions) through ingest_file:
    nothing but IngestFailed comes out, and the run it leaves obeys the accounting rule.
    (The readers' own 2,000-example test covers the parsing without a database.)"""
    fmt = data.draw(st.sampled_from(["csv", "json", "xlsx"]))
    if fmt == "csv":
        original, fmt, option, _, _ = data.draw(csv_case())
    elif fmt == "json":
        original, fmt, option, _, _, _ = data.draw(json_case())
    else:
        original, fmt, option, _, _, _ = xlsx_case(data.draw)
    damaged = corrupt(original, data.draw(corruption(len(original))))
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(damaged)
    run_id = anyio.run(_ingest_one, property_db, path, fmt, option)
    assert run_id is not None
    fact = anyio.run(_run_facts, property_db)[run_id]
    _accounted(fact)


def test_a_refusal_after_several_batches_stages_nothing(db_url: str, tmp_path: Path) -> None:
    """Workbooks stream: ingest stages batch by batch as it reads, in one transaction, so a
    sheet refused at its last row (a value past --max-sheet-rows) rolls back every batch
    already written, and the run fails with the reason."""
    from listener.ingest.staging import COPY_CHUNK
    from tests.corpus import make_files as mk

    n = 2 * COPY_CHUNK + 10
    rows = [["ID", "Name"]] + [[f"R{i:06d}", "x"] for i in range(n)]
    far = n + 5
    body = mk.rows_xml(rows) + f'<row r="{far}">' + mk.cell(f"A{far}", "stray") + "</row>"
    path = tmp_path / "late_refusal.xlsx"
    path.write_bytes(mk.xlsx([("Sheet1", mk.sheet(body))]))
    env = {"DATABASE_URL": db_url}
    refused = run_cli("ingest", "test/late", str(path), "--max-sheet-rows", str(n + 1),
                      env=env)
    assert refused.returncode == 1, refused.stderr
    assert f"cell A{far}" in refused.stderr and "Traceback" not in refused.stderr
    facts = anyio.run(_run_facts, db_url)
    (fact,) = facts.values()
    assert fact["run"]["status"] == "failed" and fact["staged"] == 0 and not fact["rejects"]
    # the same file within the limit goes in whole
    taken = run_cli("ingest", "test/late", str(path), env=env)
    assert taken.returncode == 0, taken.stderr
    staged = [f["staged"] for f in anyio.run(_run_facts, db_url).values()]
    assert sorted(staged) == [0, n + 1]
