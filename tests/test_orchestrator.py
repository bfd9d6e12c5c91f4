"""The orchestrator's registry, rules and router: refusals, every routing outcome, SQL-only
onboarding, dry runs that leave no trace, and the seed's queries."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import pytest

from synthetic.generate import generate
from tests.conftest import run_cli
from tests.entities import stage
from tests.helpers import execute, sql, val


def test_map_source_field_refuses_an_unregistered_source(db_url: str) -> None:
    with pytest.raises(asyncpg.ForeignKeyViolationError, match="is not registered"):
        sql(db_url, "SELECT trapper.map_source_field('nobody', 'nothing', 'x', 'sot_people')")


def test_rules_refuse_functions_outside_the_allowlist(db_url: str) -> None:
    with pytest.raises(asyncpg.InvalidParameterValueError, match="not in the allowlist"):
        sql(db_url, "SELECT trapper.map_source_field('client_survey', 'responses', 'email', "
                    "'sot_people', 'email', 'function_call', 'pg_sleep')")
    with pytest.raises(asyncpg.InvalidParameterValueError, match=r"not of the form fn\(\$1\)"):
        sql(db_url, "SELECT trapper.map_source_field('client_survey', 'responses', 'phone', "
                    "'sot_people', 'phone', 'transform', 'find_or_create_person', "
                    "'norm_phone_us($1); DROP TABLE trapper.sot_people')")
    with pytest.raises(asyncpg.InvalidParameterValueError, match="not in the allowlist"):
        sql(db_url, "SELECT trapper.map_source_field('client_survey', 'responses', 'phone', "
                    "'sot_people', 'phone', 'transform', NULL, 'pg_sleep($1)')")
    # the same checks hold for a plain INSERT, not only for the helper
    with pytest.raises(asyncpg.InvalidParameterValueError, match="not of the form"):
        sql(db_url, "INSERT INTO trapper.orchestrator_routing_rules (source_system, "
                    "source_table, source_field, target_surface, routing_type, "
                    "transform_expression) VALUES ('client_survey', 'responses', 'phone', "
                    "'sot_people', 'transform', 'lower($1) || (SELECT 1)')")
    with pytest.raises(asyncpg.InvalidParameterValueError, match="takes no field"):
        sql(db_url, "SELECT trapper.map_source_field('client_survey', 'responses', 'email', "
                    "'sot_people', 'password', 'function_call', 'find_or_create_person')")
    assert val(db_url, "SELECT to_regclass('trapper.sot_people') IS NOT NULL")


def test_rules_refuse_a_field_the_source_never_sends(db_url: str) -> None:
    with pytest.raises(asyncpg.InvalidParameterValueError, match="neither an expected field"):
        sql(db_url, "SELECT trapper.map_source_field('clinichq', 'owner_info', 'owner_email', "
                    "'sot_people', 'email', 'function_call', 'find_or_create_person')")
    # a field seen in a staged payload is accepted even if it is not declared
    stage(db_url, "clinichq", "owner_info", {"Number": "1", "Owner Pronouns": "she"})
    rule = val(db_url, "SELECT trapper.map_source_field('clinichq', 'owner_info', "
                       "'Owner Pronouns', 'sot_people', 'address', 'direct')")
    assert rule is not None


def test_a_second_rule_feeding_one_parameter_is_refused(db_url: str) -> None:
    # the survey maps email already: a second email overwrote it in the call on every
    # record, even with an empty value
    with pytest.raises(asyncpg.InvalidParameterValueError,
                       match=r'the rule on "email" already feeds find_or_create_person\.email'):
        execute(db_url, "INSERT INTO trapper.orchestrator_routing_rules (source_system, "
                        "source_table, source_field, target_surface, target_field, "
                        "routing_type, target_function, transform_expression) VALUES "
                        "('client_survey', 'responses', 'phone', 'sot_people', 'email', "
                        "'transform', 'find_or_create_person', 'norm_email($1)')")
    # with the first deactivated, the second is accepted; the first cannot come back
    execute(db_url, "UPDATE trapper.orchestrator_routing_rules SET is_active = false "
                    "WHERE source_system = 'client_survey' AND source_field = 'email'")
    execute(db_url, "INSERT INTO trapper.orchestrator_routing_rules (source_system, "
                    "source_table, source_field, target_surface, target_field, routing_type, "
                    "target_function, transform_expression) VALUES ('client_survey', "
                    "'responses', 'phone', 'sot_people', 'email', 'transform', "
                    "'find_or_create_person', 'norm_email($1)')")
    with pytest.raises(asyncpg.InvalidParameterValueError, match="already feeds"):
        execute(db_url, "UPDATE trapper.orchestrator_routing_rules SET is_active = true "
                        "WHERE source_system = 'client_survey' AND source_field = 'email'")


@pytest.mark.parametrize(("values", "message"), [
    # no target_field: the value went under the source field's name, which nothing takes
    ("'Owner Pronouns', 'sot_people', NULL, 'find_or_create_person'",
     'find_or_create_person takes no field "Owner Pronouns"'),
    ("'Owner Email', 'place_colony_estimates', 'place_id', NULL",
     'add_colony_estimate takes no field "place_id"'),
    ("'Owner Email', 'sot_cats_typo', 'name', NULL",
     'no target function writes surface "sot_cats_typo"'),
    ("'Owner Email', 'places', 'email', 'find_or_create_person'",
     "find_or_create_person writes sot_people, not places"),
])
def test_a_rule_whose_value_would_be_dropped_is_refused(db_url: str, values: str,
                                                        message: str) -> None:
    # each was accepted, and every record then skipped it or dropped its value unsaid
    with pytest.raises(asyncpg.InvalidParameterValueError, match=message):
        execute(db_url, "INSERT INTO trapper.orchestrator_routing_rules (source_system, "
                        "source_table, source_field, target_surface, target_field, "
                        f"target_function) VALUES ('clinichq', 'owner_info', {values})")


def test_a_surface_two_targets_write_needs_the_rule_to_name_one(db_url: str) -> None:
    # the surface's function was the first row a LIMIT 1 met: with two, either could run
    kittens = ("INSERT INTO trapper.orchestrator_routing_rules (source_system, source_table, "
               "source_field, target_surface, target_field, routing_type, "
               "transform_expression) VALUES ('client_survey', 'responses', 'kittens_seen', "
               "'place_colony_estimates', 'kitten_count', 'transform', 'to_integer($1)')")
    execute(db_url, kittens)     # one target writes the surface: it is the rule's
    execute(db_url, "INSERT INTO trapper.orchestrator_functions (function_name, signature, "
                    "kind, arg_types, returns, target_surface, parameters, parameter_types, "
                    "description) SELECT 'add_colony_estimate_v2', signature, kind, "
                    "arg_types, returns, target_surface, parameters, parameter_types, 'v2' "
                    "FROM trapper.orchestrator_functions "
                    "WHERE function_name = 'add_colony_estimate'")
    with pytest.raises(asyncpg.InvalidParameterValueError,
                       match='surface "place_colony_estimates" is written by '
                             'add_colony_estimate and add_colony_estimate_v2'):
        execute(db_url, kittens.replace("'kittens_seen', ", "'cat_count', ")
                .replace("'kitten_count'", "'adult_count'"))
    # the rule written before the second target is skipped, saying why, not routed at random
    _, log = _route(db_url, _survey(kittens_seen="2"))
    skipped = [r["decision_reason"] for r in log if r["action"] == "skipped"]
    assert skipped == ["skipped: surface place_colony_estimates is written by "
                       "add_colony_estimate and add_colony_estimate_v2 and the rule names "
                       "none of them in target_function"]
    assert ("routed", "place_colony_estimates") in {(r["action"], r["target_surface"])
                                                   for r in log}


def test_register_source_is_an_idempotent_upsert(db_url: str) -> None:
    first = val(db_url, "SELECT trapper.register_source('vet', 'visits', 'Vet visits')")
    again = val(db_url, "SELECT trapper.register_source('vet', 'visits', 'Vet Visits v2', "
                        "'{cat}', NULL, 'api_sync', 'daily')")
    assert first == again
    row = sql(db_url, "SELECT display_name, ingest_frequency FROM trapper.orchestrator_sources "
                      "WHERE source_system = 'vet'")[0]
    assert (row["display_name"], row["ingest_frequency"]) == ("Vet Visits v2", "daily")
    with pytest.raises(asyncpg.InvalidParameterValueError, match="lowercase"):
        sql(db_url, "SELECT trapper.register_source('Vet Clinic', 'x', 'bad')")


def _survey(**fields: str) -> dict[str, str]:
    row = {"response_id": "r1", "survey_date": "05/01/2026", "first_name": "Ann",
           "last_name": "Lee", "email": "ann@lee.org", "phone": "707-823-1000",
           "address": "12 Oak St, Petaluma, CA 94952", "cat_count": "7", "kittens_seen": ""}
    row.update(fields)
    return row


def _route(url: str, payload: dict[str, str]) -> tuple[dict, list]:
    sid = stage(url, "client_survey", "responses", payload, payload["response_id"])
    out = json.loads(val(url, "SELECT trapper.route_staged_record($1)", sid))
    log = sql(url, "SELECT action, target_surface, decision_reason, rule_version, "
                   "routing_rule_id, decision_details FROM trapper.orchestrator_job_log "
                   "WHERE staged_record_id = $1 ORDER BY log_seq", sid)
    return out, log


def test_the_router_routes_and_logs_every_decision(db_url: str) -> None:
    out, log = _route(db_url, _survey())
    actions = {(r["action"], r["target_surface"]) for r in log}
    assert actions == {("routed", "places"), ("routed", "sot_people"),
                       ("routed", "place_colony_estimates")}
    assert out["entity_type"] == "person" and out["created"] is True
    person_log = next(r for r in log if r["target_surface"] == "sot_people")
    details = json.loads(person_log["decision_details"])
    assert details["values"]["phone"] == "7078231000"        # the transform ran
    assert details["decision_type"] == "new_entity" and person_log["routing_rule_id"]
    estimate = sql(db_url, "SELECT e.total_cats, e.observation_date, p.address_key "
                           "FROM trapper.place_colony_estimates e JOIN trapper.places p "
                           "USING (place_id)")[0]
    assert estimate["total_cats"] == 7 and str(estimate["observation_date"]) == "2026-05-01"
    assert estimate["address_key"] == "12|oak st||petaluma"  # on the place this row created
    assert val(db_url, "SELECT count(*) FROM trapper.person_place WHERE role = 'resident'") == 1
    # the same person again: matched, and the log says why
    _, again = _route(db_url, _survey(response_id="r2", first_name="ANN"))
    reasons = {r["target_surface"]: (r["action"], r["decision_reason"]) for r in again}
    assert reasons["sot_people"][0] == "merged"
    assert reasons["sot_people"][1].startswith("matched existing person via email and phone")
    assert reasons["places"] == ("merged", "matched existing place by its address")


def test_a_missing_required_field_rejects_the_record_and_writes_nothing(db_url: str) -> None:
    out, log = _route(db_url, _survey(address=""))
    assert [(r["action"], r["decision_reason"]) for r in log] == [
        ("rejected", "rejected: required field address missing")]
    assert out["decisions"][0]["action"] == "rejected"
    assert val(db_url, "SELECT count(*) FROM trapper.sot_people") == 0
    assert val(db_url, "SELECT count(*) FROM trapper.places") == 0


def test_empty_fields_and_failed_transforms_are_skipped_with_a_reason(db_url: str) -> None:
    _, log = _route(db_url, _survey(email="", cat_count="a few"))
    reasons = [r["decision_reason"] for r in log if r["action"] == "skipped"]
    assert "skipped: field email is empty" in reasons
    assert "skipped: to_integer($1) gave nothing for cat_count = 'a few'" in reasons
    assert val(db_url, "SELECT count(*) FROM trapper.sot_people") == 1  # phone was enough


def test_a_decision_names_the_rule_as_it_was(db_url: str) -> None:
    rule = val(db_url, "SELECT rule_id FROM trapper.orchestrator_routing_rules WHERE "
                       "source_system = 'client_survey' AND source_field = 'email'")
    _route(db_url, _survey())
    sql(db_url, "UPDATE trapper.orchestrator_routing_rules SET is_required = true "
                "WHERE rule_id = $1", rule)
    assert val(db_url, "SELECT rule_version FROM trapper.orchestrator_routing_rules "
                       "WHERE rule_id = $1", rule) == 2
    _, log = _route(db_url, _survey(response_id="r9", email=""))
    assert [(r["action"], r["rule_version"]) for r in log] == [("rejected", 2)]


def test_dry_run_shows_what_a_rule_change_would_do_and_keeps_nothing(
    db_url: str, tmp_path: Path
) -> None:
    csv_file = tmp_path / "survey.csv"
    csv_file.write_text("response_id,survey_date,first_name,last_name,email,phone,address,"
                        "cat_count,kittens_seen\n"
                        "a1,05/01/2026,Ann,Lee,,707-823-1000,\"12 Oak St, Petaluma, CA\",3,\n"
                        "a2,05/02/2026,Bob,Ray,bob@ray.org,,\"14 Oak St, Petaluma, CA\",2,\n")
    env = {"DATABASE_URL": db_url}
    assert run_cli("ingest", "client_survey/responses", str(csv_file), env=env).returncode == 0
    assert run_cli("process", env=env).returncode == 0
    counts = "SELECT (SELECT count(*) FROM trapper.sot_people), " \
             "(SELECT count(*) FROM trapper.places), " \
             "(SELECT count(*) FROM trapper.orchestrator_job_log), " \
             "(SELECT count(*) FROM trapper.data_engine_match_decisions)"
    before = tuple(sql(db_url, counts)[0])
    execute(db_url, "UPDATE trapper.orchestrator_routing_rules SET is_required = true "
                    "WHERE source_system = 'client_survey' AND source_field = 'email'")
    result = run_cli("route", "client_survey/responses", "--dry-run", "--json", env=env)
    assert result.returncode == 0, result.stderr
    dry = json.loads(result.stdout)
    assert dry["records"] == 2
    changed = {c["staged_record_id"]: c for c in dry["changed"]}
    a1 = val(db_url, "SELECT id FROM trapper.staged_records WHERE source_row_id = 'a1'")
    assert [d["action"] for d in changed[a1]["now"]] == ["rejected"]
    assert [d["surface"] for d in changed[a1]["differences"]] == [
        "place_colony_estimates", "places", "sot_people"]
    assert dry["summary"]["changed"] == 1 and dry["summary"]["unchanged"] == 1
    assert tuple(sql(db_url, counts)[0]) == before


def _dry(env: dict[str, str], source: str) -> dict:
    result = run_cli("route", source, "--dry-run", "--limit", "1000", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_dry_run_is_a_what_if_by_outcome(db_url: str, world: Path, tmp_path: Path) -> None:
    """No rule change: no record changed, for every source, though the entities each record
    created exist now (a label would say routed → merged). A changed rule: exactly the
    records whose outcome it changes, each difference before → after."""
    env = {"DATABASE_URL": db_url}
    survey = tmp_path / "survey.csv"
    assert run_cli("demo", "survey", "--rows", "300", "--seed", "4", "--out", str(survey),
                   env=env).returncode == 0
    assert run_cli("ingest", "--manifest", str(world / "manifest.json"),
                   env=env).returncode == 0
    assert run_cli("ingest", "client_survey/responses", str(survey), env=env).returncode == 0
    assert run_cli("process", env=env, timeout=300).returncode == 0
    sources = [f"{a}/{b}" for a, b in sql(db_url, "SELECT DISTINCT source_system, "
                                                  "source_table FROM trapper.staged_records")]
    assert len(sources) == 16
    for source in sources:
        assert _dry(env, source)["summary"]["changed"] == 0, source
    dry = _dry(env, "client_survey/responses")
    assert dry["summary"] == {"records": 300, "compared": 300, "changed": 0, "unchanged": 300,
                              "same_outcome_other_rules": 0, "not_routed_before": 0}
    assert any(d["action"] == "merged" for d in dry["decisions"])
    with_estimate = {r[0] for r in sql(
        db_url, "SELECT staged_record_id FROM trapper.orchestrator_job_log "
                "WHERE source_system = 'client_survey' AND action = 'routed' "
                "AND target_surface = 'place_colony_estimates'")}
    assert 0 < len(with_estimate) < 300
    # a rule deactivated: exactly the records that had a colony estimate change
    execute(db_url, "UPDATE trapper.orchestrator_routing_rules SET is_active = false "
                    "WHERE source_system = 'client_survey' AND source_field = 'cat_count'")
    dry = _dry(env, "client_survey/responses")
    assert {c["staged_record_id"] for c in dry["changed"]} == with_estimate
    assert dry["summary"]["changed"] == len(with_estimate)
    for c in dry["changed"]:
        assert [d["surface"] for d in c["differences"]] == ["place_colony_estimates"]
        d = c["differences"][0]
        assert [r["action"] for r in d["before"]] == ["routed"]
        assert " → skipped" in d["summary"]
    # its target field changed instead: the same records, now a new rule version
    execute(db_url, "UPDATE trapper.orchestrator_routing_rules SET is_active = true, "
                    "target_field = 'adult_count' WHERE source_system = 'client_survey' "
                    "AND source_field = 'cat_count'")
    dry = _dry(env, "client_survey/responses")
    assert {c["staged_record_id"] for c in dry["changed"]} == with_estimate
    assert dry["summary"]["same_outcome_other_rules"] > 0
    out = run_cli("route", "client_survey/responses", "--dry-run", "--limit", "1000", env=env)
    assert f"{len(with_estimate)} would end differently" in out.stderr + out.stdout
    assert "place_colony_estimates: routed" in out.stdout


def test_onboarding_a_new_source_with_sql_alone(db_url: str, tmp_path: Path) -> None:
    execute(db_url, """
        INSERT INTO trapper.orchestrator_sources
            (source_system, source_table, display_name, entity_types_produced,
             processor_name, ingest_method, ingest_frequency, expected_fields,
             id_field_candidates)
        VALUES ('barn_cats', 'reports', 'Barn Cat Reports', '{person,place,colony_estimate}',
                'orchestrator_router', 'file_upload', 'on_demand',
                trapper.orchestrator_fields(ARRAY['report_no', 'reporter_email', 'barn_address',
                                                  'cats'], ARRAY['report_no']),
                ARRAY['report_no']);
        INSERT INTO trapper.orchestrator_routing_rules
            (source_system, source_table, source_field, target_surface, target_field,
             routing_type, target_function, transform_expression, is_required)
        VALUES
            ('barn_cats', 'reports', 'barn_address', 'places', 'formatted_address',
             'function_call', 'find_or_create_place_deduped', NULL, true),
            ('barn_cats', 'reports', 'reporter_email', 'sot_people', 'email', 'transform',
             'find_or_create_person', 'norm_email($1)', false),
            ('barn_cats', 'reports', 'cats', 'place_colony_estimates', 'total_cats',
             'transform', NULL, 'to_integer($1)', false);
    """)
    f = tmp_path / "reports.csv"
    f.write_text("report_no,reporter_email,barn_address,cats\n"
                 "1,Farm@Example.org,\"300 Ranch Rd, Sonoma, CA 95476\",12\n"
                 "2,,,4\n")
    env = {"DATABASE_URL": db_url}
    assert run_cli("ingest", "barn_cats/reports", str(f), env=env).returncode == 0
    done = run_cli("process", "--json", env=env)
    assert done.returncode == 0 and json.loads(done.stdout)["jobs_completed"] == 1
    assert val(db_url, "SELECT total_cats FROM trapper.place_colony_estimates") == 12
    log = {r["source_record_id"]: r["decision_reason"] for r in sql(
        db_url, "SELECT source_record_id, decision_reason FROM trapper.orchestrator_job_log "
                "WHERE action = 'rejected'")}
    assert log == {"2": "rejected: required field barn_address missing"}
    # "why is report 2 missing?" is one query
    why = sql(db_url, "SELECT action, decision_reason FROM trapper.orchestrator_job_log "
                      "WHERE source_system = 'barn_cats' AND source_table = 'reports' "
                      "AND source_record_id = '2' ORDER BY log_seq")
    assert [r["action"] for r in why] == ["rejected"]


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate(out, scale="small", seed=9)
    return out


def test_every_rule_field_occurs_in_its_source_s_payloads(
    db_url: str, small_world: Path
) -> None:
    env = {"DATABASE_URL": db_url}
    assert run_cli("ingest", "--manifest", str(small_world / "manifest.json"),
                   env=env).returncode == 0
    result = run_cli("rules", "check", "--json", env=env)
    rows = json.loads(result.stdout)
    unmatched = [(r["source_system"], r["source_table"], r["source_field"]) for r in rows
                 if r["status"] == "matches nothing"]
    assert not unmatched and result.returncode == 0
    checked = {(r["source_system"], r["source_table"]) for r in rows if r["status"] == "ok"}
    assert len(checked) == 15   # every source of the world, client_survey aside
    # a rule whose field no payload has is reported, and the command exits 1
    execute(db_url, "INSERT INTO trapper.orchestrator_routing_rules (source_system, "
                    "source_table, source_field, target_surface, target_field) VALUES "
                    "('clinichq', 'owner_info', 'owner_email', 'sot_people', 'address')")
    bad = run_cli("rules", "check", env=env)
    assert bad.returncode == 1 and "matches nothing" in bad.stdout


SEED_QUERIES = [
    # What sources feed Atlas?
    "SELECT source_system, source_table, display_name, is_active, last_ingest_at "
    "FROM trapper.orchestrator_sources ORDER BY source_system",
    # Which sources haven't ingested in 7 days?
    "SELECT display_name, last_ingest_at, ingest_frequency FROM trapper.orchestrator_sources "
    "WHERE is_active AND last_ingest_at < NOW() - INTERVAL '7 days' "
    "AND ingest_frequency != 'on_demand'",
    # What entity types does each source produce?
    "SELECT source_system, source_table, unnest(entity_types_produced) AS entity_type "
    "FROM trapper.orchestrator_sources WHERE is_active",
    # Routing success rate by source
    "SELECT source_system, source_table, COUNT(*) FILTER (WHERE action = 'routed') AS routed, "
    "COUNT(*) FILTER (WHERE action = 'skipped') AS skipped, "
    "COUNT(*) FILTER (WHERE action = 'error') AS errors, "
    "COUNT(*) FILTER (WHERE action = 'anomaly_flagged') AS anomalies "
    "FROM trapper.orchestrator_job_log WHERE logged_at > NOW() - INTERVAL '7 days' "
    "GROUP BY source_system, source_table",
]


def test_the_seed_s_queries_work_as_written(db_url: str) -> None:
    _route(db_url, _survey())
    sources, silent, types, rates = (sql(db_url, q) for q in SEED_QUERIES)
    assert len(sources) == 16 and silent == []
    assert ("clinichq", "owner_info", "place") in {tuple(r) for r in types}
    assert [tuple(r) for r in rates] == [("client_survey", "responses", 3, 0, 0, 0)]


# ---- dependencies (ORCH_005) -------------------------------------------------------------

def test_dependency_cycles_are_refused(db_url: str) -> None:
    with pytest.raises(asyncpg.InvalidParameterValueError, match="dependency cycle refused"):
        sql(db_url, "INSERT INTO trapper.orchestrator_source_dependencies VALUES "
                    "('clinichq', 'appointment_info', 'clinichq', 'owner_info', 'loop', now())")


def test_a_job_waits_for_its_dependencies_and_explains_why(db_url: str) -> None:
    owner_row = stage(db_url, "clinichq", "owner_info", {
        "Number": "25-1", "Date": "03/14/2025", "Owner First Name": "Ann",
        "Owner Last Name": "Lee", "Owner Email": "ann@lee.org"}, "25-1_2025-03-14")
    stage(db_url, "clinichq", "appointment_info", {
        "Number": "25-1", "Date": "03/14/2025", "Microchip Number": "981020000000042",
        "All Services": ["Spay"]}, "25-1_2025-03-14b")
    # the owner job is queued first, and at a higher priority: it must still wait
    owner_job = val(db_url, "SELECT trapper.enqueue_processing('clinichq', 'owner_info', "
                            "'test', NULL, 10)")
    appt_job = val(db_url, "SELECT trapper.enqueue_processing('clinichq', 'appointment_info')")
    env = {"DATABASE_URL": db_url}
    explained = run_cli("jobs", "explain", str(owner_job), "--json", env=env)
    assert explained.returncode == 0, explained.stderr
    assert "waits for clinichq/appointment_info" in json.loads(explained.stdout)["explanation"]
    first = json.loads(val(db_url, "SELECT trapper.orchestrator_process_next_job(100)"))
    assert first["job_id"] == str(appt_job)
    second = json.loads(val(db_url, "SELECT trapper.orchestrator_process_next_job(100)"))
    assert second["job_id"] == str(owner_job) and second["status"] == "completed"
    # the owner found the appointment the dependency order guaranteed was there
    assert val(db_url, "SELECT person_id IS NOT NULL FROM trapper.sot_appointments")
    assert val(db_url, "SELECT count(*) FROM trapper.person_cat") == 1
    assert owner_row


def test_jobs_explain_refuses_bad_and_unknown_ids(db_url: str) -> None:
    env = {"DATABASE_URL": db_url}
    bad = run_cli("jobs", "explain", "not-a-uuid", env=env)
    assert bad.returncode == 2 and "is not a job id" in bad.stderr
    unknown = run_cli("jobs", "explain", "00000000-0000-0000-0000-000000000000", env=env)
    assert unknown.returncode == 1 and "no job" in unknown.stderr


# ---- confidence and survivorship (ORCH_006) ----------------------------------------------

def test_survivorship_lets_the_stronger_source_win_each_field(db_url: str) -> None:
    # an intake form (rank 8) creates the person, a survey (rank 7) improves the name,
    # and a later intake form (weaker) does not overwrite it
    execute(db_url, """
        SELECT trapper.register_source('web_intake', 'forms', 'Forms', '{person}',
            'orchestrator_router', 'webhook', 'realtime',
            trapper.orchestrator_fields(ARRAY['email', 'name']));
        SELECT trapper.map_source_field('web_intake', 'forms', 'email', 'sot_people', 'email',
            'function_call', 'find_or_create_person');
        SELECT trapper.map_source_field('web_intake', 'forms', 'name', 'sot_people',
            'first_name', 'direct', 'find_or_create_person');""")
    sid = stage(db_url, "web_intake", "forms", {"email": "kim@x.org", "name": "kimberly"}, "f1")
    val(db_url, "SELECT trapper.route_staged_record($1)", sid)
    _route(db_url, _survey(response_id="s1", email="kim@x.org", first_name="Kimberly",
                           last_name="", phone="", address="1 Elm St, Sonoma, CA"))
    sid = stage(db_url, "web_intake", "forms", {"email": "kim@x.org", "name": "K"}, "f2")
    val(db_url, "SELECT trapper.route_staged_record($1)", sid)
    assert val(db_url, "SELECT first_name FROM trapper.sot_people") == "Kimberly"
    details = [json.loads(r["decision_details"]) for r in sql(
        db_url, "SELECT decision_details FROM trapper.orchestrator_job_log "
                "WHERE target_surface = 'sot_people' AND action IN ('routed', 'merged') "
                "ORDER BY log_seq")]
    assert details[1]["survivorship"][0]["decision"] == "replaced"
    assert details[2]["survivorship"][0]["decision"] == "kept"


def test_colony_estimates_are_weighed_by_source_confidence(db_url: str) -> None:
    pid = val(db_url, "SELECT trapper.find_or_create_place_deduped('8 Birch Ct, Cotati, CA')")
    execute(db_url, f"""INSERT INTO trapper.place_colony_estimates
        (place_id, total_cats, source_type, source_system, source_record_id) VALUES
        ('{pid}', 10, 'trapping_request', 'airtable', 'a'),
        ('{pid}', 30, 'intake_form', 'web_intake', 'b')""")
    row = sql(db_url, "SELECT * FROM trapper.v_orchestrator_colony_estimates_weighted")[0]
    # (10 * .8 + 30 * .55) / 1.35
    assert float(row["weighted_total_cats"]) == 18.1 and row["estimates"] == 2


def _plan_indexes(plan: dict) -> set[str]:
    found = set()
    if "Index Name" in plan:
        found.add(plan["Index Name"])
    for child in plan.get("Plans", []):
        found |= _plan_indexes(child)
    return found


def test_the_why_and_provenance_queries_use_their_index(db_url: str) -> None:
    execute(db_url, """
        INSERT INTO trapper.orchestrator_job_log (action, source_system, source_table,
            source_record_id, target_surface, target_entity_id, decision_reason)
        SELECT 'routed', 'bench', 'rows', 'r' || i, 'sot_people', md5(i::text)::uuid, 'x'
        FROM generate_series(1, 20000) i;
        ANALYZE trapper.orchestrator_job_log;""")
    what = json.loads(val(db_url, "EXPLAIN (FORMAT JSON) SELECT * FROM "
                                  "trapper.orchestrator_job_log WHERE source_system = 'bench' "
                                  "AND source_table = 'rows' AND source_record_id = 'r42' "
                                  "ORDER BY logged_at"))[0]["Plan"]
    where = json.loads(val(db_url, "EXPLAIN (FORMAT JSON) SELECT * FROM "
                                   "trapper.orchestrator_job_log WHERE target_entity_id = "
                                   "md5('42')::uuid ORDER BY logged_at"))[0]["Plan"]
    # the log is partitioned by month (orchestrator 018): a plan names each month's index,
    # whose parent is the seed's
    parents = ("SELECT array_agg(DISTINCT i.inhparent::regclass::text) FROM pg_inherits i "
               "WHERE i.inhrelid = ANY (SELECT to_regclass('trapper.' || n) "
               "FROM unnest($1::text[]) n)")
    assert "trapper.idx_orchestrator_job_log_source" in val(
        db_url, parents, sorted(_plan_indexes(what)))
    assert "trapper.idx_orchestrator_job_log_target" in val(
        db_url, parents, sorted(_plan_indexes(where)))


def test_survivorship_covers_cats_and_places(db_url: str) -> None:
    cat = val(db_url, "SELECT trapper.find_or_create_cat_by_microchip('981020000000777', "
                      "'Shadow', p_source => 'clinichq')")
    surv = "SELECT trapper.orchestrator_apply_survivorship('cat', $1, $2, $3::jsonb, $4)"
    val(db_url, surv, cat, "clinichq", json.dumps({"name": "Shadow", "sex": "Male"}), True)
    kept = json.loads(val(db_url, surv, cat, "web_intake", json.dumps({"name": "Smokey"}),
                          False))
    assert kept == [{"field": "name", "decision": "kept", "kept": "Shadow",
                     "kept_source": "clinichq", "offered": "Smokey",
                     "offered_source": "web_intake"}]
    replaced = json.loads(val(db_url, surv, cat, "atlas_ui", json.dumps({"name": "Shade"}),
                              False))
    assert replaced[0]["decision"] == "replaced"
    assert val(db_url, "SELECT display_name FROM trapper.sot_cats") == "Shade"
    place = val(db_url, "SELECT trapper.find_or_create_place_deduped('4 Ash St, Cotati, CA')")
    val(db_url, surv.replace("'cat'", "'place'"), place, "atlas_ui",
        json.dumps({"display_name": "Ash St colony"}), False)
    assert val(db_url, "SELECT display_name FROM trapper.places") == "Ash St colony"
