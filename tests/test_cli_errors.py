"""The command line in front of bad operational input (docs/operations.md, "Exit status"):
every failure is one line on stderr and an exit status (1: the work failed, 2: the command
line is wrong, 130: Ctrl-C), with ``--json`` also ``{"ok": false, "error": {...}}`` on
stdout; an interrupted ingest or processing run loses nothing; `serve` lets the page's live
feed go at once on SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import REPO, run_cli
from tests.helpers import execute, val

ERROR_KEYS = {"code", "message", "exit_status"}


def _failed(result: subprocess.CompletedProcess[str], status: int, code: str) -> dict[str, Any]:
    """A --json failure: the status, one line on stderr, the error document on stdout."""
    assert result.returncode == status, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and set(doc["error"]) == ERROR_KEYS, doc
    assert doc["error"]["code"] == code and doc["error"]["exit_status"] == status, doc
    if status == 1:
        lines = [ln for ln in result.stderr.splitlines() if ln.startswith("atlas-orch: error:")]
        assert lines and lines[-1].endswith(doc["error"]["message"]), result.stderr
    return dict(doc["error"])


@pytest.mark.parametrize(("url", "code", "words"), [
    ("postgresql://postgres@127.0.0.1:1/postgres", "cannot_connect", "cannot reach"),
    ("postgresql://postgres@127.0.0.1:99999/postgres", "cannot_connect", "not a usable"),
    ("not a url", "cannot_connect", "not a usable"),
    ("mysql://root@localhost/db", "cannot_connect", "not a usable"),
    ("postgresql://postgres@nonexistent.invalid/postgres", "cannot_connect", "cannot reach"),
])
def test_a_wrong_database_url_is_one_line_and_json(url: str, code: str, words: str) -> None:
    for command in (["health", "--json"], ["process", "--json"], ["install", "--json"],
                    ["uninstall", "--json"]):
        error = _failed(run_cli(*command, env={"DATABASE_URL": url}), 1, code)
        assert words in error["message"], (command, error)


def test_a_refusal_with_a_hint_is_still_one_line(tmp_path: Path) -> None:
    # verify-full with no root certificate in ~/.postgresql: the driver's message carries a
    # HINT on a line of its own, and the error was two lines
    env = {"DATABASE_URL": "postgresql://postgres@127.0.0.1/postgres?sslmode=verify-full",
           "HOME": str(tmp_path)}
    result = run_cli("sources", "--json", env=env)
    error = _failed(result, 1, "cannot_connect")
    assert "root certificate" in error["message"] and "\n" not in error["message"], error
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_blanks_around_the_url_are_not_part_of_it(db_url: str) -> None:
    # an env file's trailing space named the database "postgres " (it "did not exist")
    for url in (f"{db_url} ", f" {db_url}\t"):
        result = run_cli("sources", "--json", env={"DATABASE_URL": url})
        assert result.returncode == 0, result.stderr
        result = run_cli("sources", "--database-url", url)
        assert result.returncode == 0, result.stderr


def test_a_database_that_does_not_exist(empty_db_url: str) -> None:
    url = empty_db_url.rsplit("/", 1)[0] + "/atlas_no_such_database"
    error = _failed(run_cli("sources", "--json", env={"DATABASE_URL": url}), 1,
                    "cannot_connect")
    assert "does not exist" in error["message"]


def test_every_reader_on_a_database_without_the_orchestrator(empty_db_url: str) -> None:
    # process's workers run in a task group: its error was an "internal error
    # (ExceptionGroup ...)", a bug report for an uninstalled database
    env = {"DATABASE_URL": empty_db_url}
    for command in (["process"], ["health"], ["why-missing"], ["anomalies"], ["log"],
                    ["sources"], ["review", "list"], ["alerts", "list"], ["listen", "--once"],
                    ["replay", "clinichq/owner_info/1"]):
        error = _failed(run_cli(*command, "--json", env=env), 1, "database_error")
        assert "atlas-orch install" in error["message"], (command, error)
    assert json.loads(run_cli("verify", "--json", env=env).stdout)["ok"] is False


def test_a_wrong_command_line_exits_2(db_url: str) -> None:
    env = {"DATABASE_URL": db_url}
    for command in (["health", "--nope"], ["replay"], ["process", "--job-batch", "0"],
                    ["process", "--budget", "-1"], ["log", "--source", "a/b/c"],
                    ["jobs", "explain", "not-a-uuid"], ["ingest", "clinichq", "x.csv"],
                    ["explain", "dog", "x"],
                    # these were a failed ingest run each (an ingest_failed anomaly for a
                    # typo) or every row rejected oversized, exit 1 or 0
                    ["ingest", "scratch/rows", "x.csv", "--encoding", "nonsense"],
                    ["ingest", "scratch/rows", "x.csv", "--max-row-bytes", "0"]):
        result = run_cli(*command, "--json", env=env)
        _failed(result, 2, "usage")
        assert "Traceback" not in result.stderr
    assert val(db_url, "SELECT count(*) FROM trapper.ingest_runs") == 0
    # a --source that names no source listed nothing and exited 0, like one with no rows
    for command in (["why-missing"], ["anomalies"], ["log"], ["review", "list"]):
        error = _failed(run_cli(*command, "--source", "clinichq/no_such_table", "--json",
                                env=env), 2, "usage")
        assert "no source 'clinichq/no_such_table'" in error["message"]
    assert run_cli("log", "--source", "clinichq/owner_info", env=env).returncode == 0


def test_an_error_whose_json_reader_has_gone_is_still_one_line(db_url: str) -> None:
    # `atlas-orch replay x/y/z --json | head -1`: the reader of stdout gone, the print of
    # the error document raised BrokenPipeError, and a traceback of it followed the line
    read_end, write_end = os.pipe()
    os.close(read_end)          # no reader from the start: every write to stdout fails
    try:
        result = subprocess.run(
            [sys.executable, "-m", "listener", "replay", "felins/intake/NOPE", "--json"],
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120, cwd=REPO,
            env={**os.environ, "DATABASE_URL": db_url}, stdin=subprocess.DEVNULL)
    finally:
        os.close(write_end)
    assert result.returncode == 1, result.stderr
    assert result.stderr == ("atlas-orch: error: no staged record NOPE of felins/intake\n"), \
        result.stderr


def test_files_that_cannot_be_used(db_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": db_url}
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "folder").mkdir()
    for name, reason in (("missing.csv", "No such file"), ("folder", "Is a directory"),
                         ("empty.csv", "empty")):
        result = run_cli("ingest", "clinichq/owner_info", str(tmp_path / name), "--json",
                         env=env)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert reason in result.stderr and "nothing staged" in result.stderr
        assert json.loads(result.stdout)["ok"] is False
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records") == 0
    # a path to write that is a file, or under no folder: the user's to fix, not a bug
    for command in (["demo", "generate", "--out", str(tmp_path / "empty.csv")],
                    ["demo", "survey", "--out", str(tmp_path / "no" / "such" / "x.csv")]):
        error = _failed(run_cli(*command, "--json"), 1, "file_error")
        assert error["message"].startswith("cannot use "), error


def _until(check: Any, what: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not check():
        assert proc.poll() is None, f"exited before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.02)


def _popen(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "ATLAS_ORCH_DATABASE_URL")} | env
    return subprocess.Popen([sys.executable, "-m", "listener", *args], cwd=REPO, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)


def test_ctrl_c_during_processing_loses_nothing(db_url: str, world: Path) -> None:
    env = {"DATABASE_URL": db_url}
    assert run_cli("ingest", "--manifest", str(world / "manifest.json"), env=env).returncode == 0
    staged = val(db_url, "SELECT count(*) FROM trapper.staged_records")
    # one record per transaction and two workers: slow enough to be caught in the middle
    proc = _popen("process", "--workers", "2", "--record-batch", "1", "--json", env=env)
    _until(lambda: val(db_url, "SELECT count(*) FROM trapper.staged_records "
                               "WHERE processed_at IS NOT NULL") > 0, "a processed record", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted (SIGINT)" in err and "Traceback" not in err
    stats = json.loads(out)
    assert stats["interrupted"] == "SIGINT"
    # both workers heard it: none went on to empty the queue
    assert stats["queue_remaining"] > 0
    assert val(db_url, "SELECT count(*) FROM trapper.processing_jobs "
                       "WHERE status = 'processing'") == 0
    # what was done stays done, the rest is queued again and a second run finishes it
    done = val(db_url, "SELECT count(*) FROM trapper.staged_records "
                       "WHERE processed_at IS NOT NULL")
    assert done >= stats["records_processed"] > 0
    again = run_cli("process", "--json", env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["queue_remaining"] == 0
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records "
                       "WHERE processed_at IS NULL") == 0
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records") == staged


def test_ctrl_c_during_ingest_loses_nothing(db_url: str, tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    with big.open("w") as f:
        f.write("id,name\n")
        for i in range(300_000):
            f.write(f"{i},name {i}\n")
    env = {"DATABASE_URL": db_url}
    proc = _popen("ingest", "scratch/rows", str(big), "--id-field", "id", env=env)
    _until(lambda: val(db_url, "SELECT count(*) FROM trapper.ingest_runs "
                               "WHERE status = 'running'") == 1, "a running ingest", proc)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    if proc.returncode == 0:          # it finished first: nothing to interrupt
        pytest.skip("the file went in before the signal arrived")
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    # the run is marked failed and nothing of it is staged: ingesting it again is whole
    assert val(db_url, "SELECT status FROM trapper.ingest_runs") == "failed"
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records") == 0


def test_two_process_commands_at_once(db_url: str, world: Path) -> None:
    env = {"DATABASE_URL": db_url}
    assert run_cli("ingest", "--manifest", str(world / "manifest.json"), env=env).returncode == 0
    staged = val(db_url, "SELECT count(*) FROM trapper.staged_records")
    procs = [_popen("process", "--json", env=env) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    stats = [json.loads(out) for out, _err in results]
    # every record processed once, by one of them; nothing left, nothing failed
    assert sum(s["records_processed"] for s in stats) == staged
    assert all(s["records_failed"] == 0 for s in stats)
    assert val(db_url, "SELECT count(*) FROM trapper.processing_jobs "
                       "WHERE status <> 'completed'") == 0


def test_install_and_uninstall_twice(empty_db_url: str) -> None:
    env = {"DATABASE_URL": empty_db_url}
    first = run_cli("install", "--with-core", "--json", env=env)
    assert first.returncode == 0 and json.loads(first.stdout)["applied"], first.stderr
    second = run_cli("install", "--with-core", "--json", env=env)
    assert second.returncode == 0 and json.loads(second.stdout)["applied"] == []
    assert "nothing to do" in run_cli("install", "--with-core", env=env).stderr
    assert json.loads(run_cli("uninstall", "--json", env=env).stdout)["dropped"]
    again = run_cli("uninstall", env=env)
    assert again.returncode == 0 and "not installed here" in again.stderr
    assert json.loads(run_cli("uninstall", "--json", env=env).stdout)["dropped"] == []


def test_sigterm_lets_the_live_feed_go(loaded: str, tmp_path: Path) -> None:
    # With the page open (a websocket on the feed), SIGTERM waited for the client: aiohttp's
    # shutdown waits for open handlers, and the feed's waited for its next batch
    from tests.serving import READER, Server

    server = Server(loaded, tmp_path)
    client = subprocess.Popen(
        [sys.executable, "-c", _FEED_CLIENT, f"ws://127.0.0.1:{server.port}"
         "/api/admin/orchestrator/feed", READER],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert client.stdout is not None
    assert client.stdout.readline().startswith("hello"), client.communicate()
    assert server.stop() == 0, server.log()
    out, err = client.communicate(timeout=60)
    assert out.strip() == "closed 1001", (out, err)


_FEED_CLIENT = """
import asyncio, sys, aiohttp
async def main():
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]},
                                autoclose=True) as ws:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT and '"hello"' in msg.data:
                    print("hello", flush=True)
            print("closed", ws.close_code, flush=True)
