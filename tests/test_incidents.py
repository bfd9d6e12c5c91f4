"""Incidents and volume baselines on real PostgreSQL (issue 19, items 3 and 4): anomalies of
one source sharing a likely cause are one incident with one Slack message, updated as kinds
join and resolved once; the volume baseline follows the source's cadence, leaves past
incidents out and never alerts below its floor."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from tests.fake_slack import FakeSlack
from tests.helpers import execute, sql, val
from tests.test_alerts import outbox, send, sender_for
from tests.test_health import open_anomalies


def raise_kind(url: str, kind: str, system: str = "petlink", table: str = "owners",
               severity: str = "warning", details: dict[str, Any] | None = None) -> None:
    val(url, "SELECT trapper.orchestrator_raise_anomaly($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
        f"{kind}:{system}/{table}", kind, severity, system, table, f"{kind} summary",
        f"fix {kind}", json.dumps(details or {}))


def resolve_kind(url: str, kind: str, system: str = "petlink", table: str = "owners") -> None:
    val(url, "SELECT trapper.orchestrator_resolve_anomaly($1, 'fixed')",
        f"{kind}:{system}/{table}")


def incidents(url: str) -> list[dict[str, Any]]:
    return [dict(r) for r in sql(url, "SELECT * FROM trapper.orchestrator_incidents "
                                      "ORDER BY incident_id")]


def incident_of(url: str, kind: str, system: str = "petlink", table: str = "owners") -> int:
    return int(val(url, "SELECT incident_id FROM trapper.orchestrator_anomalies "
                        "WHERE anomaly_key = $1", f"{kind}:{system}/{table}"))


def run_at(url: str, system: str, table: str, rows: int, at: str) -> int:
    return int(val(url, """
        INSERT INTO trapper.ingest_runs (source_system, source_table, source_file, rows_read,
                                         rows_new, status, started_at, finished_at)
        VALUES ($1, $2, 'test.csv', $3, $3, 'completed', $4::text::timestamptz,
                $4::text::timestamptz)
        RETURNING ingest_run_id""", system, table, rows, at))


def detect(url: str, at: str) -> dict[str, str]:
    """The detectors' changes on the clock ``at`` (the runs below are dated, not recent)."""
    return {r["anomaly_key"]: r["change"] for r in sql(
        url, "SELECT * FROM trapper.orchestrator_detect_anomalies_at($1::text::timestamptz)", at)}


# -- incidents --------------------------------------------------------------------------------

def test_anomalies_sharing_a_cause_form_one_incident_that_resolves_with_the_last(
    db_url: str
) -> None:
    raise_kind(db_url, "batch_volume")
    raise_kind(db_url, "schema_drift", severity="critical")       # delivery, with the volume
    raise_kind(db_url, "error_burst")                              # processing: not delivery
    raise_kind(db_url, "batch_volume", system="airtable", table="trappers")  # another source
    volume = incident_of(db_url, "batch_volume")
    assert incident_of(db_url, "schema_drift") == volume
    assert incident_of(db_url, "error_burst") != volume
    assert incident_of(db_url, "batch_volume", "airtable", "trappers") != volume
    [inc] = [i for i in incidents(db_url) if i["incident_id"] == volume]
    assert inc["kinds"] == ["batch_volume", "schema_drift"] and inc["causes"] == ["delivery"]
    assert inc["severity"] == "critical" and inc["version"] == 2 and inc["resolved_at"] is None
    resolve_kind(db_url, "batch_volume")
    assert incidents(db_url)[0]["resolved_at"] is None            # drift is still open
    resolve_kind(db_url, "schema_drift")
    assert incidents(db_url)[0]["resolved_at"] is not None


def test_an_anomaly_past_the_window_opens_its_own_incident(db_url: str) -> None:
    raise_kind(db_url, "batch_volume")
    execute(db_url, "UPDATE trapper.orchestrator_incidents "
                    "SET opened_at = opened_at - interval '121 minutes'")
    raise_kind(db_url, "schema_drift")
    assert incident_of(db_url, "schema_drift") != incident_of(db_url, "batch_volume")


