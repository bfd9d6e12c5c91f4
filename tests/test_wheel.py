"""The distribution carries everything: the sdist and the wheel built from the checkout hold
every file the package reads at run time, and the wheel, installed into a fresh virtual
environment outside the checkout, runs the README's tour on an empty database
(docs/operations.md, "Installing")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

from tests.conftest import REPO

# What the package reads at run time lives in these folders; the wheel carries sql/ as
# listener/sql (listener.schema.migrations.sql_root() finds it there).
PACKAGE_FOLDERS = ("listener", "webhooks", "synthetic", "sql")


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def _source_files() -> set[str]:
    """Every file of the package folders in the checkout, as a path relative to it."""
    root = Path(REPO)
    found = set()
    for folder in PACKAGE_FOLDERS:
        for path in (root / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                found.add(path.relative_to(root).as_posix())
    return found


def _in_wheel(path: str) -> str:
    return "listener/" + path if path.startswith("sql/") else path


def test_the_wheel_installs_the_schema_from_outside_the_checkout(
    tmp_path: Path, empty_db_url: str
) -> None:
    # a user's environment: no checkout on the path, no SQL folder named. pip gets it too:
    # with the checkout on PYTHONPATH, the build's in-tree egg-info reads as "already
    # installed" and pip skips the wheel.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "ATLAS_ORCH_SQL_DIR", "ATLAS_ORCH_DATABASE_URL",
                        "DATABASE_URL", "ATLAS_ORCH_ADMIN_TOKEN", "ATLAS_ORCH_READ_TOKEN")}
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"

    # The sdist with the setuptools pyproject.toml asks for (the venv's own is older).
    tooled = _run(bin_dir / "pip", "install", "-q", "setuptools>=68", cwd=tmp_path, env=env)
    assert tooled.returncode == 0, tooled.stderr
    sdist_built = _run(bin_dir / "python", "-c",
                       "import sys; from setuptools import build_meta as b; "
                       "print(b.build_sdist(sys.argv[1]))", tmp_path / "dist",
                       cwd=REPO, env=env)
    assert sdist_built.returncode == 0, sdist_built.stderr
    sdist = tmp_path / "dist" / sdist_built.stdout.split()[-1]
    with tarfile.open(sdist) as tar:
        in_sdist = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    expected = _source_files()
    assert not expected - in_sdist, f"missing from the sdist: {sorted(expected - in_sdist)}"

    # From the checkout, as `make install` builds (its editable install shows what setuptools
    # warns; -v shows it here, where an sdist's build would not).
    built = _run(sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", REPO,
                 "-w", tmp_path / "dist", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert "would be ignored" not in built.stdout + built.stderr, "setuptools warns"
    (wheel,) = (tmp_path / "dist").glob("atlas_orchestrator-*.whl")
    with zipfile.ZipFile(wheel) as whl:
        in_wheel = set(whl.namelist())
    missing = sorted(p for p in expected if _in_wheel(p) not in in_wheel)
    assert not missing, f"missing from the wheel: {missing}"

    installed = _run(bin_dir / "pip", "install", "-q", wheel, cwd=tmp_path, env=env)
    assert installed.returncode == 0, installed.stderr
    checked = _run(bin_dir / "pip", "check", cwd=tmp_path, env=env)
    assert checked.returncode == 0, checked.stdout

    env["DATABASE_URL"] = empty_db_url
    where = _run(bin_dir / "python", "-c",
                 "import listener, listener.schema.migrations as m; print(listener.__file__); "
                 "print(m.sql_root())", cwd=tmp_path, env=env)
    assert where.returncode == 0, where.stderr
    module, sql_root = where.stdout.split()
    assert module.startswith(str(env_dir)) and sql_root.startswith(str(env_dir)), where.stdout
    page = Path(module).parent / "web" / "static" / "data-health.html"
    assert page.exists(), "the page is package data"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        result = _run(bin_dir / "atlas-orch", *args, cwd=tmp_path, env=env)
        assert result.returncode == 0, f"atlas-orch {' '.join(args)}: {result.stderr}"
        return result

    assert "0.1" in cli("--version").stdout
    # every command's --help from the wheel: each imports its modules and the named queries
    # beside them (a module or .sql file left out of the package fails here, not at a user's)
    listed = _run(bin_dir / "python", "-c", _LIST_COMMANDS, cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    commands = [line.split() for line in listed.stdout.splitlines()]
    assert ["demo", "run"] in commands and len(commands) > 30, commands
    for command in commands:
        assert "Usage: atlas-orch" in cli(*command, "--help").stdout
    # a failure from the wheel: one line, and JSON on stdout with --json
    refused_db = _run(bin_dir / "atlas-orch", "health", "--json", cwd=tmp_path,
                      env={**env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x"})
    assert refused_db.returncode == 1 and "Traceback" not in refused_db.stderr
    assert json.loads(refused_db.stdout)["error"]["code"] == "cannot_connect"
    assert "applied" in cli("install", "--with-core").stderr
    cli("verify")
    # the README's tour: the named queries beside each module are package data too
    cli("demo", "generate", "--out", "world")       # synthetic/partner_signups.sql
    cli("ingest", "--manifest", "world/manifest.json")
    cli("process")
    cli("listen", "--once")
    assert "healthy" in cli("health").stdout
    assert "issue_type" in cli("why-missing").stdout
    refused = _run(bin_dir / "atlas-orch", "serve", "--port", "1", cwd=tmp_path, env=env)
    assert refused.returncode == 1 and "ATLAS_ORCH_ADMIN_TOKEN" in refused.stderr, refused
    assert "Traceback" not in refused.stderr
    assert "dropped" in cli("uninstall").stderr


# every command's path (``review merge``), one a line, from the installed package
_LIST_COMMANDS = """
import click
from listener.cli.main import cli
def walk(cmd, path):
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            walk(sub, [*path, name])
    else:
        print(" ".join(path))
walk(cli, [])
"""
