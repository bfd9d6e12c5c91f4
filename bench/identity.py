"""The whole --scale atlas load, end to end, scored against the ground truth.

    .venv/bin/python bench/identity.py [--workers 2] [--scale atlas|atlas2|atlas3|atlas10]

Ingests every file, processes until the queue is empty, links, then scores: person
pairwise precision (goal >= 0.99) and recall (>= 0.95), place pairwise F1 (>= 0.98), cats
exact on microchip, and the gap counts of expected.json. Prints the wall time of each phase
(goal for the whole load <= 120 s on this machine at --scale atlas).

Issue 20: it also prints the per-row cost (whole load / staged rows) and keeps it in
``<world cache>/identity-per-row.json``; once the atlas world and a larger one have both run,
it prints the larger one's ratio to atlas's (goal for atlas10: <= 1.25). The two runs are
minutes apart on a shared machine: the load average at each is printed and stored with it.

``--profile`` (issue 20: what grows faster than the data) turns on track_functions for the
load's database and prints, per staged row, the self time of the busiest functions and the
rows read by sequential scans of the busiest tables; kept in the same JSON, so a 1× and a
2×-3× run print each one's growth per row (1.0 = linear; a lookup without an index shows
as a per-row figure that grows with the scale).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from collections import Counter
from pathlib import Path

import anyio
import asyncpg
import splink_peer
from _db import WORLD_CACHE, atlas_world, fresh_database, ingest_world, load_world

from listener.queue.worker import drain_queue
from synthetic.scoring import pairwise

ENTITY_OF = {"people": "person", "places": "place", "cats": "cat"}
CANONICAL = {
    "person": "trapper.get_canonical_person_id(entity_id)",
    "place": "trapper.get_canonical_place_id(entity_id)",
    "cat": "trapper.get_canonical_cat_id(entity_id)",
}


async def predicted(conn: asyncpg.Connection, entity: str) -> dict[tuple[str, str, str], str]:
    rows = await conn.fetch(
        f"SELECT DISTINCT ON (source_system, source_table, source_row_id) source_system, "
        f"source_table, source_row_id, {CANONICAL[entity]}::text AS eid "
        f"FROM trapper.entity_sources WHERE entity_type = $1 "
        f"ORDER BY source_system, source_table, source_row_id, entity_source_id", entity)
    return {(r[0], r[1], r[2]): r[3] for r in rows}


async def review_ceiling(conn: asyncpg.Connection, truth: dict[tuple[str, str, str], str],
                         pred: dict[tuple[str, str, str], str]) -> tuple[int, float, float]:
    """Issue 18 item 5: the review_pending decisions, and person precision and recall if a
    reviewer resolved each by the ground truth: merge the new person into its candidate when
    the record's true id is the candidate's (the most common true id of its rows), else keep
    them separate."""
    rows = await conn.fetch("""
        SELECT source_system, source_table, source_row_id,
               trapper.get_canonical_person_id(resulting_person_id)::text,
               trapper.get_canonical_person_id(top_candidate_id)::text
        FROM trapper.data_engine_match_decisions
        WHERE decision_type = 'review_pending' AND top_candidate_id IS NOT NULL""")
    true_of: dict[str, Counter[str]] = {}
    for key, eid in pred.items():
        if key in truth:
            true_of.setdefault(eid, Counter())[truth[key]] += 1
    into: dict[str, str] = {}

    def find(e: str) -> str:
        while e in into:
            e = into[e]
        return e

    for system, table, row_id, new, cand in rows:
        said = true_of.get(cand)
        if said and truth.get((system, table, row_id)) == said.most_common(1)[0][0]:
            a, b = find(new), find(cand)
            if a != b:
                into[a] = b
    precision, recall, _ = pairwise(truth, {k: find(v) for k, v in pred.items()})
    return len(rows), precision, recall


async def main(workers: int, scale: str, profile: bool, peer: bool = True) -> None:
    world = atlas_world(scale=scale)
    expected = json.loads((world / "ground_truth" / "expected.json").read_text())
    people_truth: dict[tuple[str, str, str], str] = {}
    peer_s: float | None = None
    async with fresh_database("with-core") as url:
        conn = await asyncpg.connect(url)
        if profile:
            # Database-wide, so the workers' own connections count their functions too.
            await conn.execute(f"ALTER DATABASE {url.rsplit('/', 1)[1]} "
                               "SET track_functions = 'all'")
            await conn.close()
            conn = await asyncpg.connect(url)
        times, stats = await load_world(conn, url, world, workers)
        print(f"records processed {stats.records_processed:,}, failed {stats.records_failed:,}")
        for name in ("people", "places", "cats"):
            truth: dict[tuple[str, str, str], str] = {}
            for prefix in ("", "onboarded_"):
                path = world / "ground_truth" / f"{prefix}{name}.csv"
                if not path.exists():
                    continue
                with path.open() as fh:
                    for r in csv.DictReader(fh):
                        truth[(r["source_system"], r["source_table"], r["source_row_id"])] = \
                            r["true_id"]
            pred = await predicted(conn, ENTITY_OF[name])
            precision, recall, unmatched = pairwise(truth, pred)
            f1 = splink_peer.f1(precision, recall)
            clusters = len({v for k, v in pred.items() if k in truth})
            people_truth = truth if name == "people" else people_truth
            print(f"{name:7s} pairwise precision {precision:.4f} recall {recall:.4f} "
                  f"F1 {f1:.4f}; predicted entities {clusters:,} vs true "
                  f"{expected[name]:,}; rows without an entity {unmatched:,}")
            if name == "people":
                pending, r_precision, r_recall = await review_ceiling(conn, truth, pred)
                print(f"people  review_pending {pending:,}; resolved by the truth: precision "
                      f"{r_precision:.4f} recall {r_recall:.4f} (the ceiling of review)")
        gaps = await conn.fetchrow("""
            SELECT (SELECT count(*) FROM trapper.sot_people p WHERE merged_into_person_id IS NULL
                      AND NOT EXISTS (SELECT 1 FROM trapper.person_identifiers i
                                      WHERE i.person_id = p.person_id)) AS people_no_id,
                   (SELECT count(*) FROM trapper.sot_cats c WHERE merged_into_cat_id IS NULL
                      AND NOT EXISTS (SELECT 1 FROM trapper.cat_identifiers i
                                      WHERE i.cat_id = c.cat_id AND id_type = 'microchip'))
                       AS cats_no_chip,
                   (SELECT count(*) FROM trapper.places WHERE merged_into_place_id IS NULL
                      AND location IS NULL) AS places_no_location""")
        print(f"gaps: people without identifiers {gaps['people_no_id']} (expected "
              f"{expected['people_without_identifiers']}), cats without microchip "
              f"{gaps['cats_no_chip']} ({expected['cats_without_microchip']}), places "
              f"without coordinates {gaps['places_no_location']} "
              f"({expected['places_without_coordinates']})")
        profiled = await profile_of(conn) if profile else None
        if peer:   # Splink 5 on the same person records, scored the same way (issue 17)
            peer_s = await splink_peer.report(conn, people_truth, pairwise, times)
        await conn.close()
    if peer:
        await people_only(world, people_truth, workers, peer_s)
        await engine_alone(world, people_truth, workers, peer_s)
    total = sum(times.values())
    print("phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in times.items())
          + f"; whole load {total:.1f}s (goal at atlas <= 120 s)")
    per_row(scale, total, expected, times, profiled)


def against_peer(seconds: float, peer_s: float | None) -> str:
    """Our time as a ratio of Splink's in the same run (issue 17: "in less time")."""
    return f" ({seconds / peer_s:.2f}x Splink's time)" if peer_s else ""