def test_one_message_updated_as_kinds_join_then_one_resolved_message(
    alerts_db: str, slack: FakeSlack
) -> None:
    raise_kind(alerts_db, "batch_volume")
    assert send(alerts_db, sender_for(slack)).delivered == 1
    assert send(alerts_db, sender_for(slack)).planned == 0        # nothing changed
    raise_kind(alerts_db, "schema_drift")                          # joins: the message updates
    assert send(alerts_db, sender_for(slack)).delivered == 1
    raise_kind(alerts_db, "batch_volume")                          # still open: no change
    assert send(alerts_db, sender_for(slack)).planned == 0
    resolve_kind(alerts_db, "batch_volume")
    assert send(alerts_db, sender_for(slack)).planned == 0        # drift still open
    resolve_kind(alerts_db, "schema_drift")
    assert send(alerts_db, sender_for(slack)).delivered == 1
    assert send(alerts_db, sender_for(slack)).planned == 0
    assert [r["kind"] for r in outbox(alerts_db)] == ["firing", "update", "resolved"]
    incident = str(incident_of(alerts_db, "batch_volume"))
    received = slack.incidents()
    assert [i for i, _ in received] == [incident] * 3             # one incident's messages
    assert "updated: batch_volume, schema_drift" in received[1][1]
    assert "Resolved: 2 anomalies" in received[2][1]


def test_an_incident_that_clears_within_the_grouping_window_is_never_sent(
    db_url: str, slack: FakeSlack
) -> None:
    raise_kind(db_url, "batch_volume")                             # default window: 30 s
    assert send(db_url, sender_for(slack)).planned == 0
    resolve_kind(db_url, "batch_volume")
    execute(db_url, "UPDATE trapper.orchestrator_incidents "
                    "SET opened_at = opened_at - interval '1 minute'")
    assert send(db_url, sender_for(slack)).planned == 0
    assert slack.received == []


# -- baselines --------------------------------------------------------------------------------

def test_a_monthly_source_is_compared_with_the_same_day_of_the_month(db_url: str) -> None:
    # twice a month: a full export on the 1st, a small update on the 15th
    for month in range(1, 7):
        run_at(db_url, "petlink", "pets", 1000 + 10 * month, f"2026-{month:02}-01 06:00Z")
        run_at(db_url, "petlink", "pets", 100 + month, f"2026-{month:02}-15 06:00Z")
    run_at(db_url, "petlink", "pets", 104, "2026-07-15 06:00Z")   # a usual mid-month update
    assert detect(db_url, "2026-07-15 07:00Z") == {}
    run_at(db_url, "petlink", "pets", 500, "2026-08-01 06:00Z")   # half a full export
    key = "volume:petlink/pets"
    assert detect(db_url, "2026-08-01 07:00Z") == {key: "raised"}
    details = open_anomalies(db_url)[key]["details"]
    assert details["seasonality"] == "day_of_month" and details["history"] == 6
    assert details["mean"] == 1035


def test_a_past_incident_stays_out_of_the_history(db_url: str) -> None:
    for day, rows in ((1, 1000), (8, 1040), (15, 980), (22, 1010), (29, 995)):
        run_at(db_url, "petlink", "owners", rows, f"2026-06-{day:02} 06:00Z")
    run_at(db_url, "petlink", "owners", 40, "2026-07-06 06:00Z")
    key = "volume:petlink/owners"
    assert detect(db_url, "2026-07-06 07:00Z") == {key: "raised"}
    run_at(db_url, "petlink", "owners", 1000, "2026-07-13 06:00Z")
    assert detect(db_url, "2026-07-13 07:00Z") == {key: "resolved"}
    run_at(db_url, "petlink", "owners", 45, "2026-07-20 06:00Z")
    # with the first drop in its history (mean 866, sd 360) the second would pass unseen
    assert detect(db_url, "2026-07-20 07:00Z") == {key: "raised"}
    details = open_anomalies(db_url)[key]["details"]
    # out: the drop, and the batch that came while its incident was open (it resolved it)
    assert details["history"] == 5 and details["mean"] == 1005
    assert details["seasonality"] == "none"                        # weekly gaps


