"""A production database not set up like ours: the host's own settings on its database
(ALTER DATABASE ... SET), a time zone far from UTC, another encoding or collation. The same
world gives the same people, places, cats and decisions as on a default database, or the
install refuses in one line naming the setting and the fix (docs/operations.md, "Database
settings")."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from listener.schema.migrations import INSTALL_LOCK_KEY
from tests.conftest import REPO, run_cli
from tests.helpers import execute, val
from tests.pg import Server
from tests.test_host_shapes import HOST_WRITES
from tests.test_install import _snapshot
from tests.test_roles import as_role

_names = itertools.count()

# What a host may have set on its database, each of which changed what the engines made,
# what they recorded or what the install could do: standard_conforming_strings off read
# '\d' as 'd' in every regular expression, extra_float_digits -15 wrote 12 as 1e+01 (10)
# into score_breakdown, and the rest shape text the SQL reads back.
HOST_SETTINGS = {
    "standard_conforming_strings": "off",
    "extra_float_digits": "-15",
    "DateStyle": "'German'",
    "IntervalStyle": "sql_standard",
    "TimeZone": "'Pacific/Auckland'",
    "default_transaction_isolation": "serializable",
    "search_path": "public",
}

# The small world (seed 3) as a default database makes it.
COUNTS = """
SELECT (SELECT count(*) FROM trapper.sot_people WHERE merged_into_person_id IS NULL),
       (SELECT count(*) FROM trapper.places WHERE merged_into_place_id IS NULL),
       (SELECT count(*) FROM trapper.sot_cats WHERE merged_into_cat_id IS NULL),
       (SELECT count(*) FROM trapper.data_engine_match_decisions
        WHERE decision_type = 'auto_match'),
       (SELECT count(*) FROM trapper.data_engine_match_decisions
        WHERE decision_type = 'review_pending')
