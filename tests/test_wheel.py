"""The wheel carries everything: built from the checkout, installed into a fresh virtual
environment outside it, it installs the schema on an empty database (docs/operations.md,
"Installing")."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

from tests.conftest import REPO


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def test_the_wheel_installs_the_schema_from_outside_the_checkout(
    tmp_path: Path, empty_db_url: str
) -> None:
    built = _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", REPO,
                 "-w", tmp_path / "dist", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("atlas_orchestrator-*.whl")

    # a user's environment: no checkout on the path, no SQL folder named. pip gets it too:
    # with the checkout on PYTHONPATH, the build's in-tree egg-info reads as "already
    # installed" and pip skips the wheel.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "ATLAS_ORCH_SQL_DIR", "ATLAS_ORCH_DATABASE_URL")}
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    installed = _run(bin_dir / "pip", "install", "-q", wheel, cwd=tmp_path, env=env)
    assert installed.returncode == 0, installed.stderr

    env["DATABASE_URL"] = empty_db_url
    where = _run(bin_dir / "python", "-c",
                 "import listener, listener.schema.migrations as m; print(listener.__file__); "
                 "print(m.sql_root())", cwd=tmp_path, env=env)
    assert where.returncode == 0, where.stderr
    module, sql_root = where.stdout.split()
    assert module.startswith(str(env_dir)) and sql_root.startswith(str(env_dir)), where.stdout

    result = _run(bin_dir / "atlas-orch", "install", "--with-core", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "applied" in result.stderr
    verified = _run(bin_dir / "atlas-orch", "verify", cwd=tmp_path, env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    page = Path(module).parent / "web" / "static" / "data-health.html"
    assert page.exists(), "the page is package data"