def test_no_alert_below_the_floor_and_the_floor_is_per_source(db_url: str) -> None:
    for day, rows in ((1, 20), (8, 22), (15, 19), (22, 21), (29, 20)):
        run_at(db_url, "volunteerhub", "users", rows, f"2026-06-{day:02} 06:00Z")
    run_at(db_url, "volunteerhub", "users", 4, "2026-07-06 06:00Z")  # z = -14, 16 rows fewer
    assert detect(db_url, "2026-07-06 07:00Z") == {}               # default floor: 50 rows
    execute(db_url, "UPDATE trapper.orchestrator_sources SET volume_floor = 10 "
                    "WHERE source_system = 'volunteerhub' AND source_table = 'users'")
    assert detect(db_url, "2026-07-06 07:00Z") == {"volume:volunteerhub/users": "raised"}
    assert open_anomalies(db_url)["volume:volunteerhub/users"]["details"]["floor"] == 10


def test_the_detectors_run_on_a_given_clock(db_url: str) -> None:
    run_at(db_url, "clinichq", "cat_info", 100, "2026-06-01 06:00Z")   # weekly: 10 days
    assert "silent:clinichq/cat_info" not in detect(db_url, "2026-06-05Z")
    assert detect(db_url, "2026-06-12Z")["silent:clinichq/cat_info"] == "raised"
    a = open_anomalies(db_url)["silent:clinichq/cat_info"]
    assert a["first_seen"].isoformat().startswith("2026-06-12")


# -- holidays ---------------------------------------------------------------------------------

MONDAY = dt.datetime(2026, 6, 1, 6, tzinfo=dt.UTC)


def _at(days: float, hours: float = 0) -> str:
    return (MONDAY + dt.timedelta(days=days, hours=hours)).isoformat()


def test_a_holiday_is_compared_with_sundays(db_url: str) -> None:
    # a daily source: ~1,000 rows on weekdays, ~300 on Sundays, five weeks of it
    for day in range(35):
        sunday = (MONDAY + dt.timedelta(days=day)).isoweekday() == 7
        run_at(db_url, "airtable", "trappers", (300 if sunday else 1000) + (day % 3) * 10,
               _at(day))
    friday = 39                                                      # 2026-07-10
    execute(db_url, f"INSERT INTO trapper.orchestrator_holidays VALUES "
                    f"('{(MONDAY + dt.timedelta(days=friday)).date()}', 'a closed Friday')")
    assert val(db_url, "SELECT trapper.orchestrator_volume_weekday($1::text::timestamptz)",
               _at(friday)) == 7
    assert val(db_url, "SELECT trapper.orchestrator_volume_weekday($1::text::timestamptz)",
               _at(friday - 1)) == 4
    for day in range(35, friday):
        run_at(db_url, "airtable", "trappers", 1000 + (day % 3) * 10, _at(day))
    run_at(db_url, "airtable", "trappers", 310, _at(friday))          # a Sunday's volume
    assert "volume:airtable/trappers" not in detect(db_url, _at(friday, 1))
    # the same batch on a Friday that is no holiday is far from the Fridays before it
    execute(db_url, "DELETE FROM trapper.orchestrator_holidays")
    assert detect(db_url, _at(friday, 2))["volume:airtable/trappers"] == "raised"
    details = open_anomalies(db_url)["volume:airtable/trappers"]["details"]
    assert details["seasonality"] == "weekday" and details["mean"] > 900


