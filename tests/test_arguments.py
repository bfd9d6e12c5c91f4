"""Bad arguments to the helpers a person calls are refused in one form (sql/orchestrator/
functions/arguments.sql): the argument, the value and the values allowed, with a HINT, as
SQLSTATE 22023; never a raw CHECK or NOT NULL violation quoting the whole row. The CLI prints
such a refusal as a usage error (exit 2) and, with --json, as a JSON error too."""

from __future__ import annotations

import json
import typing

import asyncpg
import pytest

from listener.web import models
from tests.conftest import run_cli
from tests.helpers import execute, sql, val

SURVEY = "'client_survey', 'responses'"

# (statement, argument, value as quoted in the message, a value the message lists as allowed)
REFUSALS = [
    ("SELECT trapper.register_source('vet', 'visits', 'Vet', p_ingest_method => 'api')",
     "ingest_method", "'api'", "api_sync"),
    ("SELECT trapper.register_source('vet', 'visits', 'Vet', p_ingest_method => NULL)",
     "ingest_method", "NULL", "file_upload"),
    ("SELECT trapper.register_source('vet', 'visits', 'Vet', p_ingest_frequency => 'hourly')",
     "ingest_frequency", "'hourly'", "on_demand"),
    ("INSERT INTO trapper.orchestrator_sources (source_system, source_table, display_name, "
     "ingest_method) VALUES ('vet', 'visits', 'Vet', 'ftp')",
     "ingest_method", "'ftp'", "webhook"),
    ("UPDATE trapper.orchestrator_sources SET ingest_frequency = 'yearly' "
     "WHERE source_system = 'clinichq'", "ingest_frequency", "'yearly'", "monthly"),
    (f"SELECT trapper.map_source_field({SURVEY}, 'email', 'sot_people', 'email', 'copy')",
     "routing_type", "'copy'", "function_call"),
    (f"INSERT INTO trapper.orchestrator_routing_rules (source_system, source_table, "
     f"source_field, target_surface, routing_type) VALUES ({SURVEY}, 'email', 'sot_people', "
     "'Direct')", "routing_type", "'Direct'", "direct"),
    ("SELECT trapper.orchestrator_set_capture('engine', NULL)", "capture mode", "NULL", "poll"),
    ("SELECT trapper.orchestrator_set_capture(NULL, 'poll')", "capture stream", "NULL",
     "decisions"),
    ("SELECT trapper.orchestrator_set_staged_capture('Trigger')", "capture mode", "'Trigger'",
     "trigger"),
    ("SELECT trapper.orchestrator_review_act(1, 'approve', 'ann')", "verdict", "'approve'",
     "keep_separate"),
    ("UPDATE trapper.orchestrator_settings SET value = 'yes' WHERE key = 'notify'",
     "setting notify", "'yes'", "off"),
    ("UPDATE trapper.orchestrator_settings SET value = 'on' WHERE key = 'capture_entities'",
     "setting capture_entities", "'on'", "trigger"),
]


@pytest.mark.parametrize(("statement", "argument", "value", "allowed"), REFUSALS)
def test_a_value_outside_the_allowed_ones_is_refused_naming_them(
        db_url: str, statement: str, argument: str, value: str, allowed: str) -> None:
    with pytest.raises(asyncpg.InvalidParameterValueError) as caught:
        execute(db_url, statement)
    message = str(caught.value)
    assert message.startswith(f"{argument} {value}: not one of ")
    assert allowed in message.split(": not one of ", 1)[1].split(", ")
    assert caught.value.hint and allowed in caught.value.hint  # type: ignore[attr-defined]
    assert "check constraint" not in message and "Failing row" not in message


@pytest.mark.parametrize(("statement", "fragment"), [
    ("SELECT trapper.register_source('vet', 'visits', '  ')", "display_name '  ': a value"),
    ("SELECT trapper.register_source(NULL, 'visits', 'Vet')",
     "source_system NULL: a source name is a letter"),
    (f"INSERT INTO trapper.orchestrator_routing_rules (source_system, source_table, "
     f"source_field, target_surface) VALUES ({SURVEY}, 'email', NULL)",
     "target_surface NULL: a value is needed"),
    (f"INSERT INTO trapper.orchestrator_routing_rules (source_system, source_table, "
     f"source_field, target_surface) VALUES ({SURVEY}, NULL, 'sot_people')",
     "source_field NULL: a value is needed"),
    ("SELECT trapper.orchestrator_review_act(1, 'defer', ' ')", "reviewed by"),
    ("UPDATE trapper.orchestrator_settings SET value = 'abc' WHERE key = 'notify_queue_alert'",
     "setting notify_queue_alert 'abc': not a fraction from 0 to 1"),
    ("UPDATE trapper.orchestrator_settings SET value = '7 days' "
     "WHERE key = 'events_retention_days'", "setting events_retention_days '7 days'"),
    ("UPDATE trapper.orchestrator_settings SET value = '-1' "
     "WHERE key = 'log_retention_months'", "setting log_retention_months '-1'"),
    ("UPDATE trapper.orchestrator_settings SET value = '121' "
     "WHERE key = 'partitions_ahead_months'", "from 0 to 120"),
])
def test_a_missing_or_malformed_value_is_refused_naming_the_argument(
        db_url: str, statement: str, fragment: str) -> None:
    with pytest.raises(asyncpg.InvalidParameterValueError, match=fragment) as caught:
        execute(db_url, statement)
    assert caught.value.hint  # type: ignore[attr-defined]