async def people_only(world: Path, truth: dict[tuple[str, str, str], str],
                      workers: int, peer_s: float | None = None) -> None:
    """Our engines on the records Splink read, and nothing else (issue 17: "in less time"):
    a fresh database given only the files of the tables that make people, processed by
    ``workers``. Those tables' processors also make the places and cats their rows carry
    (a PetLink pet row is a cat too), so this is an upper bound of our time on people."""
    tables = {(k[0], k[1]) for k in truth}
    async with fresh_database("with-core") as url:
        conn = await asyncpg.connect(url)
        await ingest_world(conn, url, world, tables=tables)
        t = time.perf_counter()
        stats = await drain_queue(url, workers=workers, job_batch=1)
        seconds = time.perf_counter() - t
        pred = await predicted(conn, "person")
        await conn.close()
    precision, recall, _ = pairwise(truth, pred)
    f1 = splink_peer.f1(precision, recall)
    print(f"peer    ours on the same records alone: {seconds:.1f}s"
          f"{against_peer(seconds, peer_s)} with {workers} workers "
          f"({stats.records_processed:,} records of the {len(tables)} tables Splink read; "
          f"their processors also make the places and cats those rows carry); people "
          f"precision {precision:.4f} recall {recall:.4f} F1 {f1:.4f}")


