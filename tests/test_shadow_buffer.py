"""The per-record shadow triggers (identity decisions, entities created) buffer their events
for the transaction and write them at commit: same events, same order, nothing for rolled-back
work, and never an error in the host's transaction."""

from __future__ import annotations

from tests.helpers import execute, sql, val
from tests.test_listener import _warnings_of

EVENTS = ("SELECT kind, source_table, entity_ref, record_ref FROM trapper.orchestrator_events "
          "WHERE kind IN ('entity_created', 'identity_decision', 'job_started') "
          "ORDER BY event_id")


def _person(name: str) -> str:
    return f"INSERT INTO trapper.sot_people (first_name) VALUES ('{name}');"


def _names(url: str) -> list[str]:
    return [r["first_name"] for r in sql(url, """
        SELECT p.first_name FROM trapper.orchestrator_events e
        JOIN trapper.sot_people p ON p.person_id = e.entity_ref::uuid
        WHERE e.kind = 'entity_created' ORDER BY e.event_id""")]


def test_events_are_written_at_commit_in_statement_order(db_url: str) -> None:
    execute(db_url, "BEGIN;" + _person("ann") + """
        INSERT INTO trapper.places (formatted_address) VALUES ('1 Elm St');
        INSERT INTO trapper.data_engine_match_decisions
            (source_system, source_table, source_row_id, decision_type, decision_reason)
        VALUES ('clinichq', 'owner_info', 'r1', 'new_entity', 'no candidate');""" +
        _person("bob") + "COMMIT;")
    rows = sql(db_url, EVENTS)
    assert [(r["kind"], r["source_table"]) for r in rows] == [
        ("entity_created", "sot_people"), ("entity_created", "places"),
        ("identity_decision", "owner_info"), ("entity_created", "sot_people")]
    assert rows[2]["record_ref"] == "r1"
    assert _names(db_url) == ["ann", "bob"]
    # the arming row is gone with its transaction
    assert val(db_url, "SELECT count(*) FROM trapper.orchestrator_event_flush") == 0


def test_rolled_back_work_leaves_no_event_and_keeps_the_rest(db_url: str) -> None:
    execute(db_url, "BEGIN;" + _person("ann") + "SAVEPOINT s;" + _person("gone")
            + "ROLLBACK TO SAVEPOINT s;" + _person("cy") + "COMMIT;")
    execute(db_url, "BEGIN;" + _person("never") + "ROLLBACK;")
    assert _names(db_url) == ["ann", "cy"]
    # the first statement of a transaction armed the flush inside the rolled-back
    # savepoint: the next statement armed it again
    execute(db_url, "BEGIN; SAVEPOINT s;" + _person("lost") + "ROLLBACK TO SAVEPOINT s;"
            + _person("dee") + "COMMIT;")
    assert _names(db_url) == ["ann", "cy", "dee"]


def test_a_long_transaction_flushes_as_it_goes_and_keeps_order(db_url: str) -> None:
    execute(db_url, """
        DO $$ BEGIN
            FOR i IN 1..1000 LOOP
                INSERT INTO trapper.sot_people (first_name) VALUES ('p' || lpad(i::text, 4, '0'));
            END LOOP;
        END $$""")
    names = _names(db_url)
    assert len(names) == 1000
    assert names == sorted(names)
    # 1,000 items of 37 bytes pass the 8 kB mark several times: written in a few statements,
    # not one per row (the events share their transaction's xid either way)
    assert val(db_url, "SELECT count(DISTINCT xid) FROM trapper.orchestrator_events") == 1


def test_other_events_flush_the_buffer_first(db_url: str) -> None:
    execute(db_url, """
        INSERT INTO trapper.processing_jobs (source_system, source_table)
        VALUES ('clinichq', 'owner_info');
        BEGIN;""" + _person("ann") + """
        UPDATE trapper.processing_jobs SET status = 'processing';
        COMMIT;""")
    kinds = [r["kind"] for r in sql(db_url, EVENTS)]
    assert kinds == ["entity_created", "job_started"]


def test_set_constraints_immediate_flushes_early_and_rearms(db_url: str) -> None:
    execute(db_url, "BEGIN;" + _person("ann") + "SET CONSTRAINTS ALL IMMEDIATE;"
            + "SET CONSTRAINTS ALL DEFERRED;" + _person("bob") + "COMMIT;")
    assert _names(db_url) == ["ann", "bob"]
    assert val(db_url, "SELECT count(*) FROM trapper.orchestrator_event_flush") == 0


def test_the_host_commits_when_the_buffered_write_fails(db_url: str) -> None:
    execute(db_url, "ALTER TABLE trapper.orchestrator_events RENAME TO orchestrator_events_x")
    warnings = _warnings_of(db_url, _person("ann") + _person("bob"))
    assert val(db_url, "SELECT count(*) FROM trapper.sot_people") == 2
    assert any("orchestrator_flush_events failed" in w for w in warnings), warnings
    # one failure for the transaction's flush at commit, not one per row (a multi-statement
    # simple query is one transaction)
    assert [tuple(r) for r in sql(db_url, """
        SELECT trigger, sqlstate, count(*) FROM trapper.orchestrator_shadow_failures
        GROUP BY 1, 2""")] == [("orchestrator_flush_events", "42P01", 1)]


def test_without_the_arming_table_events_are_written_at_once(db_url: str) -> None:
    execute(db_url, "ALTER TABLE trapper.orchestrator_event_flush RENAME TO flush_x")
    warnings = _warnings_of(db_url, "BEGIN;" + _person("ann") + _person("bob") + "COMMIT;")
    assert any("orchestrator_event_flush failed" in w for w in warnings), warnings
    assert _names(db_url) == ["ann", "bob"]
    assert val(db_url, "SELECT count(*) FROM trapper.orchestrator_shadow_failures "
                       "WHERE trigger = 'orchestrator_event_flush'") == 2