def test_good_settings_are_still_accepted(db_url: str) -> None:
    for key, value in (("notify", "off"), ("notify_queue_alert", "0.75"),
                       ("notify_queue_alert", "1"), ("events_retention_days", "0.5"),
                       ("log_retention_months", ""), ("log_retention_months", "24"),
                       ("partitions_ahead_months", "0"), ("some_future_key", "anything")):
        execute(db_url, f"INSERT INTO trapper.orchestrator_settings (key, value, description) "
                        f"VALUES ('{key}', '{value}', 'x') ON CONFLICT (key) "
                        f"DO UPDATE SET value = EXCLUDED.value")
        assert val(db_url, "SELECT value FROM trapper.orchestrator_settings WHERE key = $1",
                   key) == value
    # a frequency may be left out (never stale), as before
    val(db_url, "SELECT trapper.register_source('vet', 'visits', 'Vet', "
                "p_ingest_frequency => NULL)")


def test_the_allowed_values_are_the_checks_and_the_api_models_own(db_url: str) -> None:
    """The refusal reads the CHECK, and the API's models list the same values: a value added
    to one and not the other fails here."""
    def literal(model: type[models.BaseModel], field: str) -> list[str]:
        return list(typing.get_args(model.model_fields[field].annotation))

    checks = {r["c"]: r["v"] for r in sql(db_url, """
        SELECT c, trapper.orchestrator_check_values(t::regclass, c) AS v
        FROM (VALUES ('trapper.orchestrator_sources', 'ingest_method'),
                     ('trapper.orchestrator_sources', 'ingest_frequency'),
                     ('trapper.orchestrator_routing_rules', 'routing_type')) AS x (t, c)""")}
    assert checks["ingest_method"] == literal(models.RegisterSource, "ingest_method")
    assert checks["ingest_frequency"] == literal(models.RegisterSource, "ingest_frequency")
    assert checks["routing_type"] == literal(models.MapField, "routing_type")
    assert val(db_url, "SELECT trapper.orchestrator_check_values("
                       "'trapper.orchestrator_sources', 'display_name')") == []


def test_the_cli_prints_a_refused_argument_as_a_usage_error(db_url: str) -> None:
    """A refusal of our SQL reaching the CLI is one line with its hint, exit 2; --json adds
    the error document on stdout (docs/operations.md, "Exit status")."""
    # the CLI's own choices keep bad values from our SQL; a refusal is staged here with a
    # trigger of the test's that refuses the write as a helper would
    env = {"DATABASE_URL": db_url}
    execute(db_url, "CREATE FUNCTION trapper.scratch_refuse() RETURNS trigger LANGUAGE plpgsql "
                    "AS $$ BEGIN PERFORM trapper.orchestrator_require_one_of('notify', "
                    "'maybe', '{on,off}'); RETURN NEW; END $$; "
                    "CREATE TRIGGER scratch BEFORE UPDATE ON trapper.orchestrator_settings "
                    "FOR EACH ROW EXECUTE FUNCTION trapper.scratch_refuse()")
    out = run_cli("shadow", "set", "--notify", "off", env=env)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "notify 'maybe': not one of on, off (notify is one of: on, off)" in out.stderr
    out = run_cli("shadow", "set", "--notify", "off", "--json", env=env)
    assert out.returncode == 2
    assert json.loads(out.stdout) == {"ok": False, "error": {
        "code": "bad_argument",
        "message": "notify 'maybe': not one of on, off (notify is one of: on, off)",
        "exit_status": 2}}


def test_every_cli_error_is_json_with_json(db_url: str) -> None:
    env = {"DATABASE_URL": db_url}
    usage = run_cli("log", "--action", "nope", "--json", env=env)
    assert usage.returncode == 2 and json.loads(usage.stdout)["error"]["code"] == "usage"
    # a registered source with nothing staged: nothing found (a source neither registered
    # nor staged is a usage error, as every --source is)
    refused = run_cli("route", "client_survey/responses", "--dry-run", "--json", env=env)
    assert refused.returncode == 1
    assert json.loads(refused.stdout) == {"ok": False, "error": {
        "code": "error", "message": "no staged records of client_survey/responses to route",
        "exit_status": 1}}
    plain = run_cli("route", "client_survey/responses", "--dry-run", env=env)
    assert plain.stdout == "" and plain.stderr.startswith("atlas-orch: error: no staged")
    unknown = run_cli("route", "nobody/nothing", "--dry-run", "--json", env=env)
    assert unknown.returncode == 2 and json.loads(unknown.stdout)["error"]["code"] == "usage"