def test_a_holiday_in_the_history_stays_out_of_its_weekday(db_url: str) -> None:
    execute(db_url, "UPDATE trapper.orchestrator_sources SET volume_seasonality = 'weekday' "
                    "WHERE source_system = 'airtable' AND source_table = 'trappers'")
    for week in range(6):                                            # six Fridays
        day = 4 + 7 * week
        if week == 2:
            execute(db_url, f"INSERT INTO trapper.orchestrator_holidays VALUES "
                            f"('{(MONDAY + dt.timedelta(days=day)).date()}', 'closed')")
        run_at(db_url, "airtable", "trappers", 300 if week == 2 else 1000 + week, _at(day))
    # compared with the five working Fridays only (with the holiday's 300 among them, mean
    # 884 and sd 285, a batch of 500 would pass unseen)
    run_at(db_url, "airtable", "trappers", 500, _at(4 + 7 * 6))
    assert detect(db_url, _at(4 + 7 * 6, 1)) == {"volume:airtable/trappers": "raised"}
    details = open_anomalies(db_url)["volume:airtable/trappers"]["details"]
    assert details["history"] == 5 and details["mean"] == 1002.6


# -- reminders --------------------------------------------------------------------------------

ROUTES = json.dumps([{"name": "default"}])


def plan(url: str, hours: float) -> list[str]:
    """The kinds of the messages the planner makes ``hours`` after the first incident
    opened."""
    return [r["kind"] for r in sql(
        url, "SELECT * FROM trapper.orchestrator_plan_alerts_at($1::jsonb, (SELECT"
             " min(opened_at) FROM trapper.orchestrator_incidents) + make_interval(secs => $2))",
        ROUTES, hours * 3600)]


def test_reminders_back_off_from_4_hours_doubling_up_to_the_cap(db_url: str) -> None:
    execute(db_url, "UPDATE trapper.orchestrator_health_settings SET value = 20 "
                    "WHERE key = 'alert_repeat_max_hours'")
    raise_kind(db_url, "source_silent")
    assert plan(db_url, 0.25) == ["firing"]
    sent = 0.25
    # 4 h, then twice as long each time (8, 16), then the cap (20 h, not 32)
    for gap in (4, 8, 16, 20, 20):
        assert plan(db_url, sent + gap - 0.1) == [], f"a reminder before {gap} h"
        assert plan(db_url, sent + gap + 0.1) == ["repeat"], f"no reminder after {gap} h"
        sent += gap + 0.1
    assert val(db_url, "SELECT repeats FROM trapper.orchestrator_incident_alert_state") == 5
    # a change (a kind joins; within the window of the real clock it was raised on) sends
    # an update and starts the back-off again
    raise_kind(db_url, "batch_volume")
    assert incident_of(db_url, "batch_volume") == incident_of(db_url, "source_silent")
    assert plan(db_url, sent + 0.5) == ["update"]
    sent += 0.5
    assert plan(db_url, sent + 3.9) == []
    assert plan(db_url, sent + 4.1) == ["repeat"]
    # resolved: one message, no reminders after it
    resolve_kind(db_url, "source_silent")
    resolve_kind(db_url, "batch_volume")
    assert plan(db_url, sent + 4.2) == ["resolved"]
    assert plan(db_url, sent + 200) == []


# -- a new normal -----------------------------------------------------------------------------

def weekly(url: str, rows: list[int], first_week: int = 0) -> list[int]:
    """Weekly runs of petlink/owners (weeks after MONDAY); their ingest run ids."""
    return [run_at(url, "petlink", "owners", n, _at(7 * (first_week + i)))
            for i, n in enumerate(rows)]


def detect_week(url: str, week: int, hours: float = 1) -> dict[str, str]:
    return detect(url, _at(7 * week, hours))


