"""What Prometheus scrapes at ``/metrics`` and what ``/api/health/ready`` decides, both read
from the database at the moment they are asked (docs/health-and-alerts.md, "Metrics" and
"Readiness").

The database is read in one go (``snapshot``) and handed to a prometheus_client custom
collector (``DatabaseCollector``): the collector interface is synchronous and the database
is asynchronous, so the awaiting happens before the registry collects. Nothing is cached:
each scrape is a handful of small aggregates (metrics.sql beside this module).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from listener.admin.read import HEALTH_STATUSES, Conn
from listener.core import locks, sql
from listener.core.errors import UserError

_SQL = sql.beside(__file__, "metrics")

# The text format every Prometheus since 2.0 reads (prometheus_client's newer default,
# version 1.0.0, is only understood by Prometheus 3).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds from an alert being planned to Slack taking it: the 30 s grouping wait is in it
# (docs/health-and-alerts.md, "Grouping and repeats"), so the buckets start there.
DELIVERY_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)
# A scrape or a probe that waits longer than this on the database reports it down rather
# than hang the scraper (Prometheus' own scrape timeout defaults to 10 s).
QUERY_TIMEOUT_S = 5.0
OUTCOMES = ("staged", "routed", "skipped", "rejected", "errors")


@dataclass
class Snapshot:
    """Everything one scrape reports from the database."""

    sources: list[dict[str, Any]] = field(default_factory=list)
    queue: dict[str, float] = field(default_factory=dict)
    oldest_queued_s: float = 0.0
    stuck_jobs: int = 0
    listeners: list[dict[str, Any]] = field(default_factory=list)
    leader: bool = False
    alerts: dict[str, float] = field(default_factory=dict)
    alerts_failing: float = 0.0
    alert_oldest_pending_s: float = 0.0
    delivery_buckets: list[tuple[float, float]] = field(default_factory=list)
    delivery_count: float = 0.0
    delivery_sum: float = 0.0
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    ingest_runs: dict[str, float] = field(default_factory=dict)
    health: list[dict[str, Any]] = field(default_factory=list)


async def snapshot(conn: Conn) -> Snapshot:
    """Read every family's values from the database, in one read-only transaction (one
    snapshot of the data, so the families agree with each other)."""
    t = QUERY_TIMEOUT_S

    async def rows(name: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in await conn.fetch(_SQL[name], *args, timeout=t)]

    async with conn.transaction(isolation="repeatable_read", readonly=True):
        snap = Snapshot(sources=await rows("sources"), listeners=await rows("listener"),
                        anomalies=await rows("anomalies"))
        snap.queue = {r["status"]: r["jobs"] for r in await rows("queue")}
        snap.oldest_queued_s = float(await conn.fetchval(_SQL["oldest_queued"], timeout=t))
        stuck = await conn.fetchrow(_SQL["stuck"], None, timeout=t)
        snap.stuck_jobs = int(stuck["jobs"]) if stuck else 0
        snap.leader = bool(await conn.fetchval(_SQL["leader"], locks.LISTENER_LEADER,
                                               timeout=t))
        snap.alerts = {r["status"]: r["alerts"] for r in await rows("alerts")}
        waiting = await conn.fetchrow(_SQL["alerts_waiting"], timeout=t)
        if waiting is not None:
            snap.alerts_failing = float(waiting["failing"])
            snap.alert_oldest_pending_s = float(waiting["oldest_s"])
        snap.delivery_buckets = [(r["le"], r["alerts"]) for r in
                                 await rows("delivery_buckets", list(DELIVERY_BUCKETS))]
        total = await conn.fetchrow(_SQL["delivery_total"], timeout=t)
        if total is not None:
            snap.delivery_count, snap.delivery_sum = total["alerts"], total["seconds"]
        snap.ingest_runs = {r["status"]: r["runs"] for r in await rows("ingest_runs")}
        snap.health = await rows("source_health")
    return snap


class DatabaseCollector(Collector):
    """The database's families, from a snapshot read at scrape time; ``None`` (the
    database could not be read) yields only ``atlas_orch_database_up 0``, so a scrape still
    succeeds and the outage is itself a series to alert on."""

    def __init__(self, snap: Snapshot | None) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        """The families (docs/health-and-alerts.md lists them)."""
        up = GaugeMetricFamily("atlas_orch_database_up",
                               "1 when this scrape could read the database, else 0")
        up.add_metric([], 0.0 if self.snap is None else 1.0)
        yield up
        if self.snap is None:
            return
        s = self.snap
        records = CounterMetricFamily(
            "atlas_orch_source_records", "Rows of each source by outcome, as the listener "
            "folded them from the decision log", labels=["source_system", "source_table",
                                                         "outcome"])
        for r in s.sources:
            for outcome in OUTCOMES:
                records.add_metric([r["source_system"], r["source_table"],
                                    outcome.removesuffix("s") if outcome == "errors"
                                    else outcome], r[outcome])
        yield records
        yield _by("atlas_orch_queue_jobs", "Jobs of the processing queue by state",
                  "state", s.queue)
        yield _gauge("atlas_orch_queue_oldest_job_age_seconds",
                     "Age of the oldest job waiting to be claimed (0 when none)",
                     s.oldest_queued_s)
        yield _gauge("atlas_orch_queue_stuck_jobs", "Processing jobs whose heartbeat is older "
                     "than the queue's stale_after_s", float(s.stuck_jobs))
        behind = GaugeMetricFamily("atlas_orch_listener_events_behind",
                                   "Events the listener has not consumed yet",
                                   labels=["consumer"])
        lag = GaugeMetricFamily("atlas_orch_listener_lag_seconds", "How long the oldest "
                                "event not yet consumed has waited (0 when caught up)",
                                labels=["consumer"])
        for r in s.listeners:
            behind.add_metric([r["consumer"]], r["behind"])
            lag.add_metric([r["consumer"]], r["lag_s"])
        yield behind
        yield lag
        yield _gauge("atlas_orch_listener_leader", "1 when a listener holds the leader lock "
                     "of this database (it consumes), else 0", 1.0 if s.leader else 0.0)
        yield _by("atlas_orch_alerts", "Slack alerts in the outbox by state", "state",
                  s.alerts)
        yield _gauge("atlas_orch_alerts_failing", "Pending Slack alerts whose last attempt "
                     "failed (5xx, 429, timeout, refused; `atlas-orch alerts list` says why)",
                     s.alerts_failing)
        yield _gauge("atlas_orch_alert_oldest_pending_seconds", "Age of the oldest pending "
                     "Slack alert (0 when none)", s.alert_oldest_pending_s)
        delivery = HistogramMetricFamily(
            "atlas_orch_alert_delivery_seconds", "Delivered alerts by seconds from planned "
            "(grouping wait included) to delivered")
        delivery.add_metric([], [(_le(b), c) for b, c in s.delivery_buckets]
                            + [("+Inf", s.delivery_count)], s.delivery_sum)
        yield delivery
        anomalies = GaugeMetricFamily("atlas_orch_anomalies_open",
                                      "Open anomalies by kind and severity",
                                      labels=["kind", "severity"])
        for r in s.anomalies:
            anomalies.add_metric([r["kind"], r["severity"]], r["open"])
        yield anomalies
        yield _by("atlas_orch_ingest_runs", "Ingest runs by status", "status", s.ingest_runs)
        # one series per source and status, 1 for the status it has and 0 for the others
        # (a state set): a status that clears goes to 0 rather than vanishing, and
        # `atlas_orch_source_health{status="attention"} == 1` is the alert
        health = GaugeMetricFamily(
            "atlas_orch_source_health", "1 for each active source's health status "
            "(v_orchestrator_health), 0 for its other statuses",
            labels=["source_system", "source_table", "status"])
        for r in s.health:
            for status in HEALTH_STATUSES:
                health.add_metric([r["source_system"], r["source_table"], status],
                                  1.0 if r["health_status"] == status else 0.0)
        yield health


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc)
    g.add_metric([], value)
    return g


def _by(name: str, doc: str, label: str, values: Mapping[str, float]) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in values.items():
        g.add_metric([key], value)
    return g


def _le(bound: float) -> str:
    return f"{bound:g}" if bound != int(bound) else f"{bound:.1f}"


def exposition(snap: Snapshot | None, extra: Iterable[Collector] = ()) -> bytes:
    """The scrape's text (Prometheus text format 0.0.4): the database's families from
    ``snap`` and those of ``extra`` (the server's in-process collectors)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(snap))
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)


