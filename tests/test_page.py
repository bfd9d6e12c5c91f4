"""The data-health page in a real headless Chromium (Debian's): the health table, a new event
live within 2 seconds of an ingest, a record's timeline, a feed URL without the token, and a
screenshot as an artifact."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers import execute, sql, val
from tests.listening import wait_for
from tests.serving import READER, Server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(REPO) / "test-artifacts"
P = "/api/admin/orchestrator"


@pytest.fixture
def served(loaded: str, tmp_path: Path) -> Iterator[tuple[Server, str]]:
    server = Server(loaded, tmp_path)
    try:
        wait_for(lambda: '"leader_acquired"' in server.log(), 20, "the listener to lead")
        yield server, loaded
    finally:
        server.stop()


def test_the_page_shows_health_live_events_and_a_timeline(served: tuple[Server, str]) -> None:
    from playwright.sync_api import sync_playwright

    server, db_url = served
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (.ci/run installs it)"
    record = val(db_url, "SELECT source_row_id FROM trapper.staged_records "
                         "WHERE source_table = 'owner_info' LIMIT 1")
    # a healthy source with an open warning needs attention, its anomaly named beside
    drifting = sql(db_url, "SELECT source_system, source_table FROM "
                           "trapper.v_orchestrator_health WHERE health_status = 'healthy' "
                           "ORDER BY 1, 2 LIMIT 1")[0]
    # (the served listener's detectors resolve an open anomaly of their kinds that their pass
    # does not see again: this one, raised by hand, was resolved when the first pass came
    # after it, as it did on a loaded machine; the page is what is tested here)
    execute(db_url, "UPDATE trapper.orchestrator_anomaly_detectors SET is_active = false "
                    "WHERE kind = 'schema_drift'")
    val(db_url, "SELECT trapper.orchestrator_raise_anomaly('drift:page', 'schema_drift', "
                "'warning', $1, $2, 'a column renamed', 'map it')",
        drifting["source_system"], drifting["source_table"])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            sockets: list[str] = []
            page.on("websocket", lambda ws: sockets.append(ws.url))
            page.goto(server.base + "/admin/data-health")
            page.fill("#token", READER)
            page.click("#loginform button")
            page.wait_for_selector("#health tbody tr", timeout=10_000)
            assert page.locator("#health tbody tr").count() >= 15
            assert page.locator("#health .status.healthy").count() > 0
            row = page.locator("#health tbody tr", has=page.locator(".status.attention"))
            assert row.count() == 1
            cells = row.locator("td")
            assert cells.nth(0).inner_text() == (f"{drifting['source_system']}/"
                                                 f"{drifting['source_table']}")
            assert cells.nth(1).inner_text().split() == ["attention", "schema_drift"]
            assert row.locator(".worst.warning").count() == 1
            page.wait_for_selector("#why tbody tr", timeout=10_000)
            page.wait_for_function(
                "document.querySelector('#feedstate').textContent === 'feed: live'",
                timeout=10_000)
            # an ingest shows up in the live stream within 2 seconds
            # (in a thread: playwright's sync API keeps an event loop running in this one)
            with ThreadPoolExecutor(1) as pool:
                pool.submit(execute, db_url, "INSERT INTO trapper.staged_records "
                            "(source_system, source_table, source_row_id, row_hash, payload) "
                            "VALUES ('pagetest', 'live', 'p1', 'p1', '{}')").result()
            committed = time.monotonic()
            page.wait_for_function(
                "document.querySelector('#events').textContent.includes('pagetest/live')",
                timeout=2_000)
            assert time.monotonic() - committed < 2.0
            # the feed authenticated with a single-use ticket, not the token in its URL
            assert sockets and all("ticket=" in u and READER not in u and "token" not in u
                                   for u in sockets), sockets
            # a record's timeline
            page.fill("#rec", f"clinichq/owner_info/{record}")
            page.click("#search button")
            page.wait_for_selector("#timeline table tr", timeout=10_000)
            assert "staged" in page.inner_text("#timeline")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "data-health.png"), full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "data-health.png").stat().st_size > 10_000
    assert READER not in server.log()


def test_a_timeline_row_links_to_its_entity_and_back(served: tuple[Server, str]) -> None:
    """Provenance you can click (docs/identity.md, "Explaining a match"): a timeline row
    opens the entity it names (its sources and decisions in order), whose source rows open
    their record's timeline; the same answers as the explain routes."""
    from playwright.sync_api import sync_playwright

    server, db_url = served
    row = sql(db_url, "SELECT l.source_record_id, l.target_entity_id "
                      "FROM trapper.orchestrator_job_log l "
                      "JOIN trapper.sot_people p ON p.person_id = l.target_entity_id "
                      "WHERE l.source_table = 'owner_info' AND p.merged_into_person_id IS NULL "
                      "ORDER BY l.log_seq LIMIT 1")[0]
    person = str(row["target_entity_id"])
    status, how = server.call("GET", f"{P}/explain/person/{person}", READER)
    assert status == 200 and how["data"]["steps"], how
    status, pair = server.call("GET", f"{P}/explain/person/{person}/{person}", READER)
    assert status == 200 and pair["data"]["outcome"] == "same_entity"
    assert server.call("GET", f"{P}/explain/dog/{person}", READER)[0] == 400
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server.base + "/admin/data-health")
            page.fill("#token", READER)
            page.click("#loginform button")
            page.wait_for_selector("#health tbody tr", timeout=10_000)
            page.fill("#rec", f"clinichq/owner_info/{row['source_record_id']}")
            page.click("#search button")
            link = page.locator(f"#timeline tr a.entity[data-id='{person}']").first
            link.wait_for(timeout=10_000)
            link.click()
            page.wait_for_selector("#explain table.steps tr td", timeout=10_000)
            assert person in page.inner_text("#explain")
            assert "owner_info" in page.inner_text("#explain table.steps")
            # a source row goes back to its record's timeline
            page.locator("#explain a.record").first.click()
            page.wait_for_function(
                "document.querySelector('#timeline').textContent.includes('staged')",
                timeout=10_000)
            # why / why-not for the person against itself: one entity
            page.fill("#xb", person)
            page.click("#explainform button")
            page.wait_for_selector("#explain .verdict", timeout=10_000)
            assert "one entity" in page.inner_text("#explain .verdict")
        finally:
            browser.close()
