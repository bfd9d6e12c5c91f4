"""Slack alerts against a real local HTTP server standing in for Slack: delivery through
outages, 429 Retry-After, timeouts, the rate limit, grouping, repeats, resolution, dead
letters, restarts, and the webhook URL kept secret."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from tests.conftest import run_cli
from tests.fake_slack import FakeSlack
from tests.helpers import execute, sql, val
from tests.listening import ListenerProcess, wait_for
from webhooks.config import Route, load_routes
from webhooks.sender import AlertSender, SendStats


def raise_anomaly(url: str, key: str, system: str = "petlink", table: str = "owners",
                  severity: str = "critical", kind: str = "job_dead_letter") -> None:
    val(url, "SELECT trapper.orchestrator_raise_anomaly($1, $2, $3, $4, $5, $6, $7)",
        key, kind, severity, system, table, f"summary of {key}", f"fix for {key}")


def send(url: str, sender: AlertSender) -> SendStats:
    async def go() -> SendStats:
        conn = await asyncpg.connect(url)
        try:
            return await sender.run_once(conn)
        finally:
            await conn.close()

    return anyio.run(go)


def outbox(url: str) -> list[dict[str, Any]]:
    return [dict(r) for r in sql(url, "SELECT * FROM trapper.orchestrator_alert_outbox "
                                      "ORDER BY created_at")]


def make_due(url: str) -> None:
    execute(url, "UPDATE trapper.orchestrator_alert_outbox SET next_attempt_at = now() "
                 "WHERE status = 'pending'")


def sender_for(slack: FakeSlack, **kw: Any) -> AlertSender:
    return AlertSender([Route("default", slack.url)], timeout_s=kw.pop("timeout_s", 2.0),
                       min_interval_s=kw.pop("min_interval_s", 0.0), **kw)


def test_a_500_is_retried_later_and_delivered_once_the_server_recovers(
    alerts_db: str, slack: FakeSlack
) -> None:
    raise_anomaly(alerts_db, "k1")
    slack.mode = "500"
    stats = send(alerts_db, sender_for(slack))
    assert stats.planned == 1 and stats.retried == 1
    [row] = outbox(alerts_db)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert row["last_http_status"] == 500 and "rollup_error" in row["last_error"]
    slack.mode = "ok"
    assert send(alerts_db, sender_for(slack)).delivered == 0    # not due yet: backoff
    make_due(alerts_db)
    assert send(alerts_db, sender_for(slack)).delivered == 1
    assert outbox(alerts_db)[0]["status"] == "delivered"
    alert_id = str(row["alert_id"])
    assert slack.ids(200) == [alert_id]
    assert slack.ids() == [alert_id, alert_id]


def test_nothing_is_lost_while_the_server_refuses_connections(
    alerts_db: str, slack: FakeSlack
) -> None:
    slack.stop()
    raise_anomaly(alerts_db, "k1")
    raise_anomaly(alerts_db, "k2", system="airtable", table="trappers")
    stats = send(alerts_db, sender_for(slack))
    assert stats.retried == 2 and stats.delivered == 0
    for row in outbox(alerts_db):
        assert row["status"] == "pending" and "SECRETTOKEN" not in row["last_error"]
    slack.start()
    make_due(alerts_db)
    assert send(alerts_db, sender_for(slack)).delivered == 2
    assert sorted(slack.ids(200)) == sorted(str(r["alert_id"]) for r in outbox(alerts_db))


def test_a_timeout_after_the_server_took_it_repeats_with_the_same_id(
    alerts_db: str, slack: FakeSlack
) -> None:
    raise_anomaly(alerts_db, "k1")
    slack.mode, slack.hang_s = "hang", 2.0
    assert send(alerts_db, sender_for(slack, timeout_s=0.5)).retried == 1
    assert "TimeoutError" in outbox(alerts_db)[0]["last_error"]
    slack.mode = "ok"
    make_due(alerts_db)
    assert send(alerts_db, sender_for(slack)).delivered == 1
    ids = slack.ids()
    assert len(ids) == 2 and ids[0] == ids[1] == str(outbox(alerts_db)[0]["alert_id"])


def test_429_waits_as_long_as_retry_after_asks_and_costs_no_attempt(
    alerts_db: str, slack: FakeSlack
) -> None:
    raise_anomaly(alerts_db, "k1")
    slack.mode, slack.retry_after = "429", 7
    assert send(alerts_db, sender_for(slack)).throttled == 1
    row = sql(alerts_db, "SELECT status, attempts, extract(epoch FROM next_attempt_at - now()) "
                         "AS wait FROM trapper.orchestrator_alert_outbox")[0]
    assert row["status"] == "pending" and row["attempts"] == 0
    assert 5 <= float(row["wait"]) <= 7.5


def test_one_message_per_second_per_webhook(alerts_db: str, slack: FakeSlack) -> None:
    for i, (system, table) in enumerate([("petlink", "owners"), ("petlink", "pets"),
                                         ("airtable", "trappers")]):
        raise_anomaly(alerts_db, f"k{i}", system=system, table=table)
    assert send(alerts_db, sender_for(slack, min_interval_s=1.0)).delivered == 3
    times = [r.at for r in slack.received]
    assert len(times) == 3
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(times)), times


def test_anomalies_of_one_source_within_the_window_go_out_as_one_message(
    db_url: str, slack: FakeSlack
) -> None:
    for key in ("a", "b", "c"):
        raise_anomaly(db_url, key)                       # petlink/owners
    raise_anomaly(db_url, "d", system="airtable", table="trappers")
    # the default grouping window (30 s) has not passed: nothing goes out yet
    assert send(db_url, sender_for(slack)).planned == 0
    # the window runs from the incident's opening: anomalies of one source with one likely
    # cause are one incident (docs/health-and-alerts.md, "Incidents")
    execute(db_url, "UPDATE trapper.orchestrator_incidents "
                    "SET opened_at = opened_at - interval '31 seconds'")
    assert send(db_url, sender_for(slack)).delivered == 2
    by_source = {f"{r['source_system']}/{r['source_table']}": r for r in outbox(db_url)}
    assert by_source["petlink/owners"]["anomaly_keys"] == ["a", "b", "c"]
    assert by_source["airtable/trappers"]["anomaly_keys"] == ["d"]
    owners = next(r.body for r in slack.received if "petlink/owners" in r.body["text"])
    assert "3 anomalies in petlink/owners" in owners["blocks"][0]["text"]["text"]
    assert all("fix for" in b["text"]["text"] for b in owners["blocks"][1:4])


def test_repeat_interval_then_a_resolved_message(alerts_db: str, slack: FakeSlack) -> None:
    raise_anomaly(alerts_db, "k1")
    assert send(alerts_db, sender_for(slack)).delivered == 1
    assert send(alerts_db, sender_for(slack)).planned == 0        # still open, not yet due
    execute(alerts_db, "UPDATE trapper.orchestrator_health_settings SET value = 0 "
                       "WHERE key = 'alert_repeat_hours'")
    assert send(alerts_db, sender_for(slack)).delivered == 1
    assert outbox(alerts_db)[-1]["kind"] == "repeat"
    val(alerts_db, "SELECT trapper.orchestrator_resolve_anomaly('k1', 'fixed')")
    assert send(alerts_db, sender_for(slack)).delivered == 1
    assert outbox(alerts_db)[-1]["kind"] == "resolved"
    assert slack.received[-1].body["text"].startswith(":white_check_mark: Incident #")
    assert "Resolved" in slack.received[-1].body["text"]
    assert send(alerts_db, sender_for(slack)).planned == 0


def test_dead_letter_after_the_last_attempt_and_at_once_on_a_4xx(
    alerts_db: str, slack: FakeSlack
) -> None:
    execute(alerts_db, "UPDATE trapper.orchestrator_health_settings SET value = 2 "
                       "WHERE key = 'alert_max_attempts'")
    raise_anomaly(alerts_db, "k1")
    slack.mode = "500"
    send(alerts_db, sender_for(slack))
    make_due(alerts_db)
    assert send(alerts_db, sender_for(slack)).dead == 1
    assert outbox(alerts_db)[0]["status"] == "dead"
    raise_anomaly(alerts_db, "k2", system="airtable", table="trappers")
    slack.mode = "404"
    assert send(alerts_db, sender_for(slack)).dead == 1
    dead = outbox(alerts_db)[-1]
    assert dead["attempts"] == 1 and "channel_not_found" in dead["last_error"]
    # redeliver puts it back; it goes out once the webhook works
    slack.mode = "ok"
    done = run_cli("alerts", "redeliver", str(dead["alert_id"]),
                   env={"DATABASE_URL": alerts_db})
    assert done.returncode == 0, done.stderr
    assert send(alerts_db, sender_for(slack)).delivered == 1


def test_a_restart_neither_resends_delivered_nor_drops_pending(
    alerts_db: str, slack: FakeSlack
) -> None:
    raise_anomaly(alerts_db, "k1")
    assert send(alerts_db, sender_for(slack)).delivered == 1
    raise_anomaly(alerts_db, "k2", system="airtable", table="trappers")
    slack.mode = "500"
    assert send(alerts_db, sender_for(slack)).retried == 1
    slack.mode = "ok"
    make_due(alerts_db)
    restarted = sender_for(slack)              # a new process: nothing carried in memory
    assert send(alerts_db, restarted).delivered == 1
    delivered = slack.ids(200)
    assert len(delivered) == 2 and len(set(delivered)) == 2


def test_routes_pick_webhooks_by_severity_and_source(
    alerts_db: str, slack: FakeSlack, tmp_path: Path
) -> None:
    other = FakeSlack()
    other.start()
    try:
        routes_file = tmp_path / "routes.json"
        routes_file.write_text(json.dumps([
            {"name": "oncall", "url_env": "ONCALL_HOOK", "min_severity": "critical"},
            {"name": "petlink-team", "url": other.url, "sources": ["petlink/*"]},
        ]))
        routes = load_routes({"ATLAS_ORCH_ALERT_ROUTES": str(routes_file),
                              "ONCALL_HOOK": slack.url})
        assert [r.name for r in routes] == ["oncall", "petlink-team"]
        assert "SECRETTOKEN" not in repr(routes)
        raise_anomaly(alerts_db, "crit", system="airtable", table="trappers")
        raise_anomaly(alerts_db, "warn", severity="warning", kind="backlog")   # petlink
        stats = send(alerts_db, AlertSender(routes, min_interval_s=0))
        assert stats.delivered == 2
        assert [r.body["text"].count("crit") > 0 for r in slack.received] == [True]
        assert [r.body["text"].count("warn") > 0 for r in other.received] == [True]
    finally:
        other.stop()


def test_the_webhook_url_never_appears_in_logs_or_output(
    alerts_db: str, slack: FakeSlack
) -> None:
    raise_anomaly(alerts_db, "k1")
    slack.stop()   # a failure: the error path is where URLs leak
    env = {"DATABASE_URL": alerts_db, "ATLAS_ORCH_SLACK_WEBHOOK_URL": slack.url}
    done = run_cli("alerts", "send", "--once", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["retried"] == 1
    listed = run_cli("alerts", "list", "--json", env=env)
    alert_id = json.loads(listed.stdout)[0]["alert_id"]
    shown = run_cli("alerts", "show", alert_id, "--json", env=env)
    assert shown.returncode == 0 and json.loads(shown.stdout)["message"]["blocks"]
    for out in (done.stdout, done.stderr, listed.stdout, shown.stdout, shown.stderr):
        assert "SECRETTOKEN" not in out
    assert "SECRETTOKEN" not in str(sql(alerts_db, "SELECT * FROM "
                                                   "trapper.orchestrator_alert_outbox"))


def test_alert_commands_refuse_bad_input(alerts_db: str) -> None:
    env = {"DATABASE_URL": alerts_db}
    assert run_cli("alerts", "show", "not-a-uuid", env=env).returncode == 2
    missing = run_cli("alerts", "show", "00000000-0000-0000-0000-000000000000", env=env)
    assert missing.returncode == 1 and "no alert" in missing.stderr
    nothing = run_cli("alerts", "send", "--once", env=env)
    assert nothing.returncode == 1 and "ATLAS_ORCH_SLACK_WEBHOOK_URL" in nothing.stderr


def test_the_listener_detects_and_delivers(
    alerts_db: str, slack: FakeSlack, tmp_path: Path
) -> None:
    execute(alerts_db, "INSERT INTO trapper.processing_jobs (source_system, source_table, "
                       "status, last_error) VALUES ('petlink', 'owners', 'dead_letter', 'x')")
    proc = ListenerProcess(alerts_db, tmp_path, "listener",
                           env={"ATLAS_ORCH_SLACK_WEBHOOK_URL": slack.url})
    try:
        wait_for(lambda: slack.ids(200), 20, "the listener to send the alert")
    finally:
        assert proc.stop() == 0
    assert "dead-lettered" in slack.received[0].body["text"]
    assert "SECRETTOKEN" not in proc.log()


@pytest.mark.parametrize("doc,says", [
    ("not json", "not a readable JSON file"),
    ('{"name": "x"}', "expected a JSON list"),
    ('[{"url": "http://h/x"}]', "needs a name"),
    ('[{"name": "a"}]', "has no url"),
    ('[{"name": "a", "url": "ftp://h/x"}]', "not an http(s) URL"),
    ('[{"name": "a", "url": "http://h/x", "min_severity": "loud"}]', "min_severity must be"),
    ('[{"name": "a", "url": "http://h/x", "sources": "petlink"}]', "sources must be a list"),
    ('[{"name": "a", "url": "http://h/x"}, {"name": "a", "url": "http://h/y"}]',
     "share a name"),
])
def test_a_bad_routes_file_is_refused_with_the_reason(tmp_path: Path, doc: str,
                                                      says: str) -> None:
    from listener.core.errors import UserError

    path = tmp_path / "routes.json"
    path.write_text(doc)
    with pytest.raises(UserError, match=re.escape(says)) as exc:
        load_routes({"ATLAS_ORCH_ALERT_ROUTES": str(path)})
    assert "http://h/" not in str(exc.value)    # the URL is a secret, even in errors