def test_a_level_flagged_on_consecutive_batches_becomes_the_new_normal(db_url: str) -> None:
    key = "volume:petlink/owners"
    # a tight history (sd 1.6): the source's real wobble is wider than five batches showed
    weekly(db_url, [1000, 1002, 998, 1001, 999])
    shifted = weekly(db_url, [1100], first_week=5)
    assert detect_week(db_url, 5) == {key: "raised"}
    shifted += weekly(db_url, [1105], first_week=6)
    assert detect_week(db_url, 6) == {}                              # still open: streak 2
    assert open_anomalies(db_url)[key]["details"]["streak"] == 2
    shifted += weekly(db_url, [1098], first_week=7)
    # the third batch in a row: accepted as the new normal, in the same pass
    assert detect_week(db_url, 7) == {key: "resolved"}
    a = sql(db_url, "SELECT * FROM trapper.orchestrator_anomalies WHERE anomaly_key = $1",
            key)[0]
    details = json.loads(a["details"]) if isinstance(a["details"], str) else a["details"]
    assert a["resolved_at"] is not None and details["resolution"] == "new normal"
    assert details["accepted_run_ids"] == shifted
    assert "accepted as the new normal after 3 batches" in a["summary"]
    [inc] = incidents(db_url)
    assert inc["accepted_run_ids"] == shifted and inc["resolved_at"] is not None
    reason = val(db_url, "SELECT decision_reason FROM trapper.orchestrator_job_log "
                         "WHERE action = 'anomaly_resolved' ORDER BY log_seq DESC LIMIT 1")
    assert reason.startswith("new normal: flagged on 3 consecutive batches")
    # the next pass does not raise the accepted batch again
    assert detect_week(db_url, 7, hours=2) == {}
    # the next batch at the new level is compared with a history holding it: no alarm
    weekly(db_url, [1102], first_week=8)
    assert detect_week(db_url, 8) == {}
    # and a real drop still alerts against the widened baseline
    weekly(db_url, [300], first_week=9)
    assert detect_week(db_url, 9) == {key: "raised"}
    details = open_anomalies(db_url)[key]["details"]
    assert details["history"] == 8 and details["streak"] == 1


def test_without_the_new_normal_the_false_alarm_stays_open(db_url: str) -> None:
    execute(db_url, "UPDATE trapper.orchestrator_health_settings SET value = 0 "
                    "WHERE key = 'volume_accept_batches'")
    key = "volume:petlink/owners"
    weekly(db_url, [1000, 1002, 998, 1001, 999])
    weekly(db_url, [1100], first_week=5)
    assert detect_week(db_url, 5) == {key: "raised"}
    for week, rows in enumerate((1105, 1098, 1102, 1101), start=6):
        weekly(db_url, [rows], first_week=week)
        assert detect_week(db_url, week) == {}                       # open all along
    assert open_anomalies(db_url)[key]["details"]["streak"] == 5


def test_a_short_history_is_compared_with_its_prediction_interval(db_url: str) -> None:
    def threshold(n: int) -> float:
        return float(val(db_url, "SELECT trapper.orchestrator_volume_threshold(3, $1)", n))

    # Student's t at the 3-sigma level times sqrt(1 + 1/n): wide for few batches, near 3 for many
    assert round(threshold(5), 1) == 7.2 and round(threshold(8), 1) == 4.8
    assert 3 < threshold(1000) < 3.01
    key = "volume:petlink/owners"
    weekly(db_url, [1000, 1040, 980, 1010, 995])                    # mean 1005, sd 22.4
    weekly(db_url, [1130], first_week=5)                             # 5.6 sd above: < 7.2
    assert detect_week(db_url, 5) == {}
    execute(db_url, "UPDATE trapper.orchestrator_health_settings SET value = 0 "
                    "WHERE key = 'volume_small_sample'")
    assert detect_week(db_url, 5, hours=2) == {key: "raised"}        # the plain z-score
    assert open_anomalies(db_url)[key]["details"]["threshold"] == 3