"""


def _set(url: str, settings: dict[str, str]) -> None:
    """The settings on the database itself, for every session that connects after."""
    database = val(url, "SELECT current_database()")
    for name, value in settings.items():
        execute(url, f'ALTER DATABASE "{database}" SET {name} = {value}')


def _ok(url: str, *args: str) -> str:
    done = run_cli(*args, env={"DATABASE_URL": url}, timeout=300)
    assert done.returncode == 0, f"{args}: {done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr
    return done.stdout


def _refused(url: str, *args: str) -> str:
    done = run_cli(*args, env={"DATABASE_URL": url}, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("atlas-orch: error:")]
    assert len(lines) == 1, done.stderr[-2000:]
    return lines[0]


def _rows(url: str, query: str, **settings: str) -> list[tuple[Any, ...]]:
    async def go() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(url, server_settings=settings or None)
        try:
            return [tuple(r) for r in await conn.fetch(query)]
        finally:
            await conn.close()

    return anyio.run(go)


def _load(url: str, world: Path) -> tuple[Any, ...]:
    _ok(url, "ingest", "--manifest", str(world / "manifest.json"))
    _ok(url, "process")
    _ok(url, "listen", "--once")
    return _rows(url, COUNTS)[0]


def test_a_database_with_the_hosts_settings_gives_the_same_world(
    empty_db_url: str, db_url: str, world: Path,
) -> None:
    expected = _load(db_url, world)

    url = empty_db_url
    execute(url, "CREATE TABLE public.staged_records (id int, payload jsonb); "
                 "CREATE FUNCTION public.normalize_phone(text) RETURNS text "
                 "LANGUAGE sql AS $$ SELECT 'x' $$")
    _set(url, HOST_SETTINGS)
    _ok(url, "install", "--with-core")
    assert _load(url, world) == expected
    # the thresholds as configured, not as extra_float_digits -15 wrote them
    assert val(url, "SELECT count(DISTINCT score_breakdown -> 'thresholds') "
                    "FROM trapper.data_engine_match_decisions "
                    "WHERE score_breakdown ? 'thresholds'") == 1
    assert val(url, "SELECT min((score_breakdown -> 'thresholds' ->> 'auto')::numeric) "
                    "FROM trapper.data_engine_match_decisions") == 12
    for command in (("health",), ("why-missing",), ("sources",), ("verify",)):
        _ok(url, *command)
    person = val(url, "SELECT person_id::text FROM trapper.sot_people "
                      "WHERE merged_into_person_id IS NULL ORDER BY person_id LIMIT 1")
    _ok(url, "provenance", "person", person)
    _ok(url, "explain", "person", person)


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Pacific/Auckland", "Asia/Kolkata"])
def test_the_logs_partitions_are_whole_utc_months_in_any_time_zone(
    db_url: str, zone: str,
) -> None:
    """Under Los Angeles' zone a month's partition ended on the 31st (or the 28th), the
    next month had none and its rows went to the DEFAULT partition for good."""
    _rows(db_url, "SELECT trapper.orchestrator_ensure_partitions("
                  "'trapper.orchestrator_job_log', now() - interval '14 months', 4)",
          TimeZone=zone)
    parts = _rows(db_url, "SELECT partition::text, range_from, range_to FROM "
                          "trapper.orchestrator_partitions('trapper.orchestrator_job_log') "
                          "WHERE range_from IS NOT NULL ORDER BY range_from", TimeZone=zone)
    assert len(parts) >= 19
    for (name, _start, end), (_, following, _) in itertools.pairwise(parts):
        assert end == following, f"{name} ends at {end}, the next starts at {following}"
    for name, start, _ in parts:
        utc = start.astimezone(UTC)
        assert (utc.day, utc.hour, utc.minute) == (1, 0, 0), f"{name} starts at {utc}"
        assert name.endswith(f"_p{utc:%Y%m}"), name


def test_a_routed_value_keeps_its_digits_and_its_date_under_any_session_settings(
    db_url: str,
) -> None:
    """The router writes a typed value as text and reads it back: under extra_float_digits
    -15 a latitude of 38.4404 came back as 40, under DateStyle German a date as 14.03.2025."""
    got = _rows(db_url, "SELECT trapper.orchestrator_typed_value('38.4404', "
                        "'double precision'), trapper.orchestrator_typed_value('-122.7141', "
                        "'real'), trapper.orchestrator_typed_value('3/14/2025', 'date')",
                extra_float_digits="-15", DateStyle="German", TimeZone="Pacific/Auckland")
    assert got == [("38.4404", "-122.7141", "2025-03-14")]


@pytest.fixture
def made(pg: Server) -> Iterator[list[str]]:
    """Databases the test makes with CREATE DATABASE options of its own; dropped after."""
    names: list[str] = []
    yield names
    for name in names:
        pg.drop_now(name)


@pytest.mark.parametrize(("options", "named"), [
    ("ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'", "encoding is SQL_ASCII"),
    ("ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'", "encoding is LATIN1"),
    ("ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'tr-TR' LOCALE 'C.UTF-8'",
     "default collation (tr-TR)"),
])
def test_a_database_whose_text_the_engines_cannot_read_is_refused_before_anything(
    pg: Server, made: list[str], options: str, named: str,
) -> None:
    name = f"{pg.prefix}_settings_{next(_names)}"
    try:
        anyio.run(pg.admin, f"CREATE DATABASE {name} TEMPLATE template0 {options}")
    except asyncpg.PostgresError as exc:     # a server built without ICU
        pytest.skip(f"this server cannot make such a database: {exc}")
    made.append(name)
    url = pg.url(name)
    before = _snapshot(url)
    for mode in ("--with-core", "--core-only"):
        line = _refused(url, "install", mode)
        assert named in line, line
        assert "install changed nothing" in line, line
    assert _snapshot(url) == before


def test_a_database_in_the_c_locale_installs(pg: Server, made: list[str]) -> None:
    """C (not C.UTF-8) cases only ASCII, as the check asks: not refused (the small world
    loads the same there, as by hand)."""
    name = f"{pg.prefix}_settings_{next(_names)}"
    anyio.run(pg.admin, f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' "
                        "LC_COLLATE 'C' LC_CTYPE 'C'")
    made.append(name)
    url = pg.url(name)
    _ok(url, "install", "--with-core")
    _ok(url, "uninstall")


def test_verify_answers_a_role_whose_transactions_are_read_only(db_url: str) -> None:
    """A monitor's role with default_transaction_read_only on: verify compares, and says it
    did not mark abandoned ingest runs (it stopped on "cannot execute SELECT FOR UPDATE in
    a read-only transaction", blaming a replica)."""
    role = f"ro_{val(db_url, 'SELECT current_database()')}"
    database = val(db_url, "SELECT current_database()")
    execute(db_url, f"CREATE ROLE {role} LOGIN; GRANT USAGE ON SCHEMA trapper TO {role}; "
                    f"GRANT SELECT ON ALL TABLES IN SCHEMA trapper TO {role}; "
                    f"ALTER ROLE {role} IN DATABASE \"{database}\" "
                    "SET default_transaction_read_only = on")
    try:
        reader = as_role(db_url, role)
        done = run_cli("verify", env={"DATABASE_URL": reader})
        assert done.returncode == 0, done.stderr
        assert "not marking abandoned ingest runs" in done.stderr
        for command in (("health",), ("why-missing",)):
            _ok(reader, *command)
    finally:
        execute(db_url, f"DROP OWNED BY {role}; DROP ROLE {role}")


def test_a_second_install_waits_past_the_hosts_lock_timeout(db_url: str) -> None:
    """lock_timeout on the database guards the host's tables; the installers' own lock is
    waited for as long as another install holds it, then there is nothing to do."""
    _set(db_url, {"lock_timeout": "'100ms'", "statement_timeout": "'1s'"})

    async def hold() -> None:
        holder = await asyncpg.connect(db_url)
        try:
            await holder.execute("SELECT pg_advisory_lock($1)", INSTALL_LOCK_KEY)
            env = {k: v for k, v in os.environ.items()
                   if k not in ("DATABASE_URL", "ATLAS_ORCH_DATABASE_URL")}
            env["DATABASE_URL"] = db_url
            proc = subprocess.Popen([sys.executable, "-m", "listener", "install"], cwd=REPO,
                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
            try:
                waiting = 0
                while not waiting and proc.poll() is None:
                    waiting = await holder.fetchval(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND NOT granted")
                    await anyio.sleep(0.05)
                # past both timeouts: before, the install had stopped with "canceling
                # statement due to lock timeout"
                await anyio.sleep(1.5)
                assert proc.poll() is None, proc.communicate()[1]
            finally:
                await holder.execute("SELECT pg_advisory_unlock($1)", INSTALL_LOCK_KEY)
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert "nothing to do" in err
        finally:
            await holder.close()

    anyio.run(hold)


def _plain_backslash_literals(text: str) -> list[str]:
    """The '...' literals (with their continuations) that hold a backslash and are not
    E'...': under standard_conforming_strings off, '\\d' is 'd'. Comments, quoted names and
    dollar-quoted strings other than a body's $$ are passed over."""
    found: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("--", i):
            i = n if text.find("\n", i) < 0 else text.find("\n", i)
        elif text.startswith("/*", i):
            i = text.find("*/", i) + 2
        elif text[i] == '"':
            i = text.find('"', i + 1) + 1
        elif text[i] == "$" and (m := re.match(r"\$(\w*)\$", text[i:])) and \
                not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            tag = m.group(0)
            i = i + 2 if tag == "$$" else text.find(tag, i + len(tag)) + len(tag)
        elif text[i] == "'":
            start, prefix = i, text[max(0, i - 2):i]
            escaped = prefix[-1:] in ("E", "e") and not (prefix[:1].isalnum() or
                                                         prefix[:1] == "_")
            while True:          # the literal, then each continuation on a later line
                i += 1
                while not (text[i] == "'" and text[i + 1:i + 2] != "'"):
                    i += 2 if text[i] == "'" else 1
                i += 1
                m = re.match(r"[ \t]*\n\s*'", text[i:])
                if not m:
                    break
                i += m.end() - 1
            literal = text[start:i]
            if "\\" in literal and not escaped:
                found.append(literal.splitlines()[0][:60])
        else:
            i += 1
    return found


def test_no_definition_spells_a_backslash_in_a_plain_literal() -> None:
    """A function's body is read again in the session that calls it, under that session's
    standard_conforming_strings: a host writer with it off had norm_phone_us($1) refused as
    "not of the form fn($1)". Numbered migrations run once, in the installer's session."""
    root = Path(REPO) / "sql"
    offending = {
        str(path.relative_to(root)): lits
        for kind in ("functions", "views", "triggers")
        for path in sorted(root.glob(f"*/{kind}/*.sql"))
        if (lits := _plain_backslash_literals(path.read_text()))
    }
    assert offending == {}
    assert _plain_backslash_literals("SELECT 'a\\d', E'\\\\d' -- '\\x'") == ["'a\\d'"]


def test_the_hosts_own_session_with_standard_conforming_strings_off(db_url: str) -> None:
    """The host's writers and workers call the engines and the router in their sessions,
    under the database's settings, not ours."""
    query = ("SELECT trapper.orchestrator_transform_signature('norm_phone_us($1)'), "
             "trapper.norm_phone_us('(707) 555-1234'), "
             "trapper.orchestrator_to_date('Friday, March 14, 2025 10:00 PDT'), "
             "trapper.orchestrator_to_numeric('$1,234.50')")
    expected = _rows(db_url, query)
    assert _rows(db_url, query, standard_conforming_strings="off",
                 escape_string_warning="off") == expected


def test_a_shadow_install_onto_a_host_with_its_own_settings(core_db_url: str) -> None:
    """The engines alone, the host's settings on the database, its writers going through in
    their own sessions (the shadow triggers run there): install, listen, read, backfill,
    uninstall, and the catalog is as it was."""
    url = core_db_url
    execute(url, "DROP TABLE trapper.core_migrations")     # the engines are the host's
    _set(url, {**HOST_SETTINGS, "TimeZone": "'America/Los_Angeles'",
               "lock_timeout": "'1s'", "statement_timeout": "'5s'"})
    before = _snapshot(url)
    execute(url, HOST_WRITES)                               # years of it, before us
    _ok(url, "install", "--backfill")
    execute(url, "INSERT INTO trapper.staged_records (source_system, source_table, row_hash, "
                 "payload) VALUES ('clinichq', 'cat_info', 'h-host-2', '{\"Number\": \"25-2\"}'); "
                 "INSERT INTO trapper.processing_jobs (source_system, source_table) "
                 "VALUES ('clinichq', 'cat_info') RETURNING job_id")
    execute(url, "UPDATE trapper.processing_jobs SET status = 'processing', started_at = now() "
                 "WHERE status = 'queued'; UPDATE trapper.processing_jobs "
                 "SET status = 'completed', completed_at = now() WHERE status = 'processing'")
    assert val(url, "SELECT count(*) FROM trapper.orchestrator_shadow_failures") == 0
    _ok(url, "listen", "--once")
    for command in (("health",), ("why-missing",), ("anomalies",), ("log",), ("verify",)):
        _ok(url, *command)
    assert val(url, "SELECT count(*) FROM trapper.orchestrator_job_log "
                    "WHERE action = 'job_completed'") == 2
    execute(url, "UPDATE trapper.sot_people SET merged_into_person_id = NULL; "
                 "DELETE FROM trapper.sot_people; DELETE FROM trapper.processing_jobs; "
                 "DELETE FROM trapper.data_engine_match_decisions; "
                 "DELETE FROM trapper.staged_records")
    _ok(url, "uninstall")
    assert _snapshot(url) == before


def test_partitions_an_earlier_version_made_in_a_zone_are_made_whole_keeping_rows(
    db_url: str,
) -> None:
    """What the partitions were under Los Angeles' zone before (a month ending on the 31st,
    the next starting there): the next housekeeping made February and stopped, "would
    overlap partition"; now the months are made whole and every row is kept."""
    execute(db_url, """
        CREATE TABLE trapper.orchestrator_job_log_p202501 PARTITION OF
            trapper.orchestrator_job_log FOR VALUES FROM ('2025-01-01Z') TO ('2025-01-31Z');
        CREATE TABLE trapper.orchestrator_job_log_p202502 PARTITION OF
            trapper.orchestrator_job_log FOR VALUES FROM ('2025-01-31Z') TO ('2025-03-01Z');
        INSERT INTO trapper.orchestrator_job_log (action, source_system, source_table,
                                                  decision_reason, logged_at)
        VALUES ('error', 'clinichq', 'cat_info', 'jan', '2025-01-15Z'),
               ('error', 'clinichq', 'cat_info', 'jan-31', '2025-01-31 12:00Z'),
               ('error', 'clinichq', 'cat_info', 'feb', '2025-02-10Z')""")
    before = _rows(db_url, "SELECT log_id, log_seq, decision_reason "
                           "FROM trapper.orchestrator_job_log ORDER BY log_seq")
    _rows(db_url, "SELECT trapper.orchestrator_ensure_partitions("
                  "'trapper.orchestrator_job_log')", TimeZone="America/Los_Angeles")
    assert _rows(db_url, "SELECT log_id, log_seq, decision_reason "
                         "FROM trapper.orchestrator_job_log ORDER BY log_seq") == before
    where = dict(_rows(db_url, "SELECT decision_reason, tableoid::regclass::text "
                               "FROM trapper.orchestrator_job_log"))
    assert where == {"jan": "trapper.orchestrator_job_log_p202501",
                     "jan-31": "trapper.orchestrator_job_log_p202501",
                     "feb": "trapper.orchestrator_job_log_p202502"}
    parts = _rows(db_url, "SELECT range_from, range_to FROM trapper.orchestrator_partitions("
                          "'trapper.orchestrator_job_log') WHERE range_from IS NOT NULL "
                          "ORDER BY range_from")
    for (_, end), (start, _) in itertools.pairwise(parts):
        assert end == start
    assert val(db_url, "SELECT count(*) FROM pg_class WHERE relname LIKE '%astray%'") == 0


def test_a_hosts_own_worker_with_few_float_digits_records_the_thresholds_as_set(
    empty_db_url: str, world: Path,
) -> None:
    """A host's cron running the queue in its own session (the database's settings, not
    ours): a threshold of 12 went into score_breakdown and the reasons as 1e+01."""
    url = empty_db_url
    _ok(url, "install", "--with-core")
    _ok(url, "ingest", "--manifest", str(world / "manifest.json"))
    _set(url, {"extra_float_digits": "-15"})
    execute(url, "DO $$ DECLARE ids uuid[]; BEGIN LOOP "
                 "ids := ARRAY(SELECT c.job_id FROM trapper.claim_jobs('cron', 100) c); "
                 "EXIT WHEN cardinality(ids) = 0; "
                 "PERFORM * FROM trapper.work_jobs(ids, 'cron', 1000000); END LOOP; END $$")
    assert val(url, "SELECT count(*) FROM trapper.data_engine_match_decisions") > 0
    assert _rows(url, "SELECT DISTINCT score_breakdown -> 'thresholds' ->> 'auto' "
                      "FROM trapper.data_engine_match_decisions "
                      "WHERE score_breakdown ? 'thresholds'") == [("12",)]
    assert val(url, "SELECT count(*) FROM trapper.data_engine_match_decisions "
                    "WHERE decision_reason LIKE '%e+01%'") == 0
