"""The review queue (issue 18, item 1; docs/identity.md, "Reviewing") on real PostgreSQL:
list and show, merge, keep separate (remembered: the same pair is not queued again), defer,
a merge that would chain, a candidate merged meanwhile, two reviewers at once, the CLI and
the API."""

from __future__ import annotations

import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from listener.admin import read, review
from tests.conftest import REPO, run_cli
from tests.helpers import sql, val
from tests.serving import ADMIN, READER, Server


def _resolve(url: str, row_id: str, first: str, last: str, phone: str,
             source: str = "petlink", email: str | None = None) -> dict[str, Any]:
    """Stage a record and resolve its person, as a processor would."""
    staged = val(url, "INSERT INTO trapper.staged_records (source_system, source_table, "
                      "source_row_id, row_hash, payload) VALUES ($1, 'owners', $2, $3, '{}') "
                      "RETURNING id", source, row_id, uuid.uuid4().hex)
    r = sql(url, "SELECT * FROM trapper.data_engine_resolve_identity($1, $2, $3, $4, NULL, $5, "
                 "$6)", email, phone, first, last, source, staged)[0]
    return dict(r)


def _pending_pair(url: str, tag: str = "1") -> tuple[int, uuid.UUID, uuid.UUID]:
    """John Smith (clinic), then "Jon Smith" on his phone from PetLink (trusted 0.4): a
    possible match, queued. Returns (decision, incoming person, candidate)."""
    phone = f"70752301{int(tag):02d}"
    john = _resolve(url, f"c{tag}", "John", "Smith", phone, source="clinichq")
    assert john["decision_type"] == "new_entity"
    jon = _resolve(url, f"p{tag}", "J.", "Smith", phone)
    assert jon["decision_type"] == "review_pending", jon
    return jon["decision_id"], jon["person_id"], john["person_id"]


def _act(url: str, decision: int, verdict: str, by: str = "tester",
         note: str | None = None) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        conn = await asyncpg.connect(url)
        try:
            return await review.act(conn, decision, verdict, by=by, note=note)
        finally:
            await conn.close()

    return anyio.run(go)


def _call(url: str, fn: Any) -> Any:
    async def go() -> Any:
        conn = await asyncpg.connect(url)
        try:
            return await fn(conn)
        finally:
            await conn.close()

    return anyio.run(go)


def test_show_puts_the_record_beside_its_candidate_with_the_weights(db_url: str) -> None:
    decision, jon, john = _pending_pair(db_url)
    rows = _call(db_url, lambda c: review.pending(c, system="petlink"))
    assert [r["decision_id"] for r in rows] == [decision]
    assert rows[0]["candidate_name"] == "John Smith"
    assert _call(db_url, lambda c: review.pending(c, system="clinichq")) == []
    doc = _call(db_url, lambda c: review.show(c, decision))
    assert doc["incoming"]["name"] == "J. Smith"
    assert doc["incoming"]["person"]["person_id"] == jon
    assert doc["candidate"]["person_id"] == john
    assert doc["candidate"]["identifiers"][0]["value"] == "7075230101"
    assert doc["candidate"]["sources"][0]["source_system"] == "clinichq"
    fields = {f["field"]: f for f in doc["score_breakdown"]["fields"]}
    assert fields["name"]["parameter"] == "name_close"
    assert fields["phone"]["parameter"] == "phone" and float(fields["phone"]["w_agree"]) > 10
    total = sum(float(f["weight"] or 0) for f in fields.values())
    assert abs(total - float(doc["score"])) < 0.05
    with pytest.raises(read.NotFound):
        _call(db_url, lambda c: review.show(c, 10**9))