asyncio.run(main())
"""


def test_serve_on_a_port_in_use_is_one_line(db_url: str) -> None:
    # it was "internal error (OSError ...); this is a bug", and asyncpg's "Task was destroyed
    # but it is pending!" after it: the pool setup opened was never closed
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = run_cli("serve", "--port", str(port), "--no-listen",
                         env={"DATABASE_URL": db_url, "ATLAS_ORCH_ADMIN_TOKEN": "t" * 32})
    assert result.returncode == 1, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("atlas-orch: error:")]
    assert len(errors) == 1 and f"cannot listen on 127.0.0.1:{port}" in errors[0], result.stderr
    assert "--port" in errors[0] and "this is a bug" not in errors[0]
    assert "Traceback" not in result.stderr and "Task was destroyed" not in result.stderr


def test_demo_run_on_a_port_in_use_says_so_before_its_work(empty_db_url: str,
                                                           tmp_path: Path) -> None:
    # it installed, ingested and processed the world, printed "open http://…:PORT" (another
    # program's address) and a token, and only then failed to listen
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = run_cli("demo", "run", "--port", str(port),
                         env={"DATABASE_URL": empty_db_url,
                              "ATLAS_ORCH_DATA_DIR": str(tmp_path)})
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"atlas-orch: error: cannot listen on 127.0.0.1:{port}")
    assert "open http" not in result.stdout and "Traceback" not in result.stderr
    assert val(empty_db_url, "SELECT to_regnamespace('trapper') IS NULL") is True


def test_ingest_before_install_says_so_once(empty_db_url: str, tmp_path: Path) -> None:
    # every file failed alike, each twice on stderr, as "InvalidSchemaNameError: schema
    # "trapper" does not exist", with no word of what to run
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("id,name\n1,Ann\n")
    env = {"DATABASE_URL": empty_db_url}
    result = run_cli("ingest", "scratch/rows", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"),
                     env=env)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and "install --with-core" in result.stderr, \
        result.stderr
    error = _failed(run_cli("ingest", "scratch/rows", str(tmp_path / "a.csv"), "--json",
                            env=env), 1, "error")
    assert "not installed" in error["message"]


@pytest.mark.parametrize(("content", "words"), [
    ("[1, 2]", 'a JSON object with a "files" list'),
    ("{}", 'a JSON object with a "files" list'),
    ('{"files": []}', '"files" list is empty'),
    ('{"files": [{"path": 5, "source_system": "a", "source_table": "b"}]}', "file 1 of"),
    ('{"files": [{"path": "x.csv", "source_system": "a b", "source_table": "c"}]}',
     "file 1: source 'a b/c'"),
    ("{not json", "not valid JSON"),
])
def test_a_manifest_that_is_not_one(db_url: str, tmp_path: Path, content: str,
                                    words: str) -> None:
    # these were Python's own words ("('files')", "list indices must be integers", "unsupported
    # operand type(s) for /"), an empty list exited 0 saying nothing, a bad name exited 2
    manifest = tmp_path / "manifest.json"
    manifest.write_text(content)
    error = _failed(run_cli("ingest", "--manifest", str(manifest), "--json",
                            env={"DATABASE_URL": db_url}), 1, "error")
    assert error["message"].startswith(f"{manifest}: not a usable manifest: "), error
    assert words in error["message"], error


def test_a_file_without_read_permission_is_refused_not_a_usage_error(
        db_url: str, tmp_path: Path) -> None:
    # click's Path(readable=True) refused it as a wrong command line (exit 2); a missing file
    # was exit 1 "nothing staged": the two are alike to the person who typed them. As root
    # (containers, CI) the file is readable, so the command runs as nobody there.
    if os.geteuid() == 0:
        try:   # nobody must be able to run this interpreter (a venv under /root is not)
            subprocess.run([sys.executable, "-c", "pass"], user=65534, check=True,
                           capture_output=True, timeout=60)
        except (PermissionError, subprocess.CalledProcessError):
            pytest.skip("running as root, and nobody cannot run this Python: no file is "
                        "unreadable to root")
    folder = Path(tempfile.mkdtemp(prefix="atlas-noread-"))
    try:
        folder.chmod(0o755)
        secret = folder / "owners.csv"
        secret.write_text("id,name\n1,Ann\n")
        secret.chmod(0o000 if os.geteuid() != 0 else 0o600)
        for args in (["scratch/rows", str(secret)], ["--manifest", str(secret)]):
            result = subprocess.run(
                [sys.executable, "-m", "listener", "ingest", *args], cwd=REPO, text=True,
                capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
                user=65534 if os.geteuid() == 0 else None,
                env={k: v for k, v in os.environ.items() if k != "ATLAS_ORCH_DATABASE_URL"}
                | {"DATABASE_URL": db_url, "HOME": str(folder)})
            assert result.returncode == 1, result.stderr
            assert "Permission denied" in result.stderr and "Traceback" not in result.stderr
        assert val(db_url, "SELECT count(*) FROM trapper.staged_records") == 0
    finally:
        shutil.rmtree(folder)


def test_a_file_the_database_refuses_is_told_once(db_url: str, tmp_path: Path) -> None:
    # a role without the rights ingest needs: the file's "failed, nothing staged" line came
    # twice, once from Python's last-resort log handler without its "atlas-orch: error:"
    role = f"atlas_noright_{os.getpid()}"
    execute(db_url, f"CREATE ROLE {role} LOGIN; GRANT USAGE ON SCHEMA trapper TO {role}")
    try:
        parts = urlsplit(db_url)
        url = urlunsplit(parts._replace(netloc=f"{role}@{parts.netloc.rpartition('@')[2]}"))
        (tmp_path / "a.csv").write_text("id,name\n1,Ann\n")
        result = run_cli("ingest", "scratch/rows", str(tmp_path / "a.csv"),
                         env={"DATABASE_URL": url})
        assert result.returncode == 1, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("atlas-orch: error:"), result.stderr
        assert "permission denied" in lines[0] and "nothing staged" in lines[0]
    finally:
        execute(db_url, f"DROP OWNED BY {role}; DROP ROLE {role}")
