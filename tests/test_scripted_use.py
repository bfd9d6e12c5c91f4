"""atlas-orch driven by scripts, cron and CI rather than a person at a terminal
(docs/operations.md, "Scripts and schedulers"): every --json answer is one JSON document on
stdout and nothing else, in any charset; a reader that goes away (`| head -1`), a full disk
or a closed stream is one line or a quiet status, never a traceback or a message inside the
JSON; progress into a log file is lines, not carriage returns."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REPO, run_cli
from tests.helpers import execute, val
from tests.listening import listen_once

OWNERS = ("Owner ID,Email,First Name,Last Name,Address,City,State,Zip Code\n"
          "PL900001,jose.nunez@example.com,José,Núñez,12 Peña Ln,Petaluma,CA,94952\n"
          "PL900002,zoe@example.com,Zoë,Brontë-Ñandú,,,CA,\n"
          "PL900003,li@example.com,李,小龙,,,CA,\n")

# listings whose answer is a list, and documents that hold lists: with no rows they are
# the same shape (an empty list), never null or a line of text
LISTINGS = (["sources"], ["anomalies", "--all"], ["log"], ["review", "list"],
            ["alerts", "list"], ["rules", "check"], ["install", "--list"],
            ["backfill", "--status"])
DOCUMENTS = (["health"], ["why-missing"], ["shadow", "status"], ["verify"])

NAIVE = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?$")


def _loaded(db_url: str, tmp_path: Path) -> dict[str, str]:
    env = {"DATABASE_URL": db_url}
    owners = tmp_path / "owners.csv"
    owners.write_text(OWNERS, encoding="utf-8")
    assert run_cli("ingest", "petlink/owners", str(owners), env=env).returncode == 0
    assert run_cli("process", env=env).returncode == 0
    listen_once(db_url)
    return env


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def _naive_times(doc: Any) -> list[str]:
    if isinstance(doc, dict):
        return [t for v in doc.values() for t in _naive_times(v)]
    if isinstance(doc, list):
        return [t for v in doc for t in _naive_times(v)]
    return [doc] if isinstance(doc, str) and NAIVE.match(doc) else []


def test_every_listing_is_one_document_of_one_shape(db_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": db_url}
    empty = {" ".join(c): _json(run_cli(*c, "--json", env=env)) for c in LISTINGS + DOCUMENTS}
    _loaded(db_url, tmp_path)
    for command in LISTINGS + DOCUMENTS:
        result = run_cli(*command, "--json", env=env)
        doc = _json(result)
        before = empty[" ".join(command)]
        assert type(doc) is type(before), command
        if isinstance(doc, dict):
            assert set(doc) == set(before), command
        assert result.stderr == "", (command, result.stderr)
        assert _naive_times(doc) == [], command
    assert _json(run_cli("log", "--json", env=env))
    assert _json(run_cli("anomalies", "--json", env=env)) == []


def _to_closed_pipe(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The command with a stdout whose reader has gone (`… | head -1` once head is done)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "listener", *args], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120, cwd=REPO,
                              env={**os.environ, **env}, stdin=subprocess.DEVNULL)
    finally:
        os.close(write_end)


def test_a_reader_that_has_gone_is_a_quiet_141(db_url: str, tmp_path: Path) -> None:
    # click caught the broken pipe and exited 1 with nothing said: a `set -o pipefail`
    # script saw a failure no one could explain. Now 141, as the shell reports `yes | head -1`
    env = _loaded(db_url, tmp_path)
    for command in (["log"], ["log", "--json"], ["sources"], ["--help"]):
        result = _to_closed_pipe(*command, env=env)
        assert (result.returncode, result.stderr) == (141, ""), (command, result.stderr)
    # an error is still its line and its status (tests/test_cli_errors.py)
    result = _to_closed_pipe("log", "--source", "nope/nope", "--json", env=env)
    assert result.returncode == 2 and "no source 'nope/nope'" in result.stderr


def _shell(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=REPO, env={**os.environ, **env, "PY": sys.executable},
                          stdin=subprocess.DEVNULL)


def test_a_stdout_that_cannot_be_written_is_one_line(db_url: str, tmp_path: Path) -> None:
    env = _loaded(db_url, tmp_path)
    # a full disk: an "internal error ... this is a bug" and, for an error, two tracebacks
    for command in ("sources --json", "sources", "process --json"):
        result = _shell(f'"$PY" -m listener {command} > /dev/full', env)
        assert result.returncode == 1, result.stderr
        assert result.stderr.splitlines() == [
            "atlas-orch: error: cannot write the output to stdout: No space left on device "
            "(what the command changed, if anything, is committed; only its answer is lost)"]
    result = _shell('"$PY" -m listener log --source nope/nope --json > /dev/full', env)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1
    # stdout closed by the caller: an internal error (AttributeError), now the same line;
    # a command that writes nothing to stdout does its work as before
    result = _shell('"$PY" -m listener sources --json >&-', env)
    assert result.returncode == 1 and "cannot write the output to stdout" in result.stderr
    assert "internal error" not in result.stderr
    assert _shell('"$PY" -m listener process >&-', env).returncode == 0


def test_stderr_closed_keeps_the_json_clean(db_url: str) -> None:
    # with fd 2 closed, sys.stderr was None and print(file=sys.stderr) wrote the error line
    # to stdout, ahead of the JSON document
    result = _shell('"$PY" -m listener log --source nope/nope --json 2>&-',
                    {"DATABASE_URL": db_url})
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"]["code"] == "usage", result.stdout
    result = _shell('"$PY" -m listener sources --json 2>&- <&-', {"DATABASE_URL": db_url})
    assert result.returncode == 0 and json.loads(result.stdout)


def test_json_in_a_charset_without_the_names(db_url: str, tmp_path: Path) -> None:
    env = _loaded(db_url, tmp_path)
    person = val(db_url, "SELECT person_id FROM trapper.sot_people "
                         "WHERE display_name LIKE 'Jos%'")
    for extra in ({"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "POSIX", "LANG": "C"},
                  {"PYTHONIOENCODING": "latin-1"}, {"TERM": "dumb", "NO_COLOR": "1"}):
        result = run_cli("explain", "person", str(person), "--json", env={**env, **extra})
        # ascii: an internal error (UnicodeEncodeError) at the first accented name
        doc = _json(result)
        assert doc["entity"]["display_name"] == "José Núñez", (extra, doc["entity"])
        if extra.get("PYTHONIOENCODING") in ("ascii", "latin-1"):
            assert result.stdout.isascii()
        # the table for a person is written too, its names escaped where the charset lacks them
        text = subprocess.run([sys.executable, "-m", "listener", "explain", "person",
                               str(person)], capture_output=True, timeout=120, cwd=REPO,
                              env={**os.environ, **env, **extra}, stdin=subprocess.DEVNULL)
        assert text.returncode == 0 and b"Traceback" not in text.stderr, text.stderr
    result = run_cli("review", "list", "--json", env={**env, "PYTHONIOENCODING": "ascii"})
    assert _json(result) == []


def test_progress_asked_for_into_a_file_is_lines(db_url: str, tmp_path: Path) -> None:
    # --progress with stderr a file redrew one line with "\r" ten times a second
    owners = tmp_path / "owners.csv"
    owners.write_text(OWNERS, encoding="utf-8")
    log = tmp_path / "stderr.log"
    with log.open("w") as err:
        result = subprocess.run(
            [sys.executable, "-m", "listener", "ingest", "petlink/owners", str(owners),
             "--progress"], stdout=subprocess.PIPE, stderr=err, text=True, timeout=120,
            cwd=REPO, env={**os.environ, "DATABASE_URL": db_url}, stdin=subprocess.DEVNULL)
    assert result.returncode == 0
    text = log.read_bytes().decode()     # bytes: read_text() turns "\r" into "\n"
    assert "\r" not in text and "read 3 = new 3" in text, repr(text)


def test_long_listings_are_pages_that_say_so(db_url: str, tmp_path: Path) -> None:
    env = _loaded(db_url, tmp_path)
    execute(db_url, """
        INSERT INTO trapper.orchestrator_anomalies
            (anomaly_key, kind, severity, source_system, source_table, summary, last_seen,
             resolved_at)
        SELECT 'scripted-' || g, 'volume_drop', 'info', 'petlink', 'owners', 'Réduction ' || g,
               '2026-01-01'::timestamptz, CASE WHEN g % 2 = 0 THEN now() END
        FROM generate_series(1, 250) g""")
    # `anomalies --all` had no --limit: the 200 newest were all there was, and nothing said so
    keys: list[str] = []
    for offset in range(0, 300, 70):
        result = run_cli("anomalies", "--all", "--json", "--limit", "70", "--offset",
                         str(offset), env=env)
        page = _json(result)
        keys += [row["anomaly_key"] for row in page]
        assert ("as many as --limit 70" in result.stderr) == (len(page) == 70), result.stderr
    assert len(keys) == len(set(keys)) == 250
    first = run_cli("anomalies", "--all", "--json", env=env)
    assert len(_json(first)) == 200 and "--offset 200" in first.stderr
    # a full page of the log says how to get the next one, on stderr, the JSON untouched
    result = run_cli("log", "--limit", "2", "--json", env=env)
    rows = _json(result)
    assert len(rows) == 2 and f"--after {rows[-1]['log_seq']}" in result.stderr
    # alerts list accepted --limit up to 10,000 and returned 1,000 at most, silently
    result = run_cli("alerts", "list", "--limit", "5000", "--json", env=env)
    assert result.returncode == 2 and json.loads(result.stdout)["error"]["code"] == "usage"


def test_a_time_printed_is_a_time_taken(db_url: str, tmp_path: Path) -> None:
    # log --since/--until took click's three zoneless forms only: the logged_at a script had
    # just read from --json, `date -Iseconds` and "…Z" were usage errors
    env = _loaded(db_url, tmp_path)
    rows = _json(run_cli("log", "--limit", "1000", "--json", env=env))
    middle = rows[len(rows) // 2]
    since = _json(run_cli("log", "--since", middle["logged_at"], "--limit", "1000", "--json",
                          env=env))
    assert since and since[0]["logged_at"] >= middle["logged_at"]
    assert middle["log_seq"] in {r["log_seq"] for r in since}
    until = _json(run_cli("log", "--until", middle["logged_at"], "--limit", "1000", "--json",
                          env=env))
    assert middle["log_seq"] not in {r["log_seq"] for r in until}
    assert len(since) + len(until) == len(rows)
    # the same instant written in another zone, with Z, or a plain date (UTC) are the same
    stamp = dt.datetime.fromisoformat(middle["logged_at"])
    for written in (stamp.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat(),
                    stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")):
        again = _json(run_cli("log", "--since", written, "--limit", "1000", "--json", env=env))
        assert again == since, written
    assert len(_json(run_cli("log", "--since", rows[0]["logged_at"][:10], "--limit", "1000",
                             "--json", env=env))) == len(rows)
    error = run_cli("log", "--since", "yesterday", "--json", env=env)
    assert error.returncode == 2 and "ISO 8601" in json.loads(error.stdout)["error"]["message"]


def test_an_export_from_a_pipe(db_url: str) -> None:
    # `curl … | atlas-orch ingest SYSTEM/TABLE -`: "cannot read -: No such file or
    # directory", a failed run and an anomaly
    env = {**os.environ, "DATABASE_URL": db_url}
    piped = subprocess.run([sys.executable, "-m", "listener", "ingest", "petlink/owners", "-",
                            "--format", "csv", "--json"], input=OWNERS.encode(),
                           capture_output=True, timeout=120, cwd=REPO, env=env)
    assert piped.returncode == 0, piped.stderr
    run = json.loads(piped.stdout)["runs"][0]
    assert (run["source_file"], run["rows_new"]) == ("stdin.csv", 3)
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records "
                       "WHERE payload->>'Last Name' = 'Núñez'") == 1
    # no --format: a usage error before anything is read or staged
    result = subprocess.run([sys.executable, "-m", "listener", "ingest", "petlink/owners", "-"],
                            input=OWNERS.encode(), capture_output=True, timeout=120, cwd=REPO,
                            env=env)
    assert result.returncode == 2 and b"needs --format" in result.stderr
    assert val(db_url, "SELECT count(*) FROM trapper.ingest_runs") == 1