# The person entry point over a batch of records in one statement, in the arrays' order (a
# function scan returns its rows in order, and each call sees the people the calls before it
# made, as a processor's batch does).
ENGINE_BATCH = """
SELECT count(trapper.find_or_create_person(x.email, x.phone, x.first, x.last, x.address,
                                           x.source, x.id, x.cell, x.name_only))
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::bigint[], $8::text[], $9::boolean[])
     AS x (email, phone, first, last, address, source, id, cell, name_only)
"""

# The tables whose processor may make a person of a name alone (processors.sql).
NAME_ONLY = {("atlas_ui", "manual_entry")}


async def engine_alone(world: Path, truth: dict[tuple[str, str, str], str], workers: int,
                       peer_s: float | None = None, batch: int = 100) -> None:
    """Like for like with Splink (issue 17): our identity engine alone on the records Splink
    read, given the same columns, as typed (``splink_peer.engine_input``), through its entry
    point ``trapper.find_or_create_person``, by ``workers`` connections taking ``batch``
    records a transaction in staged order. Every decision is still written with its evidence
    and every person with their identifiers and sources; no place, cat, request or link is
    made, as Splink makes none. Timed from the first batch to the last."""
    tables = {(k[0], k[1]) for k in truth}
    async with fresh_database("with-core") as url:
        conn = await asyncpg.connect(url)
        await ingest_world(conn, url, world, tables=tables)
        rows = await conn.fetch("""
            SELECT * FROM (
                SELECT DISTINCT ON (source_system, source_table, source_row_id)
                       id, source_system, source_table, payload::text AS payload
                FROM trapper.staged_records
                ORDER BY source_system, source_table, source_row_id, id) first_versions
            ORDER BY id""")
        # each record as ENGINE_BATCH's columns, in their order
        inputs: list[tuple[object, ...]] = []
        for r in rows:
            key = (r["source_system"], r["source_table"])
            payload = json.loads(r["payload"])
            f = splink_peer.SOURCES.get(key) or splink_peer.guess_fields(payload.keys())
            x = splink_peer.engine_input(payload, f)
            inputs.append((x["email"], x["phone"], x["first"], x["last"], x["address"],
                           r["source_system"], r["id"], x["cell"], key in NAME_ONLY))
        # The records in contiguous parts, in staged order, each connection taking the next
        # part when done with one (as a batch job is split): taking the next batch instead,
        # the two connections held one person's records at once, and one waited for the
        # other's transaction to end on that person's identifier locks (then decided a
        # match). Four parts a connection: halves left one connection idle at the end.
        n, k = len(inputs), 4 * workers
        parts = [inputs[i * n // k:(i + 1) * n // k] for i in range(k)]
        retried = 0

        async def worker() -> None:
            nonlocal retried
            c = await asyncpg.connect(url)
            try:
                while parts:
                    part = parts.pop(0)
                    for at in range(0, len(part), batch):
                        args = [list(column) for column in zip(*part[at:at + batch], strict=True)]
                        while True:
                            try:
                                async with c.transaction():
                                    await c.fetchval(ENGINE_BATCH, *args)
                                break
                            except asyncpg.DeadlockDetectedError:
                                retried += 1   # the other connection's keys: again
            finally:
                await c.close()

        t = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(workers):
                tg.start_soon(worker)
        seconds = time.perf_counter() - t
        pred = await predicted(conn, "person")
        await conn.close()
    precision, recall, _ = pairwise(truth, pred)
    f1 = splink_peer.f1(precision, recall)
    print(f"peer    like for like: our identity engine alone on the same records and columns "
          f"(find_or_create_person, {workers} connections, contiguous parts, {batch} records a "
          f"transaction): "
          f"{seconds:.1f}s{against_peer(seconds, peer_s)} for {len(inputs):,} records "
          f"({retried} batches retried after a "
          f"deadlock); people precision {precision:.4f} recall {recall:.4f} F1 {f1:.4f}")


async def profile_of(conn: asyncpg.Connection) -> dict[str, dict[str, float]]:
    """Self time (ms) of every function called and rows read by sequential scans of every
    table, after the load (the workers have exited, so their statistics are flushed)."""
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    funcs = await conn.fetch("""
        SELECT schemaname || '.' || funcname AS name, sum(self_time) AS self_ms,
               sum(calls) AS calls
        FROM pg_stat_user_functions GROUP BY 1""")
    tables = await conn.fetch("""
        SELECT schemaname || '.' || relname AS name, seq_scan, seq_tup_read, idx_scan
        FROM pg_stat_user_tables WHERE seq_tup_read > 0""")
    return {"self_ms": {r["name"]: float(r["self_ms"]) for r in funcs},
            "calls": {r["name"]: float(r["calls"]) for r in funcs},
            "seq_tup_read": {r["name"]: float(r["seq_tup_read"]) for r in tables},
            "seq_scan": {r["name"]: float(r["seq_scan"]) for r in tables}}


def print_profile(scale: str, rows: int, prof: dict[str, dict[str, float]],
                  base: dict[str, object] | None) -> None:
    """The busiest functions and sequentially read tables, per row, and their growth."""
    brows = int(str(base["rows"])) if base else 0
    bprof: dict[str, dict[str, float]] = dict(base.get("profile") or {}) if base else {}
    for key, unit, top in (("self_ms", "ms self time", 25), ("seq_tup_read", "rows seq-read",
                                                               15)):
        print(f"top {top} by {unit} per staged row ({scale}"
              + (", growth per row vs atlas" if bprof else "") + "):")
        items = sorted(prof[key].items(), key=lambda kv: -kv[1])[:top]
        for name, value in items:
            line = f"  {name:60s} {value / rows:10.5f}"
            if key == "self_ms":
                line += f"  calls/row {prof['calls'].get(name, 0) / rows:7.3f}"
            if bprof and brows:
                was = bprof.get(key, {}).get(name)
                line += (f"  x{(value / rows) / (was / brows):5.2f}" if was else "  (new)")
            print(line)


def per_row(scale: str, total: float, expected: dict[str, object],
            times: dict[str, float], profiled: dict[str, dict[str, float]] | None) -> None:
    """Print this run's per-row cost and, if the other scale has run, the ratio (issue 20)."""
    rows = int(str(expected["staged_rows"])) + sum(
        int(v) for v in dict(expected.get("onboarded_rows") or {}).values())
    load = os.getloadavg()[0]
    cost_ms = total / rows * 1000
    print(f"per-row cost {cost_ms:.3f} ms over {rows:,} staged rows "
          f"(load average {load:.1f} on {os.cpu_count()} cores: absolute times are noisy)")
    store = WORLD_CACHE / "identity-per-row.json"
    seen = json.loads(store.read_text()) if store.exists() else {}
    seen[scale] = {"ms_per_row": cost_ms, "rows": rows, "seconds": round(total, 1),
                   "phases": {k: round(v, 1) for k, v in times.items()},
                   "loadavg": round(load, 1), "at": time.strftime("%Y-%m-%d %H:%M")}
    if profiled:
        seen[scale]["profile"] = profiled
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(seen, indent=1) + "\n")
    base = seen.get("atlas")
    if scale != "atlas" and base:
        print(f"per-row cost {scale} / atlas: {cost_ms / base['ms_per_row']:.2f}x "
              f"(atlas {base['ms_per_row']:.3f} ms/row at load {base['loadavg']}, "
              f"{base['at']}; goal <= 1.25x)")
    elif scale != "atlas":
        print("run it with --scale atlas too for the ratio (goal <= 1.25x)")
    if profiled:
        print_profile(scale, rows, profiled, base if scale != "atlas" else None)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scale", choices=("atlas", "atlas2", "atlas3", "atlas10"),
                    default="atlas")
    ap.add_argument("--profile", action="store_true",
                    help="per-function self time and sequential reads per row (issue 20)")
    ap.add_argument("--no-peer", action="store_true", help="skip the Splink peer")
    args = ap.parse_args()
    anyio.run(main, args.workers, args.scale, args.profile, not args.no_peer)
