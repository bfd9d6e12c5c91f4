"""The HTTP API, the websocket feed and replay, against a real `atlas-orch serve`."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import asyncpg
import pytest

from tests.conftest import REPO, run_cli
from tests.helpers import execute, flood_log, sql, val
from tests.listening import listen_once, wait_for
from tests.serving import ADMIN, READER, Server

P = "/api/admin/orchestrator"


@pytest.fixture
def server(loaded: str, tmp_path: Path) -> Iterator[Server]:
    s = Server(loaded, tmp_path, "--no-listen")
    try:
        yield s
    finally:
        assert s.stop() == 0, s.log()


def test_every_read_route_answers_in_the_envelope(server: Server, loaded: str) -> None:
    owner = sql(loaded, "SELECT source_row_id FROM trapper.staged_records "
                        "WHERE source_table = 'owner_info' LIMIT 1")[0][0]
    person = val(loaded, "SELECT person_id FROM trapper.sot_people "
                         "WHERE merged_into_person_id IS NULL LIMIT 1")
    paths = [
        f"{P}/sources", f"{P}/sources/clinichq/owner_info", f"{P}/rules",
        f"{P}/rules?source=client_survey/responses", f"{P}/health",
        f"{P}/why-missing?type=person_no_identifiers&limit=5", f"{P}/anomalies?all=true",
        f"{P}/alerts", f"{P}/log?source=clinichq/owner_info&record={owner}",
        f"{P}/log?action=staged&limit=3", f"{P}/entities/person/{person}/provenance",
        f"{P}/records/clinichq/owner_info/{owner}/timeline", "/api/health/processing",
        f"{P}/records/clinichq/owner_info/{owner}/why-missing",
    ]
    for path in paths:
        status, body = server.call("GET", path, READER)
        assert status == 200 and body["success"] is True, (path, body)
    _, health = server.call("GET", f"{P}/health", READER)
    assert {"health_status", "hourly"} <= set(health["data"]["sources"][0])
    _, why = server.call("GET", f"{P}/why-missing?type=person_no_identifiers&limit=5", READER)
    assert len(why["data"]["rows"]) == 5 and why["data"]["total"] >= 5
    _, prov = server.call("GET", f"{P}/entities/person/{person}/provenance", READER)
    assert prov["data"]["sources"] and prov["data"]["decisions"]
    _, tl = server.call("GET", f"{P}/records/clinichq/owner_info/{owner}/timeline", READER)
    assert tl["data"]["items"][0]["type"] == "staged"
    _, why_one = server.call("GET", f"{P}/records/clinichq/owner_info/{owner}/why-missing",
                             READER)
    assert why_one["data"]["missing"] is False and why_one["data"]["rejects"] == []
    assert why_one["data"]["answer"].startswith("stands now: version 1 from ")
    assert server.call("GET", f"{P}/records/clinichq/ownr_info/{owner}/why-missing",
                       READER)[0] == 404
    _, proc = server.call("GET", "/api/health/processing", READER)
    assert proc["data"]["status"] in ("healthy", "degraded", "unhealthy")
    assert {"queue", "stuck_jobs", "recent_failures", "data_integrity",
            "recommendations"} <= set(proc["data"])


def test_refusals_no_token_read_token_bad_input_unknown_ids(server: Server) -> None:
    assert server.call("GET", f"{P}/health")[0] == 401
    assert server.call("GET", f"{P}/health", "wrong-token")[0] == 401
    body = {"source_system": "barn_cats", "source_table": "reports",
            "display_name": "Barn cat reports"}
    status, err = server.call("POST", f"{P}/sources", READER, body)
    assert status == 403 and err == {"success": False, "error": {
        "code": "forbidden", "message": "this route needs the admin token"}}
    assert server.call("POST", f"{P}/sources", ADMIN, {"source_system": "X!"})[0] == 422
    assert server.call("POST", f"{P}/sources", ADMIN, raw=b"{not json")[0] == 400
    assert server.call("POST", f"{P}/sources", ADMIN, raw=b"x" * 300_000)[0] == 413
    assert server.call("GET", f"{P}/why-missing?limit=0", READER)[0] == 400
    assert server.call("GET", f"{P}/log?entity=not-a-uuid", READER)[0] == 400
    assert server.call("GET", f"{P}/log?surprise=1", READER)[0] == 400
    assert server.call("GET", f"{P}/sources/nope/nothing", READER)[0] == 404
    assert server.call("GET", f"{P}/entities/person/{uuid.uuid4()}/provenance",
                       READER)[0] == 404
    assert server.call("GET", f"{P}/entities/dragon/{uuid.uuid4()}/provenance",
                       READER)[0] == 400
    assert server.call("GET", f"{P}/records/clinichq/owner_info/nope/timeline",
                       READER)[0] == 404
    assert server.call("POST", f"{P}/alerts/{uuid.uuid4()}/redeliver", ADMIN)[0] == 404
    assert server.call("GET", f"{P}/no-such-route", READER)[0] == 404
    status, err = server.call("POST", f"{P}/records/clinichq/owner_info/x/replay", READER,
                              {"mode": "apply"})
    assert status == 403
    # valid input the database's state refuses is a 409 with the database's explanation:
    # a rule naming a function outside the allowlist, a source with a processor nobody
    # registered or a required field it does not expect (ORCH_013)
    status, err = server.call("POST", f"{P}/rules", ADMIN, {
        "source_system": "client_survey", "source_table": "responses", "source_field": "email",
        "target_surface": "sot_people", "routing_type": "function_call",
        "target_function": "pg_sleep"})
    assert status == 409 and "pg_sleep" in err["error"]["message"]
    status, err = server.call("POST", f"{P}/sources", ADMIN, {
        "source_system": "vet", "source_table": "visits", "display_name": "Vets",
        "processor_name": "vet_magic"})
    assert status == 409 and 'processor "vet_magic" is not registered' in err["error"]["message"]
    status, err = server.call("POST", f"{P}/sources", ADMIN, {
        "source_system": "vet", "source_table": "visits", "display_name": "Vets",
        "expected_fields": ["visit_id"], "required_fields": ["visit_id", "email"]})
    assert status == 409 and "email are not among the expected fields" in err["error"]["message"]
    assert server.call("GET", f"{P}/sources/vet/visits", READER)[0] == 404
    # ints beyond int64, times that are not times: the API's words, not the driver's
    status, err = server.call("GET", f"{P}/log?after={2**63}", READER)
    assert status == 400 and "less than or equal to 9223372036854775807" in err["error"]["message"]
    assert "$" not in err["error"]["message"]
    assert server.call("GET", f"{P}/log?until=0.5", READER)[0] == 400
    assert server.call("GET", f"{P}/log?until=2024-05-01T12:00:00Z", READER)[0] == 200
    assert "Traceback" not in server.log()


def test_admin_routes_register_map_dry_run_and_process(server: Server, loaded: str) -> None:
    body = {"source_system": "barn_cats", "source_table": "reports",
            "display_name": "Barn cat reports", "expected_fields": ["report_id", "email"],
            "id_field_candidates": ["report_id"]}
    status, got = server.call("POST", f"{P}/sources", ADMIN, body)
    assert status == 200 and got["data"]["display_name"] == "Barn cat reports"
    status, rule = server.call("POST", f"{P}/rules", ADMIN, {
        "source_system": "barn_cats", "source_table": "reports", "source_field": "email",
        "target_surface": "sot_people", "target_field": "email",
        "routing_type": "function_call", "target_function": "find_or_create_person"})
    assert status == 200, rule
    assert rule["data"]["target_function"] == "find_or_create_person"
    status, dry = server.call("POST", f"{P}/rules/dry-run", READER,
                              {"source": "client_survey/responses"})
    assert status == 409 and "no staged records" in dry["error"]["message"]
    status, proc = server.call("POST", "/api/ingest/process", ADMIN, {"budget_s": 5})
    assert status == 200 and {"jobs_processed", "duration_ms", "results",
                              "queue_remaining"} <= set(proc["data"])


def test_openapi_is_served_raw_without_a_token_and_declares_the_contract(
    server: Server
) -> None:
    status, spec = server.call("GET", "/api/openapi.json")
    assert status == 200 and spec["openapi"] == "3.1.0" and "success" not in spec
    assert f"{P}/records/{{system}}/{{table}}/{{record_id}}/replay" in spec["paths"]
    assert "RegisterSource" in spec["components"]["schemas"]
    log = spec["paths"][f"{P}/log"]["get"]
    params = {p["name"]: p["schema"] for p in log["parameters"]}
    assert params["after"] == {"type": "integer", "minimum": 0,
                               "maximum": 2**63 - 1, "default": 0}
    assert params["until"] == {"type": "string", "format": "date-time"}
    assert params["entity"]["format"] == "uuid"
    assert log["security"] == [{"bearer": ["read"]}]
    assert set(log["responses"]) == {"200", "400", "401", "403", "409", "500", "503"}
    assert log["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"}
    prov = spec["paths"][f"{P}/entities/{{entity_type}}/{{entity_id}}/provenance"]["get"]
    kinds = {p["name"]: p["schema"] for p in prov["parameters"]}
    assert kinds["entity_type"]["enum"] == ["person", "place", "cat", "request"]
    assert kinds["entity_id"]["format"] == "uuid"
    register = spec["paths"][f"{P}/sources"]["post"]
    assert register["security"] == [{"bearer": ["admin"]}]
    assert {"403", "409", "413", "415", "422"} <= set(register["responses"])
    assert spec["paths"]["/api/openapi.json"]["get"]["security"] == []


def test_schemathesis_finds_no_failure_with_every_check(
    server: Server, loaded: str, tmp_path: Path
) -> None:
    # real ids for the routes that take them, so the run gets past 404 into the handlers
    # (replay's reprocess, apply and emit included)
    record = val(loaded, "SELECT source_row_id FROM trapper.staged_records "
                         "WHERE source_table = 'owner_info' LIMIT 1")
    person = val(loaded, "SELECT person_id FROM trapper.sot_people LIMIT 1")
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        '[[operations]]\ninclude-path-regex = "/records/"\n'
        f'parameters = {{ system = "clinichq", table = "owner_info", record_id = "{record}" }}\n'
        '[[operations]]\ninclude-path-regex = "/provenance"\n'
        f'parameters = {{ entity_type = "person", entity_id = "{person}" }}\n')
    done = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
         f"{server.base}/api/openapi.json", "--checks", "all",
         "--header", f"Authorization: Bearer {ADMIN}", "--max-examples", "25", "--seed", "15",
         "--no-color"],
        capture_output=True, text=True, timeout=400, cwd=REPO)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "failure" not in done.stdout.splitlines()[-1], done.stdout[-3000:]
    log = server.log()
    assert '"api_error"' not in log and "Traceback" not in log
    assert ADMIN not in log and READER not in log


def test_replay_shows_versions_merges_and_flags_and_reprocess_writes_nothing(
    server: Server, loaded: str
) -> None:
    env = {"DATABASE_URL": loaded}
    # a survey response staged twice (edited at the source), routed by the router
    for cats in ("3", "30"):
        execute(loaded, f"""
            INSERT INTO trapper.staged_records (source_system, source_table, source_row_id,
                                                row_hash, payload)
            VALUES ('client_survey', 'responses', 'R1', md5('{cats}'),
                    '{{"response_id": "R1", "first_name": "Ann", "last_name": "Lee",
                      "email": "ann.lee@example.org", "address": "12 Oak St, Petaluma, CA",
                      "cat_count": "{cats}"}}')""")
        val(loaded, "SELECT trapper.route_staged_record(max(id)) FROM trapper.staged_records")
    person = val(loaded, "SELECT entity_id FROM trapper.entity_sources "
                         "WHERE source_row_id = 'R1' AND entity_type = 'person' LIMIT 1")
    assert person is not None
    other = val(loaded, "SELECT person_id FROM trapper.sot_people WHERE person_id <> $1 "
                        "AND merged_into_person_id IS NULL LIMIT 1", person)
    execute(loaded, f"UPDATE trapper.sot_people SET merged_into_person_id = '{other}' "
                    f"WHERE person_id = '{person}'")
    val(loaded, "SELECT trapper.orchestrator_raise_anomaly('t:client_survey', "
                "'implausible_value', 'warning', 'client_survey', 'responses', 'odd')")
    listen_once(loaded)
    done = run_cli("replay", "client_survey/responses/R1", "--json", env=env)
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)["items"]
    kinds = [i["type"] for i in items]
    assert kinds.count("staged") == 2
    assert "decision" in kinds and "anomaly" in kinds
    assert any(i.get("action") == "entity_merged" for i in items)
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
    # a rule change, then --reprocess: the difference, and nothing written
    execute(loaded, "UPDATE trapper.orchestrator_routing_rules SET is_active = false "
                    "WHERE source_system = 'client_survey' AND source_field = 'cat_count'")
    before = val(loaded, "SELECT count(*) FROM trapper.orchestrator_job_log")
    status, got = server.call("POST", f"{P}/records/client_survey/responses/R1/replay",
                              ADMIN, {"mode": "reprocess"})
    assert status == 200, got
    assert got["data"]["changed"] and got["data"]["only_then"]
    assert any(r["surface"] == "place_colony_estimates" for r in got["data"]["only_then"])
    # R1's person was merged into an unrelated one above: compared by canonical id, the
    # engine would now create a person again (a real difference), besides the estimate
    surfaces = {d["surface"] for d in got["data"]["differences"]}
    assert "place_colony_estimates" in surfaces and "places" not in surfaces
    assert val(loaded, "SELECT count(*) FROM trapper.orchestrator_job_log") == before


