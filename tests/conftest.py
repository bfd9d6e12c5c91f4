from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.fake_slack import FakeSlack
from tests.helpers import execute
from tests.pg import Server, test_server

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# CI (.ci/run sets CI=true) runs the property tests on the same examples every time, so a
# submission cannot fail on an example no one has seen; run them locally (random, with the
# example database) to explore further.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def pg() -> Iterator[Server]:
    """The session's server, with the schema built once into template databases."""
    with test_server() as server:
        server.build_template("full", "with-core")
        server.build_template("core", "core-only")
        yield server


@pytest.fixture(autouse=True)
def _quiet_server(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test marked ``quiet_server`` runs with no CREATE or DROP DATABASE of the session's
    in flight: each holds a transaction id that is in every snapshot on the server, so one
    running beside the test would keep the xmin horizon below the test's own transactions."""
    if request.node.get_closest_marker("quiet_server") is None:
        yield
        return
    pg: Server = request.getfixturevalue("pg")
    with pg.quiet():
        yield


def _fresh(pg: Server, template: str | None) -> Iterator[str]:
    name = pg.create(template)
    try:
        yield pg.url(name)
    finally:
        pg.drop(name)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small synthetic world (seed 3), written once per session."""
    from synthetic.generate import generate

    out = tmp_path_factory.mktemp("world")
    generate(out, scale="small", seed=3)
    return out


@pytest.fixture
def db_url(pg: Server) -> Iterator[str]:
    """A fresh database with the engines, the orchestrator and the shadow triggers."""
    yield from _fresh(pg, "full")


@pytest.fixture
def core_db_url(pg: Server) -> Iterator[str]:
    """A fresh database with the engines alone: a host before the orchestrator arrives."""
    yield from _fresh(pg, "core")


@pytest.fixture
def empty_db_url(pg: Server) -> Iterator[str]:
    """A fresh, empty database."""
    yield from _fresh(pg, None)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """A fake Slack incoming webhook on 127.0.0.1 (tests/fake_slack.py), for the alert tests."""
    server = FakeSlack()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def alerts_db(db_url: str) -> str:
    """A fresh full database whose alerts go out without the grouping wait."""
    execute(db_url, "UPDATE trapper.orchestrator_health_settings SET value = 0 "
                    "WHERE key = 'alert_group_wait_s'")
    return db_url


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``atlas-orch`` as a user would, in a subprocess."""
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("DATABASE_URL", "ATLAS_ORCH_DATABASE_URL")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "listener", *args],
        capture_output=True, text=True, env=full_env, timeout=timeout, cwd=REPO,
        stdin=subprocess.DEVNULL,
    )
