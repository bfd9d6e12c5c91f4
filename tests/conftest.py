from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests import fake_slack
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


@pytest.fixture(scope="module")
def _loaded_template(pg: Server, world: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The small world ingested and processed with the CLI and listened to once, as a
    template made once per module (5 to 7 s of load; a copy is a fraction of a second)."""
    from tests.listening import listen_once  # it imports this module

    name = pg.create("full")
    url = pg.url(name)
    env = {"DATABASE_URL": url}
    assert run_cli("ingest", "--manifest", str(world / "manifest.json"), env=env).returncode == 0
    assert run_cli("process", env=env, timeout=300).returncode == 0
    listen_once(url)
    key = f"loaded_{request.module.__name__}"
    pg.add_template(key, name)
    try:
        yield key
    finally:
        pg.drop_template(key)


@pytest.fixture
def loaded(pg: Server, _loaded_template: str) -> Iterator[str]:
    """A fresh full database holding the small world, loaded and listened to."""
    yield from _fresh(pg, _loaded_template)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """A fake Slack incoming webhook on 127.0.0.1 (tests/fake_slack.py), for the alert tests."""
    with fake_slack.running() as server:
        yield server


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
