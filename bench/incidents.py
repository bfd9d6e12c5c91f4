"""Incidents on a replayed history (issue 19, item 5): 90 days of ingests of the registered
sources (daily, weekly and monthly, with noise, quiet weekends and public holidays), 20
injected incidents of known kinds at known times, replayed through the SQL detectors and the
alert planner on a simulated clock (orchestrator_detect_anomalies_at(p_now),
orchestrator_plan_alerts_at(p_routes, p_now)), one pass per detection interval.

    .venv/bin/python bench/incidents.py [--interval-minutes 60] [--seed 7] [--json] [--per-pass]
                                        [--set volume_accept_batches=0 ...]

The passes between two arrivals of data run in one call (bench/incidents.sql), still one
detection pass and one planner pass per interval, in order; --per-pass makes each statement
its own round trip, as before (the same figures).

Prints: incidents caught (goal: all 20, each within one detection interval of its data),
false alarms per source per month (goal <= 1) and Slack messages per incident (goal <= 2:
opened and resolved). The figures are counts, not times: they do not depend on the machine.
The wall time is printed as a ratio to one pass of the detectors on the empty database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import asyncpg
from _db import fresh_database

from listener.core import sql

QUERIES = sql.beside(__file__, "incidents")

UTC = dt.UTC
START = dt.datetime(2026, 6, 1, tzinfo=UTC)     # a Monday
DAYS = 90
# US public holidays in the window: daily syncs bring a Sunday-sized batch
HOLIDAYS = {dt.date(2026, 6, 19): "Juneteenth", dt.date(2026, 7, 3): "Independence Day"}

DAILY = [("airtable", "trapping_requests", 400), ("airtable", "appointment_requests", 250),
         ("airtable", "trappers", 60), ("shelterluv", "animals", 900),
         ("shelterluv", "people", 700), ("shelterluv", "outcomes", 300)]
WEEKLY = [("clinichq", "appointment_info", 2500), ("clinichq", "cat_info", 2000),
          ("clinichq", "owner_info", 1800), ("volunteerhub", "users", 120)]
MONTHLY = [("petlink", "pets", 12000), ("petlink", "owners", 9000)]
ROUTES = json.dumps([{"name": "default"}])


@dataclass
class Injected:
    n: int
    kind: str                  # what was injected
    source: tuple[str, str]
    at: dt.datetime            # when its data is there for a detector to see
    expect: set[str]           # the anomaly kinds its incident should hold
    caught_at: dt.datetime | None = None
    incident: int | None = None
    kinds: list[str] = field(default_factory=list)


@dataclass
class Run:
    source: tuple[str, str]
    at: dt.datetime
    rows: int
    status: str = "completed"
    drift: bool = False


# which day each kind of incident goes to, per source (days from START, weekdays, after the
# baselines have four weeks of history)
DROPS = {("airtable", "trapping_requests"): 38, ("shelterluv", "animals"): 45,
         ("shelterluv", "outcomes"): 58, ("airtable", "appointment_requests"): 66,
         ("clinichq", "cat_info"): 49, ("clinichq", "owner_info"): 70}
DRIFTS = {("shelterluv", "people"): 44, ("airtable", "trappers"): 52,
          ("airtable", "trapping_requests"): 74, ("shelterluv", "animals"): 81}
FAILS = {("shelterluv", "outcomes"): 36, ("airtable", "appointment_requests"): 80,
         ("volunteerhub", "users"): 63}
SILENT_WEEKLY = {("clinichq", "appointment_info"): 42, ("volunteerhub", "users"): 77}
SILENT_MONTHLY = {("petlink", "owners")}
BURSTS = {("shelterluv", "people"): 61, ("airtable", "trappers"): 73,
          ("clinichq", "cat_info"): 30, ("shelterluv", "animals"): 25}


@dataclass
class World:
    rnd: random.Random
    runs: list[Run] = field(default_factory=list)
    injected: list[Injected] = field(default_factory=list)
    bursts: list[tuple[Any, ...]] = field(default_factory=list)

    def noisy(self, base: float) -> int:
        return max(0, round(self.rnd.gauss(base, base * 0.06)))

    def inject(self, kind: str, src: tuple[str, str], at: dt.datetime,
               expect: set[str]) -> None:
        self.injected.append(Injected(0, kind, src, at, expect))


def _daily(w: World) -> None:
    for system, table, base in DAILY:
        src = (system, table)
        for d in range(DAYS):
            day = START + dt.timedelta(days=d)
            at = day + dt.timedelta(hours=5, minutes=w.rnd.randint(0, 50))
            weekend = day.isoweekday() >= 6 or day.date() in HOLIDAYS
            rows = w.noisy(base * (0.3 if weekend else 1.0))
            if DROPS.get(src) == d:
                rows = round(rows * 0.25)
                w.inject("volume drop", src, at, {"batch_volume"})
            drift = DRIFTS.get(src) == d
            if drift:
                rows = round(rows * 0.2)
                # below the floor (50 rows) a small source's drop is drift alone
                w.inject("volume drop with schema drift", src, at,
                         {"batch_volume", "schema_drift"} if base >= 100 else {"schema_drift"})
            if FAILS.get(src) == d:
                w.runs.append(Run(src, at, rows, "failed"))
                w.inject("failed ingest", src, at, {"ingest_failed"})
                continue        # the day's data comes with tomorrow's batch
            w.runs.append(Run(src, at, rows, drift=drift))


def _weekly(w: World) -> None:
    for system, table, base in WEEKLY:
        src = (system, table)
        last: dt.datetime | None = None
        for d in range(2, DAYS, 7):                                  # Wednesdays
            at = START + dt.timedelta(days=d, hours=7, minutes=w.rnd.randint(0, 50))
            rows = w.noisy(base)
            if abs(SILENT_WEEKLY.get(src, -99) - d) <= 3 and last is not None:
                w.inject("missed weekly export", src, last + dt.timedelta(days=10),
                         {"source_silent"})
                continue
            if abs(DROPS.get(src, -99) - d) <= 3:
                rows = round(rows * 0.3)
                w.inject("volume drop", src, at, {"batch_volume"})
            if abs(FAILS.get(src, -99) - d) <= 3:
                w.runs.append(Run(src, at, rows, "failed"))
                w.inject("failed ingest", src, at, {"ingest_failed"})
                at += dt.timedelta(days=1)                           # re-run the next day
            w.runs.append(Run(src, at, rows))
            last = at


def _monthly(w: World) -> None:
    for system, table, base in MONTHLY:
        src = (system, table)
        last: dt.datetime | None = None
        for i, month in enumerate((6, 7, 8)):
            day = dt.datetime(2026, month, 1, tzinfo=UTC)
            while day.isoweekday() >= 6:                             # first working day
                day += dt.timedelta(days=1)
            at = day + dt.timedelta(hours=9)
            if src in SILENT_MONTHLY and i == 1 and last is not None:
                w.inject("missed monthly export", src, last + dt.timedelta(days=40),
                         {"source_silent"})
                continue
            w.runs.append(Run(src, at, w.noisy(base)))
            last = at


def schedule(seed: int) -> tuple[list[Run], list[Injected], list[tuple[Any, ...]]]:
    """The runs of 90 days and the 20 incidents in them; also the error bursts."""
    w = World(random.Random(seed))
    _daily(w)
    _weekly(w)
    _monthly(w)
    for src, d in BURSTS.items():
        # 30 errors between 14:00 and 14:50, and a job hung since 14:05
        hour = START + dt.timedelta(days=d, hours=14)
        at = hour + dt.timedelta(minutes=50)
        w.bursts.append((src, hour, at))
        w.inject("error burst with a stuck job", src, at, {"error_burst", "job_stuck"})
    w.injected.sort(key=lambda i: i.at)
    for n, inj in enumerate(w.injected, 1):
        inj.n = n
    w.runs.sort(key=lambda r: r.at)
    return w.runs, w.injected, w.bursts


async def add_run(conn: asyncpg.Connection, r: Run, drift_fields: dict[tuple[str, str],
                  list[str]]) -> None:
    run_id = await conn.fetchval(
        "INSERT INTO trapper.ingest_runs (source_system, source_table, source_file, rows_read,"
        " rows_new, status, error, started_at, finished_at) VALUES ($1, $2, $3, $4,"
        " CASE WHEN $5 = 'completed' THEN $4 ELSE 0 END, $5, $6,"
        " $7, $7) RETURNING ingest_run_id", r.source[0], r.source[1],
        f"{r.source[1]}-{r.at:%Y%m%d}.csv", r.rows, r.status,
        "bench: truncated file" if r.status == "failed" else None, r.at)
    if r.drift:
        # a sample of the batch, with every required field gone (a renamed export column)
        ids = await conn.fetch(
            "INSERT INTO trapper.staged_records (source_system, source_table, source_row_id,"
            " row_hash, payload, ingest_run_id) SELECT $1, $2, 'b' || $3::text || '-' || g,"
            " md5($3::text || g), jsonb_build_object('Renamed Column', g), $3::bigint"
            " FROM generate_series(1, 20) g RETURNING id", r.source[0], r.source[1], str(run_id))
        await conn.execute(
            "INSERT INTO trapper.orchestrator_job_log (action, source_system, source_table,"
            " decision_details) VALUES ('staged', $1, $2, jsonb_build_object('ingest_run_id',"
            " $3::bigint, 'min_id', $4::bigint, 'max_id', $5::bigint))",
            r.source[0], r.source[1], run_id, min(i["id"] for i in ids),
            max(i["id"] for i in ids))
    elif r.source in drift_fields:
        # the batch after: the usual shape again (one row is enough for the detector)
        row = await conn.fetchval(
            "INSERT INTO trapper.staged_records (source_system, source_table, source_row_id,"
            " row_hash, payload, ingest_run_id) VALUES ($1, $2, 'n' || $3::text, md5($3::text),"
            " $4::jsonb, $3::bigint) RETURNING id", r.source[0], r.source[1], str(run_id),
            json.dumps({f: "x" for f in drift_fields[r.source]}))
        await conn.execute(
            "INSERT INTO trapper.orchestrator_job_log (action, source_system, source_table,"
            " decision_details) VALUES ('staged', $1, $2, jsonb_build_object('ingest_run_id',"
            " $3::bigint, 'min_id', $4::bigint, 'max_id', $4::bigint))",
            r.source[0], r.source[1], run_id, row)
        del drift_fields[r.source]


async def apply_settings(conn: asyncpg.Connection, settings: dict[str, float]) -> None:
    """Health settings for this replay (--set KEY=VALUE)."""
    for key, value in settings.items():
        if await conn.fetchval(
                "UPDATE trapper.orchestrator_health_settings SET value = $2 WHERE key = $1"
                " RETURNING key", key, value) is None:
            sys.exit(f"incidents.py: no health setting {key!r}")


async def run_passes(conn: asyncpg.Connection, now: dt.datetime, n: int, step: dt.timedelta,
                     per_pass: bool) -> int:
    """n detection passes (and planner passes) from ``now``, one ``step`` apart: in one
    call (bench/incidents.sql), or with --per-pass one round trip per statement."""
    if not per_pass:
        await conn.fetchval(QUERIES["passes"], now, n, step, ROUTES)
        return n
    await conn.execute(
        "UPDATE trapper.processing_jobs SET status = 'completed' "
        "WHERE trigger_type = 'bench' AND status = 'processing' "
        "AND completed_at <= $1", now)
    await conn.fetch("SELECT * FROM trapper.orchestrator_detect_anomalies_at($1)", now)
    await conn.fetch("SELECT * FROM trapper.orchestrator_plan_alerts_at($1::jsonb, $2)",
                     ROUTES, now)
    return 1


async def main(interval_min: int, seed: int, as_json: bool, per_pass: bool = False,
               settings: dict[str, float] | None = None) -> dict[str, Any]:
    runs, injected, bursts = schedule(seed)
    sources = {(s, t) for s, t, _ in DAILY + WEEKLY + MONTHLY}
    step = dt.timedelta(minutes=interval_min)
    async with fresh_database() as url:
        conn = await asyncpg.connect(url)
        # only the sources replayed here are active (the realtime web intake would be silent)
        await conn.execute(
            "UPDATE trapper.orchestrator_sources SET is_active = "
            "(source_system || '/' || source_table) = ANY ($1::text[])",
            [f"{s}/{t}" for s, t in sources])
        await apply_settings(conn, settings or {})
        await conn.executemany(
            "INSERT INTO trapper.orchestrator_holidays (day, name) VALUES ($1, $2)",
            list(HOLIDAYS.items()))
        required = {(r["source_system"], r["source_table"]): r["fields"] for r in await conn.fetch(
            "SELECT source_system, source_table, array_agg(e ->> 'field') AS fields "
            "FROM trapper.orchestrator_sources, jsonb_array_elements(expected_fields) e "
            "GROUP BY 1, 2")}
        t0 = time.perf_counter()
        await conn.fetch("SELECT * FROM trapper.orchestrator_detect_anomalies_at($1)", START)
        one_pass = time.perf_counter() - t0
        drift_after: dict[tuple[str, str], list[str]] = {}
        now = START
        ri = 0
        bursts_left = sorted(bursts, key=lambda b: b[2])
        end = START + dt.timedelta(days=DAYS)
        passes = 0
        await conn.execute(QUERIES["make_passes"])
        t0 = time.perf_counter()
        while now <= end:
            async with conn.transaction():
                while ri < len(runs) and runs[ri].at <= now:
                    r = runs[ri]
                    await add_run(conn, r, drift_after)
                    if r.drift:
                        drift_after[r.source] = required[r.source]
                    ri += 1
                while bursts_left and bursts_left[0][2] <= now:
                    (system, table), hour, _ = bursts_left.pop(0)
                    await conn.execute(
                        "INSERT INTO trapper.orchestrator_source_hourly (source_system,"
                        " source_table, hour, errors) VALUES ($1, $2, $3, 30)",
                        system, table, hour)
                    # its job hangs without a heartbeat until a worker restart, 3 h later
                    await conn.execute(
                        "INSERT INTO trapper.processing_jobs (source_system, source_table,"
                        " status, trigger_type, queued_at, started_at, heartbeat_at,"
                        " completed_at) VALUES ($1, $2, 'processing', 'bench', $3, $3, $3,"
                        " $4)", system, table, hour + dt.timedelta(minutes=5),
                        hour + dt.timedelta(hours=3))
                # every pass until the next data arrives, in one call (bench/incidents.sql):
                # the passes at or after its time must see it, so they wait for the insert
                upcoming = [t for t in (runs[ri].at if ri < len(runs) else None,
                                        bursts_left[0][2] if bursts_left else None) if t]
                n = 1
                while (now + n * step <= end
                       and all(now + n * step < t for t in upcoming)):
                    n += 1
                n = await run_passes(conn, now, 1 if per_pass else n, step, per_pass)
            passes += n
            now += n * step
        replay_s = time.perf_counter() - t0
        incidents = [dict(r) for r in await conn.fetch(
            "SELECT i.*, (SELECT count(*) FROM trapper.orchestrator_alert_outbox o "
            "             WHERE o.incident_id = i.incident_id AND o.kind <> 'repeat')"
            "            AS messages, "
            "       (SELECT count(*) FROM trapper.orchestrator_alert_outbox o "
            "        WHERE o.incident_id = i.incident_id AND o.kind = 'repeat') AS reminders, "
            "       extract(epoch FROM coalesce(i.resolved_at, $1) - i.opened_at) / 3600"
            "            AS hours, "
            "       cardinality(i.accepted_run_ids) > 0 AS new_normal "
            "FROM trapper.orchestrator_incidents i ORDER BY opened_at", end)]
        repeat_h = float(await conn.fetchval(
            "SELECT trapper.orchestrator_health_setting('alert_repeat_hours')"))
        await conn.close()

    # match each injected incident with the first incident of its source opened at or after
    # its data (within a day), holding the expected kinds
    matched: set[int] = set()
    for inj in injected:
        for inc in incidents:
            if ((inc["source_system"], inc["source_table"]) == inj.source
                    and inc["incident_id"] not in matched
                    and inj.at - step <= inc["opened_at"] <= inj.at + dt.timedelta(days=1)):
                matched.add(inc["incident_id"])
                inj.caught_at, inj.incident, inj.kinds = (inc["opened_at"],
                                                          inc["incident_id"], inc["kinds"])
                break
    on_time = [i for i in injected if i.caught_at is not None and i.caught_at - i.at <= step
               and i.expect <= set(i.kinds)]
    false = [i for i in incidents if i["incident_id"] not in matched]
    months = DAYS / 30
    per_source: dict[str, int] = {f"{s}/{t}": 0 for s, t in sorted(sources)}
    for f in false:
        per_source[f"{f['source_system']}/{f['source_table']}"] += 1
    msgs = [i["messages"] for i in incidents if i["incident_id"] in matched]
    reminders = [i for i in incidents if i["reminders"]]
    result = {
        "days": DAYS, "sources": len(sources), "detection_interval_min": interval_min,
        "settings": settings or {},
        "passes": passes, "injected": len(injected),
        "caught_on_time": len(on_time),
        "caught": sum(1 for i in injected if i.caught_at is not None),
        "false_alarms": len(false),
        "false_alarms_per_source_month_max": round(max(per_source.values()) / months, 2),
        "false_alarms_per_source_month_mean": round(len(false) / len(sources) / months, 2),
        "messages_per_incident_max": max(msgs, default=0),
        "messages_per_incident_mean": round(sum(msgs) / max(len(msgs), 1), 2),
        "repeat_interval_h": repeat_h,
        "reminders": sum(i["reminders"] for i in incidents),
        "incidents_with_reminders": len(reminders),
        "longest_incident_h": round(max((float(i["hours"]) for i in incidents), default=0)),
        "longest_incident": next((f"{i['source_system']}/{i['source_table']} {i['kinds']} "
                                  f"opened {i['opened_at']:%m-%d %H:%M}"
                                  for i in sorted(incidents, key=lambda x: -float(x["hours"]))),
                                 ""),
        "longest_false_alarm_h": round(max((float(f["hours"]) for f in false), default=0)),
        "new_normal": sum(1 for i in incidents if i["new_normal"]),
        "replay_s": round(replay_s, 1),
        "replay_vs_one_pass": round(replay_s / max(one_pass, 1e-6)),
        "misses": [f"#{i.n} {i.kind} {i.source[0]}/{i.source[1]} at {i.at:%m-%d %H:%M}: "
                   + (f"incident {i.incident} {i.kinds} at {i.caught_at:%m-%d %H:%M}"
                      if i.caught_at else "not caught")
                   for i in injected if i not in on_time],
        "false": [f"{f['source_system']}/{f['source_table']} {f['kinds']} at "
                  f"{f['opened_at']:%m-%d %H:%M}, open {float(f['hours']):.0f} h"
                  + (" (resolved as a new normal)" if f["new_normal"] else "")
                  for f in false],
    }
    if as_json:
        print(json.dumps(result, indent=2))
        return result
    print(f"replayed {DAYS} days of {len(sources)} sources (6 daily, 4 weekly, 2 monthly), "
          f"a detection pass every {interval_min} min ({passes} passes) in {replay_s:.0f} s "
          f"({result['replay_vs_one_pass']}x one pass on the empty database)")
    print(f"incidents caught: {len(on_time)}/{len(injected)} within one detection interval of "
          f"their data ({result['caught']} caught at all)  (goal: all 20)")
    print(f"false alarms: {len(false)} in {DAYS} days; per source per month: max "
          f"{result['false_alarms_per_source_month_max']}, mean "
          f"{result['false_alarms_per_source_month_mean']}  (goal <= 1); the longest open "
          f"{result['longest_false_alarm_h']} h; {result['new_normal']} incident(s) resolved "
          f"as a new normal")
    print(f"Slack messages per incident: max {result['messages_per_incident_max']}, mean "
          f"{result['messages_per_incident_mean']}  (goal <= 2: opened and resolved), plus "
          f"{result['reminders']} still-open reminders (the first after {repeat_h:g} h, then "
          f"backing off) in {len(reminders)} incidents; the longest open "
          f"{result['longest_incident_h']} h: {result['longest_incident']}")
    for line in result["misses"]:
        print("  missed or late: " + line)
    for line in result["false"]:
        print("  false alarm: " + line)
    return result


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interval-minutes", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--per-pass", action="store_true",
                    help="one round trip per statement of each pass (the replay before the "
                         "passes were batched; the same figures, for comparing)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a health setting for the replay, e.g. volume_accept_batches=0 "
                         "(repeatable; docs/health-and-alerts.md)")
    a = ap.parse_args()
    overrides: dict[str, float] = {}
    for item in a.set:
        key, eq, value = item.partition("=")
        try:
            overrides[key.strip()] = float(value)
        except ValueError:
            eq = ""
        if not eq:
            ap.error(f"--set {item!r}: expected KEY=NUMBER")
    anyio.run(main, a.interval_minutes, a.seed, a.json, a.per_pass, overrides)