def test_dry_run_and_reprocess_with_no_rule_change_change_nothing(
    server: Server, loaded: str, tmp_path: Path
) -> None:
    """The dry run and replay's reprocess judge outcomes: with no rule change no record of
    any source is reported changed, though every entity they made exists now; a rule
    deactivated reports exactly the records it changes."""
    env = {"DATABASE_URL": loaded}
    survey = tmp_path / "survey.csv"
    assert run_cli("demo", "survey", "--rows", "200", "--out", str(survey)).returncode == 0
    assert run_cli("ingest", "client_survey/responses", str(survey), env=env).returncode == 0
    assert run_cli("process", env=env, timeout=300).returncode == 0
    sources = [f"{a}/{b}" for a, b in sql(loaded, "SELECT DISTINCT source_system, "
                                                  "source_table FROM trapper.staged_records")]
    for source in sources:
        status, got = server.call("POST", f"{P}/rules/dry-run", READER,
                                  {"source": source, "limit": 1000})
        assert status == 200, got
        assert got["data"]["summary"]["changed"] == 0 and not got["data"]["changed"], source
    # reprocess: the first records of every source come out as they did
    for system, table, rid in sql(loaded, """
            SELECT source_system, source_table, source_row_id FROM (
                SELECT *, row_number() OVER (PARTITION BY source_system, source_table
                                             ORDER BY id) AS n
                FROM trapper.staged_records) s
            WHERE n <= 3 AND source_system <> 'atlas_ui'"""):
        status, got = server.call("POST", f"{P}/records/{system}/{table}/{rid}/replay",
                                  ADMIN, {"mode": "reprocess"})
        assert status == 200 and got["data"]["changed"] is False, (system, table, rid, got)
    with_estimate = {r[0] for r in sql(
        loaded, "SELECT staged_record_id FROM trapper.orchestrator_job_log "
                "WHERE source_system = 'client_survey' AND action = 'routed' "
                "AND target_surface = 'place_colony_estimates'")}
    execute(loaded, "UPDATE trapper.orchestrator_routing_rules SET is_active = false "
                    "WHERE source_system = 'client_survey' AND source_field = 'cat_count'")
    status, got = server.call("POST", f"{P}/rules/dry-run", READER,
                              {"source": "client_survey/responses", "limit": 1000})
    assert status == 200, got
    assert {c["staged_record_id"] for c in got["data"]["changed"]} == with_estimate
    assert got["data"]["summary"]["changed"] == len(with_estimate) > 0
    assert all(d["surface"] == "place_colony_estimates"
               for c in got["data"]["changed"] for d in c["differences"])


