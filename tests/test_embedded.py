"""The embedded default's life cycle (start, url, stop) for root and for the data folder's
owner, and the CLI's one line for a database error."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.conftest import run_cli


def _postmaster_pid(home: Path) -> int | None:
    pidfile = home / "atlas-orchestrator" / "pgdata" / "postmaster.pid"
    if not pidfile.exists():
        return None
    pid = int(pidfile.read_text().split("\n", 1)[0])
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid


def _no_traceback(result: object) -> None:
    assert "Traceback" not in getattr(result, "stderr", ""), getattr(result, "stderr", "")


def test_start_url_stop_cycle(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path)}
    try:
        started = run_cli("embedded", "start", env=env, timeout=180)
        assert started.returncode == 0, started.stderr
        assert _postmaster_pid(tmp_path) is not None
        url = run_cli("embedded", "url", env=env)
        assert url.returncode == 0 and url.stdout.startswith("postgresql://"), url.stderr
        assert "Warning" not in url.stderr, url.stderr

        stopped = run_cli("embedded", "stop", env=env)
        _no_traceback(stopped)
        assert stopped.returncode == 0
        assert "embedded server stopped" in stopped.stderr
        assert _postmaster_pid(tmp_path) is None
        again = run_cli("embedded", "stop", env=env)
        assert again.returncode == 0 and "was not running" in again.stderr
    finally:
        pid = _postmaster_pid(tmp_path)
        if pid:
            os.kill(pid, signal.SIGINT)


def test_the_listeners_log_has_no_pgserver_chatter(tmp_path: Path) -> None:
    # `listen` and `serve` log JSON at INFO, and pgserver's own INFO lines came with it:
    # "PG_VERSION file found, skipping initdb", "a postgres server is already running: ...",
    # and at exit "cleaning last handle for server", which reads as if it were stopping
    env = {"XDG_DATA_HOME": str(tmp_path)}
    try:
        assert run_cli("embedded", "start", env=env, timeout=180).returncode == 0
        installed = run_cli("install", "--with-core", env=env, timeout=300)
        assert installed.returncode == 0, installed.stderr
        listened = run_cli("listen", "--once", env=env)
        assert listened.returncode == 0, listened.stderr
        assert '"listener_stopped"' in listened.stderr      # the JSON log is on
        assert '"pgserver"' not in listened.stderr, listened.stderr
        assert _postmaster_pid(tmp_path) is not None        # and the server kept running
    finally:
        run_cli("embedded", "stop", env=env)
        pid = _postmaster_pid(tmp_path)
        if pid:
            os.kill(pid, signal.SIGINT)


def test_stale_pid_file_is_not_a_running_server(tmp_path: Path) -> None:
    pgdata = tmp_path / "atlas-orchestrator" / "pgdata"
    pgdata.mkdir(parents=True)
    # a pid far above any pid_max: the server that wrote it is gone
    (pgdata / "postmaster.pid").write_text("99999999\n/tmp\n")
    result = run_cli("embedded", "stop", env={"XDG_DATA_HOME": str(tmp_path)})
    _no_traceback(result)
    assert result.returncode == 0 and "was not running" in result.stderr


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="as an ordinary user, test_start_url_stop_cycle is this test")
def test_the_data_folders_owner_can_stop_a_server_root_started(tmp_path: Path) -> None:
    """Root starts it (pgserver runs it as its own user); that user, not root, stops it.

    The child is forked, not exec'd: this interpreter lives under a home ordinary users
    cannot enter, but its loaded modules and the venv's pg_ctl serve the child."""
    import pgserver._commands  # noqa: F401  (loaded here: the child cannot read /root)

    from listener.core import embedded

    env = {"XDG_DATA_HOME": str(tmp_path)}
    tmp_path.chmod(0o755)
    started = run_cli("embedded", "start", env=env, timeout=180)
    assert started.returncode == 0, started.stderr
    pgdata = tmp_path / "atlas-orchestrator" / "pgdata"
    owner = pgdata.stat().st_uid
    assert owner != 0, "pgserver runs the server as its own user when started by root"
    os.environ["XDG_DATA_HOME"] = str(tmp_path)
    try:
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            code = 3
            try:
                os.setgid(pgdata.stat().st_gid)
                os.setuid(owner)
                code = 0 if embedded.stop_embedded() else 2
            except BaseException as exc:
                os.write(2, f"child: {type(exc).__name__}: {exc}\n".encode())
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
        assert os.WEXITSTATUS(status) == 0, f"child exit {os.WEXITSTATUS(status)}"
        assert _postmaster_pid(tmp_path) is None
    finally:
        del os.environ["XDG_DATA_HOME"]
        pid = _postmaster_pid(tmp_path)
        if pid:
            os.kill(pid, signal.SIGINT)


def test_a_database_error_is_one_line(empty_db_url: str) -> None:
    result = run_cli("health", env={"DATABASE_URL": empty_db_url})
    _no_traceback(result)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "does not exist" in lines[0] and "atlas-orch install" in lines[0]
