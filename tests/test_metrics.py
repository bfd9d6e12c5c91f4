"""/metrics and /api/health/ready over real HTTP against a real `atlas-orch serve`: every
family has values once a small world is loaded and routed, the scrape has its own token,
and readiness names each reason it is not ready (docs/health-and-alerts.md)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import aiohttp
import anyio
import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import run_cli
from tests.fake_slack import FakeSlack
from tests.helpers import execute, flood_log, val
from tests.listening import ListenerProcess, listen_once, wait_for
from tests.serving import ADMIN, READER, Server
from webhooks.config import Route
from webhooks.sender import AlertSender

METRICS = "metrics-token-for-tests"
P = "/api/admin/orchestrator"


def serve(url: str, tmp_path: Path, **env: str) -> Server:
    return Server(url, tmp_path, "--no-listen",
                  env={"ATLAS_ORCH_METRICS_TOKEN": METRICS, **env})


@pytest.fixture
def server(loaded: str, tmp_path: Path) -> Iterator[Server]:
    s = serve(loaded, tmp_path)
    try:
        yield s
    finally:
        assert s.stop() == 0, s.log()


def scrape(server: Server, token: str | None = METRICS) -> tuple[int, str, str]:
    """GET /metrics: status, content type, body."""
    req = urllib.request.Request(server.base + "/metrics")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def families(text: str) -> dict[str, list[Any]]:
    """Family name -> its samples, parsed by prometheus_client's own parser."""
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(samples: list[Any], name: str | None = None, **labels: str) -> float:
    hits = [s.value for s in samples if (name is None or s.name == name)
            and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(hits) == 1, (name, labels, samples)
    return float(hits[0])


def ready(server: Server) -> tuple[int, dict[str, Any]]:
    return server.call("GET", "/api/health/ready")


def head(server: Server, path: str) -> tuple[int, bytes]:
    """A HEAD request (a load balancer's health check): its status and body."""
    req = urllib.request.Request(server.base + path, method="HEAD")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def codes(body: dict[str, Any]) -> list[str]:
    return [r["code"] for r in body["reasons"]]


def deliver_and_dead_letter(url: str) -> None:
    """Two alerts through the real sender and a local stand-in for Slack: one delivered,
    one dead-lettered (a 404 is final)."""
    execute(url, "UPDATE trapper.orchestrator_health_settings SET value = 0 "
                 "WHERE key = 'alert_group_wait_s'")
    slack = FakeSlack()
    slack.start()
    try:
        for key, system, mode in (("m1", "petlink", "ok"), ("m2", "airtable", "404")):
            val(url, "SELECT trapper.orchestrator_raise_anomaly($1, 'job_dead_letter', "
                     "'critical', $2, 'owners', 'summary', 'fix')", key, system)
            slack.mode = mode

            async def go() -> None:
                conn = await asyncpg.connect(url)
                try:
                    await AlertSender([Route("default", slack.url)], timeout_s=2.0,
                                      min_interval_s=0.0).run_once(conn)
                finally:
                    await conn.close()

            anyio.run(go)
    finally:
        slack.stop()


def lag_a_feed_client(server: Server, url: str) -> None:
    """A websocket client that never reads is cut off with 'lagged' (the server runs with
    a feed queue of 3 batches); the feed clients gauge sees it connected first."""

    async def go() -> None:
        headers = {"Authorization": f"Bearer {READER}"}
        async with aiohttp.ClientSession() as s, \
                s.ws_connect(server.base.replace("http", "ws") + f"{P}/feed",
                             headers=headers) as ws:
            assert json.loads((await ws.receive()).data)["type"] == "hello"
            _, _, text = await anyio.to_thread.run_sync(scrape, server)
            assert value(families(text)["atlas_orch_feed_clients"]) == 1
            await flood_log(url)    # ~24 MB the client does not read
            with anyio.fail_after(60):
                while True:
                    msg = await ws.receive()
                    assert msg.type == aiohttp.WSMsgType.TEXT, msg
                    if json.loads(msg.data)["type"] == "lagged":
                        return

    anyio.run(go)


def route_survey_responses(url: str) -> None:
    """Survey responses through the router (the small world's sources go through the
    engines' processors): one with a street address, one with a PO box the router skips."""
    for rid, address in (("s1", "100 Main St, Petaluma"), ("s2", "PO Box 123, Santa Rosa")):
        staged = val(url, """
            INSERT INTO trapper.staged_records (source_system, source_table, source_row_id,
                                                row_hash, payload)
            VALUES ('client_survey', 'responses', $1::text, $1::text, jsonb_build_object(
                    'response_id', $1::text, 'first_name', 'Ann', 'last_name', 'Lee',
                    'email', $1::text || '@example.org', 'address', $2::text, 'cat_count', '3'))
            RETURNING id""", rid, address)
        val(url, "SELECT trapper.route_staged_record($1)", staged)
    listen_once(url)


def test_every_family_has_values_after_a_small_world_is_loaded_and_routed(
    loaded: str, tmp_path: Path
) -> None:
    route_survey_responses(loaded)
    deliver_and_dead_letter(loaded)
    execute(loaded, "INSERT INTO trapper.processing_jobs (source_system, source_table) "
                    "VALUES ('petlink', 'owners')")         # one queued job, waiting
    server = serve(loaded, tmp_path, ATLAS_ORCH_FEED_MAX_QUEUE="3")
    try:
        lag_a_feed_client(server, loaded)
        status, ctype, text = scrape(server)
        assert status == 200 and ctype.startswith("text/plain; version=0.0.4"), (status, text)
        fams = families(text)
        assert value(fams["atlas_orch_database_up"]) == 1
        # per source outcomes, as the listener folded them: the small world's rows
        records = fams["atlas_orch_source_records"]
        staged = val(loaded, "SELECT count(*) FROM trapper.staged_records "
                             "WHERE source_system = 'clinichq' AND source_table = 'owner_info'")
        assert value(records, "atlas_orch_source_records_total", source_system="clinichq",
                     source_table="owner_info", outcome="staged") == staged > 0
        outcomes = {s.labels["outcome"] for s in records}
        assert outcomes == {"staged", "routed", "skipped", "rejected", "error"}
        for outcome in ("routed", "skipped", "rejected", "error"):
            total = sum(s.value for s in records if s.labels["outcome"] == outcome)
            column = "errors" if outcome == "error" else outcome
            assert total == val(loaded, f"SELECT coalesce(sum({column}), 0) "
                                        "FROM trapper.orchestrator_source_hourly")
        assert value(records, source_system="client_survey", source_table="responses",
                     outcome="routed") > 0
        assert value(records, source_system="client_survey", source_table="responses",
                     outcome="staged") == 2
        # the queue: every state, the completed jobs of the load and the one waiting
        jobs = fams["atlas_orch_queue_jobs"]
        assert {s.labels["state"] for s in jobs} >= {"queued", "processing", "completed",
                                                    "retry_pending", "dead_letter"}
        assert value(jobs, state="completed") == val(
            loaded, "SELECT count(*) FROM trapper.processing_jobs WHERE status = 'completed'")
        assert value(jobs, state="queued") == 1
        assert value(fams["atlas_orch_queue_oldest_job_age_seconds"]) >= 0
        assert value(fams["atlas_orch_queue_stuck_jobs"]) == 0
        # the listener: nothing ran since the fixture's listen --once, so the job-log rows
        # the feed test wrote left no events; the alert sender's and the queued job's did
        behind = value(fams["atlas_orch_listener_events_behind"], consumer="listener")
        assert behind == val(loaded, "SELECT trapper.orchestrator_events_pending('listener')")
        assert behind > 0 and value(fams["atlas_orch_listener_lag_seconds"],
                                    consumer="listener") > 0
        assert value(fams["atlas_orch_listener_leader"]) == 0      # --no-listen, none runs
        # the feed: the client the test cut off
        assert value(fams["atlas_orch_feed_clients_lagged"],
                     "atlas_orch_feed_clients_lagged_total") == 1
        # the outbox: one delivered, one dead, and the delivery latency histogram
        alerts = fams["atlas_orch_alerts"]
        assert (value(alerts, state="delivered"), value(alerts, state="dead"),
                value(alerts, state="pending")) == (1, 1, 0)
        hist = fams["atlas_orch_alert_delivery_seconds"]
        assert value(hist, "atlas_orch_alert_delivery_seconds_count") == 1
        assert value(hist, "atlas_orch_alert_delivery_seconds_bucket", le="+Inf") == 1
        assert value(hist, "atlas_orch_alert_delivery_seconds_sum") >= 0
        # anomalies by kind and severity, and the ingest runs of the load
        assert value(fams["atlas_orch_anomalies_open"], kind="job_dead_letter",
                     severity="critical") == 2
        runs = fams["atlas_orch_ingest_runs"]
        assert value(runs, status="completed") == val(
            loaded, "SELECT count(*) FROM trapper.ingest_runs WHERE status = 'completed'") > 0
        assert value(runs, status="failed") == 0
        # a running listener leads and consumes: behind goes to 0; its leadership shows
        listener = ListenerProcess(loaded, tmp_path, "listen")
        try:
            wait_for(lambda: listener.leads(loaded), 30, "the listener to lead")
            wait_for(lambda: value(families(scrape(server)[2])[
                "atlas_orch_listener_events_behind"], consumer="listener") == 0, 30,
                "the listener to catch up")
            fams = families(scrape(server)[2])
            assert value(fams["atlas_orch_listener_leader"]) == 1
            assert value(fams["atlas_orch_listener_lag_seconds"], consumer="listener") == 0
            assert value(fams["atlas_orch_feed_clients"]) == 0
        finally:
            assert listener.stop() == 0, listener.log()
        assert value(families(scrape(server)[2])["atlas_orch_listener_leader"]) == 0
    finally:
        assert server.stop() == 0, server.log()


def test_metrics_have_their_own_token_and_an_explicit_open_mode(
    server: Server, loaded: str, tmp_path: Path
) -> None:
    assert scrape(server, None)[0] == 401
    assert scrape(server, "wrong")[0] == 401
    for token in (METRICS, READER, ADMIN):
        assert scrape(server, token)[0] == 200
    # a metrics token opens nothing else: not a read route, not a ticket, not the feed
    status, err = server.call("GET", f"{P}/health", METRICS)
    assert status == 403 and err["error"]["code"] == "forbidden"
    assert server.call("POST", f"{P}/feed/tickets", METRICS)[0] == 403

    async def feed() -> int:
        async with aiohttp.ClientSession() as s, s.get(
                server.base + f"{P}/feed", headers={"Authorization": f"Bearer {METRICS}"}) as r:
            return r.status

    assert anyio.run(feed) == 401
    (tmp_path / "open").mkdir()
    open_server = Server(loaded, tmp_path / "open", "--no-listen",
                         env={"ATLAS_ORCH_METRICS_OPEN": "1"})
    try:
        assert scrape(open_server, None)[0] == 200
        assert open_server.call("GET", f"{P}/health")[0] == 401     # only /metrics opens
    finally:
        assert open_server.stop() == 0, open_server.log()
    assert METRICS not in server.log()
    spec = server.call("GET", "/api/openapi.json")[1]
    op = spec["paths"]["/metrics"]["get"]
    assert op["security"] == [{"bearer": ["metrics"]}]
    assert "text/plain" in op["responses"]["200"]["content"]
    assert set(spec["paths"]["/api/health/ready"]["get"]["responses"]) >= {"200", "503"}


def test_ready_when_caught_up_then_each_reason_and_back(server: Server, loaded: str) -> None:
    status, body = ready(server)
    assert (status, body) == (200, {"status": "ready", "reasons": []})
    # HEAD answers as GET does, without a body; a route that needs a token still does
    assert head(server, "/api/health/ready") == (200, b"")
    assert head(server, "/api/admin/orchestrator/sources")[0] == 401
    # the listener lags: an event an hour old that no listener consumed
    newest = val(loaded, "SELECT coalesce(max(event_id), 0) FROM trapper.orchestrator_events")
    execute(loaded, "INSERT INTO trapper.staged_records (source_system, source_table, "
                    "source_row_id, row_hash, payload) VALUES ('petlink', 'owners', 'lag-1', "
                    "'lag-1', '{}')")
    execute(loaded, f"UPDATE trapper.orchestrator_events SET created_at = now() - "
                    f"interval '1 hour' WHERE event_id > {newest}")
    status, body = ready(server)
    assert status == 503 and codes(body) == ["listener_lagging"], body
    assert head(server, "/api/health/ready")[0] == 503
    assert "the limit is 300 s" in body["reasons"][0]["detail"]
    assert "listener listener" not in body["reasons"][0]["detail"]   # the consumer's name
    listen_once(loaded)
    assert ready(server)[0] == 200
    # a stuck job: processing, its heartbeat older than the queue's stale_after_s
    execute(loaded, "INSERT INTO trapper.processing_jobs (source_system, source_table, status, "
                    "worker_id, started_at, heartbeat_at, attempt_count) VALUES ('petlink', "
                    "'owners', 'processing', 'gone-1', now() - interval '1 minute', "
                    "now() - interval '1 minute', 1)")
    status, body = ready(server)
    assert status == 503 and codes(body) == ["job_stuck"], body
    assert "worker gone-1" in body["reasons"][0]["detail"]
    assert value(families(scrape(server)[2])["atlas_orch_queue_stuck_jobs"]) == 1
    assert val(loaded, "SELECT trapper.reclaim_stale_jobs()") == 1      # the queue's own fix
    listen_once(loaded)
    assert ready(server)[0] == 200
    # a dead-lettered alert
    deliver_and_dead_letter(loaded)
    listen_once(loaded)
    status, body = ready(server)
    assert status == 503 and codes(body) == ["alert_dead_lettered"], body
    assert "alerts redeliver" in body["reasons"][0]["detail"]
    execute(loaded, "UPDATE trapper.orchestrator_alert_outbox SET status = 'delivered', "
                    "delivered_at = now() WHERE status = 'dead'")
    assert ready(server)[0] == 200


def test_thresholds_and_ignored_reasons_come_from_the_environment(
    loaded: str, tmp_path: Path
) -> None:
    execute(loaded, "INSERT INTO trapper.processing_jobs (source_system, source_table, status, "
                    "worker_id, started_at, heartbeat_at, attempt_count) VALUES ('petlink', "
                    "'owners', 'processing', 'slow-1', now() - interval '1 minute', "
                    "now() - interval '1 minute', 1)")
    server = serve(loaded, tmp_path, ATLAS_ORCH_READY_STUCK_JOB_S="3600",
                   ATLAS_ORCH_READY_LISTENER_LAG_S="0.001")
    try:
        # a minute without a beat is not stuck at 3600 s; the job's own event, a moment
        # old, is over a lag limit of a millisecond
        status, body = ready(server)
        assert status == 503 and codes(body) == ["listener_lagging"], body
    finally:
        assert server.stop() == 0, server.log()
    server = serve(loaded, tmp_path, ATLAS_ORCH_READY_IGNORE="job_stuck,listener_lagging")
    try:
        assert ready(server) == (200, {"status": "ready", "reasons": []})
    finally:
        assert server.stop() == 0, server.log()
    for env, words in ((("ATLAS_ORCH_READY_LISTENER_LAG_S", "soon"), "number of seconds"),
                       (("ATLAS_ORCH_READY_IGNORE", "everything"), "unknown reason"),
                       (("ATLAS_ORCH_METRICS_OPEN", "maybe"), "must be 1 or 0")):
        done = run_cli("serve", "--no-listen", env={"DATABASE_URL": loaded,
                                                    "ATLAS_ORCH_ADMIN_TOKEN": ADMIN,
                                                    env[0]: env[1]})
        assert done.returncode != 0 and words in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_an_unreachable_database_is_not_ready_and_metrics_say_so(
    server: Server, loaded: str
) -> None:
    assert ready(server)[0] == 200
    parts = urlparse(loaded)
    name = parts.path.lstrip("/")
    admin = urlunparse(parts._replace(path="/postgres"))
    execute(admin, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
    try:
        execute(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")
        status, body = ready(server)
        assert status == 503 and codes(body) == ["database_unreachable"], body
        status, _, text = scrape(server)
        fams = families(text)
        assert status == 200 and value(fams["atlas_orch_database_up"]) == 0
        assert "atlas_orch_feed_clients" in fams and "atlas_orch_queue_jobs" not in fams
    finally:
        execute(admin, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    # the pool connects again on its own
    assert ready(server)[0] == 200
    assert value(families(scrape(server)[2])["atlas_orch_database_up"]) == 1
    # (asyncpg's pool logs its own failed reconnects with a traceback; ours are lines)
    assert '"api_error"' not in server.log() and '"metrics_database_unreadable"' in server.log()