def test_merge_merges_through_the_engines_path_and_logs_both_people(db_url: str) -> None:
    decision, jon, john = _pending_pair(db_url)
    out = _act(db_url, decision, "merge", by="alice", note="same man, says the clinic")
    assert out["review_status"] == "merged" and out["survivor_id"] == str(john)
    assert val(db_url, "SELECT merged_into_person_id FROM trapper.sot_people "
                       "WHERE person_id = $1", jon) == john
    assert val(db_url, "SELECT review_status FROM trapper.data_engine_match_decisions "
                       "WHERE decision_id = $1", decision) == "merged"
    rows = sql(db_url, "SELECT target_entity_id, decision_reason, decision_details "
                       "FROM trapper.orchestrator_job_log WHERE action = 'identity_decision' "
                       "AND decision_details ->> 'review' IS NOT NULL ORDER BY log_seq")
    assert {r["target_entity_id"] for r in rows} == {jon, john}
    details = json.loads(rows[0]["decision_details"])
    assert details["by"] == "alice" and details["note"] == "same man, says the clinic"
    assert "alice" in rows[0]["decision_reason"]
    # both people's provenance and the record's timeline carry it
    prov = _call(db_url, lambda c: read.provenance(c, "person", jon))
    assert prov["canonical_id"] == john
    assert any("review" in (d["decision_reason"] or "") for d in prov["decisions"])
    timeline = _call(db_url, lambda c: read.timeline(c, "petlink", "owners", "p1"))
    assert any(i["type"] == "decision" and "review: person" in (i["decision_reason"] or "")
               for i in timeline["items"])
    # acting again is refused, naming who acted
    with pytest.raises(review.AlreadyReviewed, match="merged by alice"):
        _act(db_url, decision, "keep_separate")


def test_keep_separate_is_remembered_and_the_pair_is_not_queued_again(db_url: str) -> None:
    decision, jon, john = _pending_pair(db_url)
    out = _act(db_url, decision, "keep_separate", note="father and son")
    assert out["review_status"] == "kept_separate"
    a, b = sorted([jon, john])
    assert sql(db_url, "SELECT person_a, person_b, decided_by, note FROM "
                       "trapper.orchestrator_kept_separate")[0][:] == (a, b, "tester",
                                                                        "father and son")
    prov = _call(db_url, lambda c: read.provenance(c, "person", john))
    assert any("kept separate" in (d["decision_reason"] or "") for d in prov["decisions"])
    # explain's verdict names the review, not the score's review band
    why = val(db_url, "SELECT trapper.orchestrator_explain_person_pair($1, $2)", jon, john)
    why = json.loads(why) if isinstance(why, str) else why
    assert why["outcome"] == "kept_separate" and "tester kept them separate" in why["reason"]
    # the same record again (a new version of p1): no new review of the same pair
    staged = val(db_url, "INSERT INTO trapper.staged_records (source_system, source_table, "
                         "source_row_id, row_hash, payload) VALUES ('petlink', 'owners', 'p1', "
                         "'v2', '{\"v\": 2}') RETURNING id")
    again = dict(sql(db_url, "SELECT * FROM trapper.data_engine_resolve_identity(NULL, "
                             "'7075230101', 'J.', 'Smith', NULL, 'petlink', $1)", staged)[0])
    assert again["decision_type"] != "review_pending", again
    assert again["person_id"] == jon
    assert val(db_url, "SELECT count(*) FROM trapper.data_engine_match_decisions "
                       "WHERE review_status = 'pending'") == 0
    # the record again, now written as the candidate's exact name: the candidate scores best
    # (in the review band), and the record still stays with the person kept for it
    staged = val(db_url, "INSERT INTO trapper.staged_records (source_system, source_table, "
                         "source_row_id, row_hash, payload) VALUES ('petlink', 'owners', 'p1', "
                         "'v3', '{\"v\": 3}') RETURNING id")
    third = dict(sql(db_url, "SELECT * FROM trapper.data_engine_resolve_identity(NULL, "
                             "'7075230101', 'John', 'Smith', NULL, 'petlink', $1)", staged)[0])
    assert third["person_id"] == jon and "kept apart" in third["decision_reason"], third
    assert val(db_url, "SELECT top_candidate_id FROM trapper.data_engine_match_decisions "
                       "WHERE decision_id = $1", third["decision_id"]) == john
    # another pending decision on the same pair (crafted) cannot merge what was kept apart
    other = val(db_url, "INSERT INTO trapper.data_engine_match_decisions (source_system, "
                        "source_table, source_row_id, decision_type, decision_reason, "
                        "resulting_person_id, top_candidate_id, review_status) VALUES "
                        "('petlink', 'owners', 'p7', 'review_pending', 'crafted', $1, $2, "
                        "'pending') RETURNING decision_id", jon, john)
    with pytest.raises(review.AlreadyReviewed, match="kept separate by tester"):
        _act(db_url, other, "merge")
    assert val(db_url, "SELECT merged_into_person_id FROM trapper.sot_people "
                       "WHERE person_id = $1", jon) is None