def _ws_url(server: Server, query: str) -> str:
    return server.base.replace("http", "ws") + f"{P}/feed?{query}"


def _bearer(token: str = READER) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _collect(url: str, want: int, *, timeout: float = 30) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as s, s.ws_connect(url, headers=_bearer()) as ws:
        with anyio.fail_after(timeout):
            while len(rows) < want:
                msg = json.loads((await ws.receive()).data)
                if msg["type"] == "log":
                    rows.extend(msg["rows"])
    return rows


def test_feed_resumes_from_a_cursor_across_backlog_and_live_without_gap_or_duplicate(
    server: Server, loaded: str
) -> None:
    start = val(loaded, "SELECT max(log_seq) FROM trapper.orchestrator_job_log")
    insert = ("INSERT INTO trapper.orchestrator_job_log (action, source_system, source_table, "
              "decision_reason) SELECT 'routed', 'feed', 'test', 'row ' || g "
              "FROM generate_series(1, $1) g")
    sql(loaded, insert, 300)                                  # the backlog

    async def go() -> list[dict[str, Any]]:
        async def writers() -> None:
            a, b = await asyncpg.connect(loaded), await asyncpg.connect(loaded)
            try:
                for _ in range(30):
                    # two transactions that commit out of log_seq order
                    await a.execute("BEGIN")
                    await a.execute(insert, 5)
                    await b.execute(insert, 5)
                    await a.execute("COMMIT")
                    await anyio.sleep(0.01)
            finally:
                await a.close()
                await b.close()

        async with anyio.create_task_group() as tg:
            tg.start_soon(writers)
            rows = await _collect(_ws_url(server, f"after={start}&source=feed/test"), 600)
        return rows

    rows = anyio.run(go)
    seqs = [r["log_seq"] for r in rows]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)) == 600
    expected = [r[0] for r in sql(loaded, "SELECT log_seq FROM trapper.orchestrator_job_log "
                                          "WHERE source_system = 'feed' ORDER BY 1")]
    assert seqs == expected


