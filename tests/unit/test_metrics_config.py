"""The metrics scope and the readiness limits, as `serve` reads them from the environment
(no PostgreSQL: tests/test_metrics.py scrapes and probes a real server)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from listener.admin.metrics import ReadyLimits, exposition
from listener.core.errors import UserError
from listener.web.app import Tokens


def test_a_metrics_token_has_its_own_scope_and_the_open_mode_must_be_asked_for() -> None:
    tokens = Tokens.from_env({"ATLAS_ORCH_ADMIN_TOKEN": "a", "ATLAS_ORCH_READ_TOKEN": "r",
                              "ATLAS_ORCH_METRICS_TOKEN": "m1, m2"})
    assert [tokens.scope(t) for t in ("a", "r", "m1", "m2", "x", None)] == [
        "admin", "read", "metrics", "metrics", None, None]
    assert not tokens.metrics_open and "m2" in tokens.all()
    assert Tokens.from_env({"ATLAS_ORCH_METRICS_OPEN": "1"}).metrics_open
    assert not Tokens.from_env({"ATLAS_ORCH_METRICS_OPEN": "0"}).metrics_open
    with pytest.raises(UserError, match="must be 1 or 0"):
        Tokens.from_env({"ATLAS_ORCH_METRICS_OPEN": "please"})


def test_readiness_limits_have_defaults_and_refuse_nonsense() -> None:
    assert ReadyLimits.from_env({}) == ReadyLimits(300.0, None, frozenset())
    limits = ReadyLimits.from_env({"ATLAS_ORCH_READY_LISTENER_LAG_S": "60",
                                   "ATLAS_ORCH_READY_STUCK_JOB_S": "120",
                                   "ATLAS_ORCH_READY_IGNORE": "job_stuck, listener_lagging"})
    assert limits == ReadyLimits(60.0, 120.0, frozenset({"job_stuck", "listener_lagging"}))
    for name, raw in (("ATLAS_ORCH_READY_LISTENER_LAG_S", "0"),
                      ("ATLAS_ORCH_READY_LISTENER_LAG_S", "nan"),
                      ("ATLAS_ORCH_READY_STUCK_JOB_S", "-5"),
                      ("ATLAS_ORCH_READY_STUCK_JOB_S", "inf")):
        with pytest.raises(UserError, match="number of seconds above 0"):
            ReadyLimits.from_env({name: raw})
    with pytest.raises(UserError, match="unknown reason 'stuck'"):
        ReadyLimits.from_env({"ATLAS_ORCH_READY_IGNORE": "stuck"})


def test_an_unreadable_database_is_a_series_not_a_failed_scrape() -> None:
    fams = {f.name: f for f in text_string_to_metric_families(exposition(None).decode())}
    assert list(fams) == ["atlas_orch_database_up"]
    assert fams["atlas_orch_database_up"].samples[0].value == 0