def test_defer_keeps_it_pending_with_the_note_and_moves_it_last(db_url: str) -> None:
    first, _, _ = _pending_pair(db_url, "1")
    second, _, _ = _pending_pair(db_url, "2")
    out = _act(db_url, first, "defer", by="bob", note="call the owner")
    assert out["review_status"] == "pending"
    rows = _call(db_url, lambda c: review.pending(c))
    assert [r["decision_id"] for r in rows] == [second, first]
    assert rows[1]["deferred"] and rows[1]["deferred_by"] == "bob"
    assert rows[1]["deferred_note"] == "call the owner"
    # a deferred item can still be settled
    assert _act(db_url, first, "merge")["review_status"] == "merged"


def test_a_merge_that_would_chain_goes_to_canonical_ids(db_url: str) -> None:
    decision, jon, john = _pending_pair(db_url)
    # meanwhile John was merged into Johnny: the review merges Jon into Johnny, no chain
    johnny = _resolve(db_url, "c9", "Johnny", "Smith", "7075239999", source="clinichq")
    sql(db_url, "UPDATE trapper.sot_people SET merged_into_person_id = $1 WHERE person_id = $2",
        johnny["person_id"], john)
    out = _act(db_url, decision, "merge")
    assert out["candidate_id"] == str(johnny["person_id"]) and out["followed_merge"]
    assert val(db_url, "SELECT merged_into_person_id FROM trapper.sot_people "
                       "WHERE person_id = $1", jon) == johnny["person_id"]
    assert val(db_url, "SELECT count(*) FROM trapper.sot_people a JOIN trapper.sot_people b "
                       "ON b.person_id = a.merged_into_person_id "
                       "WHERE b.merged_into_person_id IS NOT NULL") == 0


def test_a_candidate_merged_into_the_record_s_person_meanwhile(db_url: str) -> None:
    decision, jon, john = _pending_pair(db_url)
    sql(db_url, "UPDATE trapper.sot_people SET merged_into_person_id = $1 WHERE person_id = $2",
        jon, john)
    # keeping apart two people already one is refused clearly; merging closes the item
    with pytest.raises(review.AlreadyReviewed, match="already one person"):
        _act(db_url, decision, "keep_separate")
    out = _act(db_url, decision, "merge")
    assert out["review_status"] == "merged" and "already one person" in out["reason"]


def test_two_reviewers_at_once_exactly_one_wins(db_url: str) -> None:
    decision, _jon, _john = _pending_pair(db_url)

    def attempt(verdict: str) -> str:
        try:
            return _act(db_url, decision, verdict, by=verdict)["review_status"]
        except review.AlreadyReviewed as exc:
            return f"refused: {exc}"

    # the first holds the decision's lock until it commits; the second waits, then is told
    async def hold_then_race() -> list[str]:
        conn = await asyncpg.connect(db_url)
        try:
            tx = conn.transaction()
            await tx.start()
            await conn.execute("SELECT 1 FROM trapper.data_engine_match_decisions "
                               "WHERE decision_id = $1 FOR UPDATE", decision)
            with ThreadPoolExecutor(2) as pool:
                futures = [pool.submit(attempt, "merge"), pool.submit(attempt, "keep_separate")]
                await anyio.sleep(0.5)        # both queue behind the lock (not a timing assert)
                await tx.rollback()
                return [f.result(timeout=60) for f in futures]
        finally:
            await conn.close()

    results = anyio.run(hold_then_race)
    won = [r for r in results if not r.startswith("refused")]
    lost = [r for r in results if r.startswith("refused")]
    assert len(won) == 1 and len(lost) == 1, results
    assert "not pending review" in lost[0]
    status = val(db_url, "SELECT review_status FROM trapper.data_engine_match_decisions "
                         "WHERE decision_id = $1", decision)
    assert status == won[0]
    assert val(db_url, "SELECT count(*) FROM trapper.orchestrator_job_log "
                       "WHERE decision_details ->> 'review' IS NOT NULL") == 2


