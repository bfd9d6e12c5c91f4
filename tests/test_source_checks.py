"""ORCH_013: a source's required fields must be among its expected fields and its processor
must be registered, checked where the row is written (SQL), so every writer is covered."""

from __future__ import annotations

import asyncpg
import pytest

from tests.helpers import execute, sql, val


def test_a_required_field_outside_the_expected_fields_is_refused(db_url: str) -> None:
    with pytest.raises(asyncpg.InvalidParameterValueError,
                       match=r"required field.* email are not among the expected fields"):
        sql(db_url, "SELECT trapper.register_source('vet', 'visits', 'Vet visits', NULL, NULL, "
                    "'file_upload', 'on_demand', "
                    "trapper.orchestrator_fields(ARRAY['visit_id'], ARRAY['visit_id', 'email']))")
    assert val(db_url, "SELECT count(*) FROM trapper.orchestrator_sources "
                       "WHERE source_system = 'vet'") == 0
    fields = val(db_url, "SELECT trapper.orchestrator_fields(ARRAY['a', 'b'], ARRAY['b'])")
    assert '"required": true' in fields and '"field": "b"' in fields


def test_an_unregistered_processor_is_refused_on_insert_and_on_change(db_url: str) -> None:
    with pytest.raises(asyncpg.InvalidParameterValueError,
                       match='processor "no_such_processor" is not registered'):
        sql(db_url, "SELECT trapper.register_source('vet', 'visits', 'Vet visits', NULL, "
                    "'no_such_processor')")
    with pytest.raises(asyncpg.InvalidParameterValueError, match="is not registered"):
        execute(db_url, "INSERT INTO trapper.orchestrator_sources (source_system, "
                        "source_table, display_name, processor_name) "
                        "VALUES ('vet', 'visits', 'Vet visits', 'pg_sleep')")
    # a registered processor, the router, or none at all are accepted
    for processor in ("'clinichq_owner'", "'orchestrator_router'", "NULL"):
        val(db_url, f"SELECT trapper.register_source('vet', 'visits', 'Vet visits', NULL, "
                    f"{processor})")
    with pytest.raises(asyncpg.InvalidParameterValueError, match="is not registered"):
        execute(db_url, "UPDATE trapper.orchestrator_sources SET processor_name = 'nope' "
                        "WHERE source_system = 'vet'")
    # an update that keeps the processor (the upsert's coalesce) is not checked again
    execute(db_url, "UPDATE trapper.orchestrator_sources SET display_name = 'Vets' "
                    "WHERE source_system = 'clinichq'")