# -- readiness ---------------------------------------------------------------------------------

REASONS = ("database_unreachable", "listener_lagging", "job_stuck", "alert_dead_lettered")


@dataclass(frozen=True)
class ReadyLimits:
    """When ``/api/health/ready`` answers 503 (docs/operations.md lists the variables)."""

    listener_lag_s: float = 300.0
    stuck_job_s: float | None = None          # None: the queue's own stale_after_s
    ignore: frozenset[str] = frozenset()      # reason codes that do not make it unready

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ReadyLimits:
        """The limits from ATLAS_ORCH_READY_LISTENER_LAG_S, ATLAS_ORCH_READY_STUCK_JOB_S and
        ATLAS_ORCH_READY_IGNORE; a bad value is a one-line UserError."""
        env = os.environ if env is None else env

        def seconds(name: str) -> float | None:
            raw = env.get(name, "").strip()
            if not raw:
                return None
            try:
                value = float(raw)
            except ValueError:
                value = -1.0
            if not value > 0 or value == float("inf"):
                raise UserError(f"{name} must be a number of seconds above 0, not {raw[:40]!r}")
            return value

        ignore = frozenset(c.strip() for c in env.get("ATLAS_ORCH_READY_IGNORE", "").split(",")
                           if c.strip())
        unknown = sorted(ignore - set(REASONS))
        if unknown:
            raise UserError(f"ATLAS_ORCH_READY_IGNORE: unknown reason {unknown[0][:40]!r}; "
                            f"the reasons are {', '.join(REASONS)}")
        lag = seconds("ATLAS_ORCH_READY_LISTENER_LAG_S")
        return cls(listener_lag_s=lag if lag is not None else cls.listener_lag_s,
                   stuck_job_s=seconds("ATLAS_ORCH_READY_STUCK_JOB_S"), ignore=ignore)


