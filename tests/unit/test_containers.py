"""The container files do what the docs/operations.md's "Containers" section says: one image
built from
the wheel by a multi-stage Dockerfile, run as a non-root user; compose runs the database, a
one-shot schema install, the server and a worker, each with a healthcheck, and installs no
package when a container starts. (No Docker engine runs here: these read the files, and
`docker-compose config` validates them where the client is installed.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

ROOT = Path(REPO)


def _compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return doc


def test_the_image_is_built_from_the_wheel_in_two_stages_and_runs_as_a_user() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+", text, re.M)
    assert len(stages) == 2, stages
    assert "pip wheel" in text and "COPY --from=build /wheels" in text
    user = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert user and user[-1] not in ("root", "0")
    assert "HEALTHCHECK" in text
    # readiness, not liveness: an image whose database is gone is not healthy
    assert "/api/health/ready" in text.split("HEALTHCHECK", 1)[1]
    # the wheel needs these; a folder missing from the build context breaks the image
    for copied in re.findall(r"^COPY\s+(?!--)(\S+)", text, re.M):
        for name in copied.split():
            assert (ROOT / name).exists(), f"Dockerfile copies {name}, which does not exist"


def test_compose_runs_db_install_server_and_worker_with_healthchecks() -> None:
    services = _compose()["services"]
    assert {"db", "install", "server", "worker"} <= set(services)
    for name in ("db", "server", "worker"):
        assert "healthcheck" in services[name], name
    assert services["server"]["command"][:2] == ["atlas-orch", "serve"]
    assert any("/api/health/ready" in part for part in services["server"]["healthcheck"]["test"])
    assert services["worker"]["command"][:2] == ["atlas-orch", "worker"]
    for name in ("server", "worker"):
        needs = services[name]["depends_on"]
        assert needs["install"]["condition"] == "service_completed_successfully"
    for name, service in services.items():
        command = " ".join(service.get("command") or [])
        assert "pip install" not in command, f"{name} installs a package at start"
        assert "volumes" not in service or name == "db", f"{name} mounts the checkout"


@pytest.mark.skipif(shutil.which("docker-compose") is None,
                    reason="docker-compose is not installed")
def test_compose_file_is_valid() -> None:
    env = {**os.environ, "ATLAS_ORCH_ADMIN_TOKEN": "x"}
    result = subprocess.run(["docker-compose", "-f", str(ROOT / "docker-compose.yml"),
                             "config", "-q"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