def test_feed_clients_with_different_filters_each_get_exactly_their_rows(
    server: Server, loaded: str
) -> None:
    # the live batches are filtered once per distinct filter and shared (listener/web/feed.py):
    # two clients with the same filter, and filters by source, table, kind and record
    start = val(loaded, "SELECT max(log_seq) FROM trapper.orchestrator_job_log")
    insert = ("INSERT INTO trapper.orchestrator_job_log (action, source_system, source_table, "
              "source_record_id, decision_reason) "
              "SELECT (ARRAY['routed', 'skipped'])[1 + g % 2], 'fx', "
              "(ARRAY['a', 'b'])[1 + (g / 2) % 2], 'r' || (g % 7), 'row' "
              "FROM generate_series($1::int, $1::int + 9) g")
    sql(loaded, insert, 0)                                    # a backlog, then live rows
    queries = ["source=fx", "source=fx/a", "source=fx/a", "action=skipped&source=fx",
               "source=fx/b&record=r3", "source=fx&action=routed&record=r4"]

    def keep(q: str, r: tuple[Any, ...]) -> bool:
        args = dict(a.split("=") for a in q.split("&"))
        system, _, table = args["source"].partition("/")
        return (r[2] == system and (not table or r[3] == table)
                and args.get("action", r[1]) == r[1] and args.get("record", r[4]) == r[4])

    async def go() -> list[list[dict[str, Any]]]:
        async def writers() -> None:
            conn = await asyncpg.connect(loaded)
            try:
                for k in range(1, 30):
                    await conn.execute(insert, k * 10)
                    await anyio.sleep(0.01)
            finally:
                await conn.close()

        got: list[list[dict[str, Any]]] = [[] for _ in queries]
        rows = [(0, ("routed", "skipped")[g % 2], "fx", ("a", "b")[(g // 2) % 2], f"r{g % 7}")
                for g in range(300)]                   # what the inserts below write
        want = [sum(keep(q, r) for r in rows) for q in queries]

        async def collect(i: int) -> None:
            got[i] = await _collect(_ws_url(server, f"after={start}&{queries[i]}"), want[i])

        async with anyio.create_task_group() as tg:
            for i in range(len(queries)):
                tg.start_soon(collect, i)
            tg.start_soon(writers)
        return got

    got = anyio.run(go)
    log = sql(loaded, "SELECT log_seq, action, source_system, source_table, source_record_id "
                      "FROM trapper.orchestrator_job_log WHERE log_seq > $1 ORDER BY 1", start)
    for q, rows in zip(queries, got, strict=True):
        assert [r["log_seq"] for r in rows] == [r[0] for r in log if keep(q, r)], q


def _handshake(server: Server, query: str, headers: dict[str, str] | None = None) -> int:
    """The feed's handshake status: 101 when the websocket opened."""
    async def go() -> int:
        async with aiohttp.ClientSession() as s:
            try:
                async with s.ws_connect(_ws_url(server, query), headers=headers or {}) as ws:
                    hello = json.loads((await ws.receive()).data)
                    assert hello["type"] == "hello"
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    return anyio.run(go)


def test_a_live_client_gets_an_emitted_timeline_right_after_its_row_then_the_next_rows(
    server: Server, loaded: str
) -> None:
    # a client that keeps up is written to by the hub itself (listener/web/feed.py); a row
    # of replay --emit goes through its handler, which sends the timeline after it, and the
    # rows that follow still come, in order, once it is live again
    record = val(loaded, "SELECT source_row_id FROM trapper.staged_records "
                         "WHERE source_table = 'owner_info' LIMIT 1")
    insert = ("INSERT INTO trapper.orchestrator_job_log (action, source_system, source_table, "
              "source_record_id, decision_reason) VALUES ('routed', 'clinichq', 'owner_info', "
              "$1, 'live') RETURNING log_seq")

    async def go() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        url = _ws_url(server, f"source=clinichq/owner_info&record={record}")
        async with aiohttp.ClientSession() as s, s.ws_connect(url, headers=_bearer()) as ws:
            assert json.loads((await ws.receive()).data)["type"] == "hello"

            async def until(pred: Any) -> None:
                with anyio.fail_after(30):
                    while not got or not pred(got[-1]):
                        got.append(json.loads((await ws.receive()).data))

            first = await anyio.to_thread.run_sync(val, loaded, insert, record)
            await until(lambda m: m["type"] == "log" and m["rows"][-1]["log_seq"] == first)
            status, done = server.call("POST", f"{P}/records/clinichq/owner_info/{record}/"
                                               "replay", ADMIN, {"mode": "emit"})
            assert status == 200, done
            await until(lambda m: m["type"] == "replay")
            last = [await anyio.to_thread.run_sync(val, loaded, insert, record)
                    for _ in range(3)][-1]
            await until(lambda m: m["type"] == "log" and m["rows"][-1]["log_seq"] == last)
        return got

    got = anyio.run(go)
    kinds = [(m["type"], m["rows"][-1]["action"] if m["type"] == "log" else None) for m in got]
    emitted = kinds.index(("log", "replayed"))
    assert kinds[emitted + 1] == ("replay", None), kinds
    assert got[emitted + 1]["record"] == f"clinichq/owner_info/{record}"
    assert got[emitted + 1]["items"] and got[emitted + 1]["replay"] is True
    seqs = [r["log_seq"] for m in got if m["type"] == "log" for r in m["rows"]]
    assert seqs == sorted(set(seqs)) and len(seqs) == 5, seqs


def test_feed_needs_a_token_or_a_ticket_and_never_takes_one_in_its_url(server: Server) -> None:
    assert _handshake(server, "after=0") == 401
    assert _handshake(server, f"token={READER}") == 400
    assert _handshake(server, "after=0", _bearer()) == 101
    status, got = server.call("POST", f"{P}/feed/tickets", READER)
    assert status == 200 and got["data"]["expires_in"] <= 30
    ticket = got["data"]["ticket"]
    assert READER not in ticket
    assert _handshake(server, f"ticket={ticket}") == 101
    assert _handshake(server, f"ticket={ticket}") == 401          # single use
    assert server.call("POST", f"{P}/feed/tickets")[0] == 401     # a ticket needs a token
    assert '"api_error"' not in server.log() and READER not in server.log()


def test_feed_refuses_a_cursor_it_could_never_reach(server: Server, loaded: str) -> None:
    newest = val(loaded, "SELECT max(log_seq) FROM trapper.orchestrator_job_log")
    assert _handshake(server, f"after={2**63}", _bearer()) == 400
    assert _handshake(server, "after=-1", _bearer()) == 400
    assert _handshake(server, f"after={newest + 10_000}", _bearer()) == 400
    assert _handshake(server, f"after={newest}", _bearer()) == 101


def test_expired_tickets_are_refused() -> None:
    from listener.web.app import Tickets

    tickets = Tickets(ttl_s=0.0)
    assert tickets.redeem(tickets.issue("read")) is None
    fresh = Tickets()
    ticket = fresh.issue("admin")
    assert fresh.redeem(ticket) == "admin" and fresh.redeem(ticket) is None


def test_a_slow_client_is_cut_off_with_lagged(loaded: str, tmp_path: Path) -> None:
    server = Server(loaded, tmp_path, "--no-listen", env={"ATLAS_ORCH_FEED_MAX_QUEUE": "3"})
    try:
        async def go() -> dict[str, Any]:
            async with aiohttp.ClientSession() as s, \
                    s.ws_connect(_ws_url(server, ""), headers=_bearer()) as ws:
                hello = json.loads((await ws.receive()).data)
                assert hello["type"] == "hello"
                await flood_log(loaded)    # ~24 MB the client does not read
                with anyio.fail_after(60):
                    while True:
                        msg = await ws.receive()
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            raise AssertionError(f"closed without lagged: {msg}")
                        doc = json.loads(msg.data)
                        if doc["type"] == "lagged":
                            return doc
        lagged = anyio.run(go)
        assert lagged["cursor"] > 0 and "after=" in lagged["message"]
    finally:
        server.stop()


def test_serve_with_the_listener_shows_a_new_ingest_live(loaded: str, tmp_path: Path,
                                                         world: Path) -> None:
    server = Server(loaded, tmp_path)
    try:
        wait_for(lambda: '"leader_acquired"' in server.log(), 20, "the listener to lead")

        async def go() -> list[dict[str, Any]]:
            async with aiohttp.ClientSession() as s, \
                    s.ws_connect(_ws_url(server, "action=staged"), headers=_bearer()) as ws:
                json.loads((await ws.receive()).data)
                stage = ("INSERT INTO trapper.staged_records (source_system, source_table, "
                         "source_row_id, row_hash, payload) VALUES ('petlink', 'owners', "
                         "'live-1', 'live-1', '{}')")
                await anyio.to_thread.run_sync(execute, loaded, stage)
                with anyio.fail_after(10):
                    msg = json.loads((await ws.receive()).data)
                return list(msg["rows"])

        rows = anyio.run(go)
        assert rows[0]["source_system"] == "petlink" and rows[0]["action"] == "staged"
    finally:
        assert server.stop() == 0


def test_cli_refusals_say_what_is_wrong(db_url: str) -> None:
    env = {"DATABASE_URL": db_url}
    bad_record = run_cli("replay", "clinichq/owner_info", env=env)
    assert bad_record.returncode == 2 and "SYSTEM/TABLE/RECORD_ID" in bad_record.stderr
    missing = run_cli("replay", "clinichq/owner_info/nope", env=env)
    assert missing.returncode == 1 and "no staged record nope" in missing.stderr
    bad_source = run_cli("why-missing", "--source", "a/b/c", env=env)
    # a malformed SYSTEM/TABLE is a wrong command line (docs/operations.md, "Exit status")
    assert bad_source.returncode == 2 and "SYSTEM/TABLE" in bad_source.stderr
    assert run_cli("listen", "--once", "--batch", "0", env=env).returncode == 2
    no_tokens = run_cli("serve", "--port", "1", env={**env, "ATLAS_ORCH_ADMIN_TOKEN": "",
                                                      "ATLAS_ORCH_READ_TOKEN": ""})
    assert no_tokens.returncode == 1 and "ATLAS_ORCH_ADMIN_TOKEN" in no_tokens.stderr
    unknown = run_cli("provenance", "person", str(uuid.uuid4()), env=env)
    assert unknown.returncode == 1 and "no person" in unknown.stderr


def test_a_bad_feed_queue_setting_is_a_usage_error_not_a_traceback() -> None:
    result = run_cli("serve", env={"ATLAS_ORCH_ADMIN_TOKEN": "t" * 32,
                                   "ATLAS_ORCH_FEED_MAX_QUEUE": "lots",
                                   "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.returncode == 2, result.stderr
    assert "ATLAS_ORCH_FEED_MAX_QUEUE" in result.stderr and "Traceback" not in result.stderr