def test_the_cli_lists_shows_and_acts(db_url: str) -> None:
    decision, _jon, _john = _pending_pair(db_url)
    env = {"DATABASE_URL": db_url}
    out = run_cli("review", "list", "--source", "petlink", "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert [r["decision_id"] for r in json.loads(out.stdout)] == [decision]
    shown = run_cli("review", "show", str(decision), env=env)
    assert shown.returncode == 0 and "candidate: John Smith" in shown.stdout
    assert "name_close" in shown.stdout
    done = run_cli("review", "keep-separate", str(decision), "--by", "carol", "--note", "two",
                   env=env)
    assert done.returncode == 0, done.stderr
    again = run_cli("review", "merge", str(decision), env=env)
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1 and "kept separate by carol" in again.stderr
    missing = run_cli("review", "show", "999999", env=env)
    assert missing.returncode == 1 and "no identity decision" in missing.stderr


def test_an_id_past_bigint_is_a_usage_error_not_a_driver_message(db_url: str) -> None:
    """`review show 99999999999999999999` printed asyncpg's "invalid input for query
    argument $1" (docs/api.md: never a driver's message); `log --staged` and `--after` too."""
    env = {"DATABASE_URL": db_url}
    for args in (("review", "show", "9223372036854775808"),
                 ("review", "merge", "99999999999999999999"),
                 ("log", "--staged", "9223372036854775808"),
                 ("log", "--after", "9223372036854775808")):
        out = run_cli(*args, env=env)
        assert out.returncode == 2, (args, out.stderr)
        assert "query argument" not in out.stderr and "Traceback" not in out.stderr
    at_the_bound = run_cli("review", "show", "9223372036854775807", env=env)
    assert at_the_bound.returncode == 1
    assert "no identity decision 9223372036854775807" in at_the_bound.stderr


def test_a_log_action_is_one_the_log_writes(db_url: str) -> None:
    """`log --action routd` answered "(no rows)" for ever; the CLI's and the API's list of
    actions is the table's CHECK (orchestrator 001), word for word."""
    check = val(db_url, "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c "
                        "WHERE c.conrelid = 'trapper.orchestrator_job_log'::regclass "
                        "AND pg_get_constraintdef(c.oid) LIKE '%action%'")
    assert sorted(re.findall(r"'(\w+)'::text", check)) == sorted(read.LOG_ACTIONS)
    out = run_cli("log", "--action", "routd", env={"DATABASE_URL": db_url})
    assert out.returncode == 2 and "'routd' is not one of 'routed'" in out.stderr
    assert run_cli("log", "--action", "routed", env={"DATABASE_URL": db_url}).returncode == 0


def test_acting_on_a_database_without_the_schema_says_install(empty_db_url: str) -> None:
    """`review merge 1` on an empty database said "schema trapper does not exist (... report
    this message)": a missing schema is a missing install, like a missing table."""
    out = run_cli("review", "merge", "1", env={"DATABASE_URL": empty_db_url})
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "atlas-orch install" in out.stderr
    assert "report this message" not in out.stderr


def test_the_world_queues_reviews_and_the_api_settles_them(db_url: str, world: Path,
                                                            tmp_path: Path) -> None:
    env = {"DATABASE_URL": db_url}
    assert run_cli("ingest", "--manifest", str(world / "manifest.json"), env=env).returncode == 0
    assert run_cli("process", env=env, timeout=300).returncode == 0
    server = Server(db_url, tmp_path)
    try:
        status, body = server.call("GET", "/api/admin/orchestrator/reviews", READER)
        assert status == 200 and len(body["data"]) >= 1
        first = body["data"][0]["decision_id"]
        status, body = server.call("GET", f"/api/admin/orchestrator/reviews/{first}", READER)
        assert status == 200 and body["data"]["candidate"] is not None
        path = f"/api/admin/orchestrator/reviews/{first}/merge"
        assert server.call("POST", path, READER, {})[0] == 403
        status, body = server.call("POST", path, ADMIN, {"note": "checked"})
        assert status == 200 and body["data"]["review_status"] == "merged", body
        assert body["data"]["by"] == "admin token 1"
        status, body = server.call("POST", f"/api/admin/orchestrator/reviews/{first}/defer",
                                   ADMIN, {"by": "dan"})
        assert status == 409 and "not pending review" in body["error"]["message"]
        assert server.call("POST", "/api/admin/orchestrator/reviews/1/explode", ADMIN,
                           {})[0] == 400
        assert server.call("GET", "/api/admin/orchestrator/reviews/999999999", READER)[0] == 404
        # the OpenAPI document declares the routes as they answer
        spec = server.call("GET", "/api/openapi.json")[1]
        acts = spec["paths"]["/api/admin/orchestrator/reviews/{decision_id}/{action}"]["post"]
        assert acts["security"] == [{"bearer": ["admin"]}]
        assert {"403", "404", "409", "422"} <= set(acts["responses"])
        kinds = {p["name"]: p["schema"] for p in acts["parameters"]}
        assert kinds["action"]["enum"] == ["merge", "keep-separate", "defer"]
        listing = spec["paths"]["/api/admin/orchestrator/reviews"]["get"]
        assert listing["security"] == [{"bearer": ["read"]}]
    finally:
        server.stop()


def test_the_page_s_review_panel_shows_both_sides_and_acts(db_url: str,
                                                           tmp_path: Path) -> None:
    import shutil

    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(chromium).exists(), "Debian's chromium is needed (.ci/run installs it)"
    decision, _jon, john = _pending_pair(db_url)
    server = Server(db_url, tmp_path)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium,
                                        args=["--no-sandbox", "--disable-gpu"])
            try:
                for token in (READER, ADMIN):
                    page = browser.new_context().new_page()
                    page.goto(server.base + "/admin/data-health")
                    page.fill("#token", token)
                    page.click("#loginform button")
                    page.wait_for_selector(f"#reviews a[data-review='{decision}']",
                                           timeout=10_000)
                    page.click(f"#reviews a[data-review='{decision}']")
                    page.wait_for_selector("#reviewdetail .side", timeout=10_000)
                    sides = page.locator("#reviewdetail .side").all_inner_texts()
                    assert "J. Smith" in sides[0] and "petlink" in sides[0]
                    assert "John Smith" in sides[1] and str(john) in sides[1]
                    assert "7075230101" in sides[1]
                    assert "name_close" in page.inner_text("#breakdown")
                    page.fill("#reviewnote", "two people, per the clinic")
                    if token == READER:     # a read token may look, not act
                        page.click("#reviewactions button[data-act='merge']")
                        page.wait_for_function(
                            "document.querySelector('#reviewmsg').textContent"
                            ".includes('admin token')", timeout=10_000)
                        continue
                    (Path(REPO) / "test-artifacts").mkdir(exist_ok=True)
                    page.screenshot(path=str(Path(REPO) / "test-artifacts" / "review-panel.png"),
                                    full_page=True)
                    page.click("#reviewactions button[data-act='keep-separate']")
                    page.wait_for_function(
                        "document.querySelector('#reviewstatus').textContent"
                        " === 'kept_separate'", timeout=10_000)
                    page.wait_for_selector("#reviews tbody i", timeout=10_000)   # now empty
            finally:
                browser.close()
    finally:
        server.stop()
    assert val(db_url, "SELECT review_status FROM trapper.data_engine_match_decisions "
                       "WHERE decision_id = $1", decision) == "kept_separate"
    assert val(db_url, "SELECT note FROM trapper.orchestrator_kept_separate") == \
        "two people, per the clinic"
    assert val(db_url, "SELECT reviewed_by FROM trapper.orchestrator_identity_reviews") == \
        "admin token 1"