def reason(code: str, detail: str) -> dict[str, str]:
    """One reason for not being ready, as the route answers it."""
    return {"code": code, "detail": detail}


async def replica_readable(conn: Conn) -> bool:
    """Whether the read replica answers and holds the orchestrator's log (readiness with
    ``serve --read-url``: every GET route reads there)."""
    readable: bool = await conn.fetchval(_SQL["replica_readable"], timeout=QUERY_TIMEOUT_S)
    return readable


async def not_ready(conn: Conn, limits: ReadyLimits) -> list[dict[str, str]]:
    """Why this deployment is not ready to serve (empty: it is). The database's own
    unreachability is the caller's to report: it holds the pool."""
    t = QUERY_TIMEOUT_S
    reasons = []
    for r in await conn.fetch(_SQL["listener"], timeout=t):
        if r["lag_s"] > limits.listener_lag_s:
            reasons.append(reason("listener_lagging", (
                f"the listener ({r['consumer']!r}) has not consumed {int(r['behind'])} "
                f"event(s), the oldest {r['lag_s']:.0f} s old (the limit is "
                f"{limits.listener_lag_s:g} s): "
                "is `atlas-orch listen` (or `serve` with its listener) running?")))
    stuck = await conn.fetchrow(_SQL["stuck"], limits.stuck_job_s, timeout=t)
    if stuck is not None and stuck["jobs"]:
        reasons.append(reason("job_stuck", (
            f"{stuck['jobs']} job(s) processing without a heartbeat for {stuck['after_s']:g} s "
            f"or more, the oldest {stuck['oldest']}: its worker died or hangs; the next "
            "claim reclaims it (docs/processing.md)")))
    dead = await conn.fetchrow(_SQL["dead_alerts"], timeout=t)
    if dead is not None and dead["alerts"]:
        reasons.append(reason("alert_dead_lettered", (
            f"{dead['alerts']} Slack alert(s) dead-lettered, the newest {dead['newest']}: fix "
            "the route, then `atlas-orch alerts redeliver ALERT_ID`")))
    return [r for r in reasons if r["code"] not in limits.ignore]
