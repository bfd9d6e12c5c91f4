"""The corpus of bad requests (tests/corpus/requests.toml), replayed over a raw socket against a
real `atlas-orch serve`: each is refused with the expected status in the API's envelope, and
no token, password or traceback reaches the answer or the server's log (issue 15)."""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import socket
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import execute, val
from tests.listening import wait_for
from tests.serving import ADMIN, READER, Server

CORPUS = Path(__file__).parent / "corpus" / "requests.toml"
CASES: list[dict[str, Any]] = tomllib.loads(CORPUS.read_text())["case"]
ALWAYS_ABSENT = (READER, ADMIN, "Traceback", '"api_error"', '"http_internal_error"')
_PLACEHOLDER = re.compile(r"\{(READ|ADMIN|INT64_MAX|INT64_OVER|(PAD|DEEP|SPACES|MANY_HEADERS):"
                          r"(\d+))\}")


def _expand(text: str) -> str:
    """Fill the corpus's placeholders (see the file's header)."""
    def one(m: re.Match[str]) -> str:
        kind, n = m.group(2), int(m.group(3) or 0)
        if kind == "PAD":
            return "a" * n
        if kind == "DEEP":
            return "[" * n + "]" * n
        if kind == "SPACES":
            return " " * n
        if kind == "MANY_HEADERS":
            return "".join(f"X-Filler-{i}: {i}\r\n" for i in range(n))
        return {"READ": READER, "ADMIN": ADMIN, "INT64_MAX": str(2**63 - 1),
                "INT64_OVER": str(2**63)}[m.group(1)]
    return _PLACEHOLDER.sub(one, text)


def request_bytes(case: dict[str, Any]) -> bytes:
    """The exact bytes a case sends."""
    if "raw" in case:
        return _expand(case["raw"]).encode("latin-1")
    body = _expand(case.get("body", "")).encode("latin-1")
    if case.get("gzip"):
        body = gzip.compress(body)
    lines = [f"{case.get('method', 'GET')} {_expand(case['path'])} HTTP/1.1", "Host: t",
             "Connection: close"]
    token = {"read": READER, "admin": ADMIN, "none": None}[case.get("auth", "read")]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    lines += [_expand(h) for h in case.get("headers", [])]
    if body or case.get("method") == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection; everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        # refused before the whole body went out: the answer is still there to read
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def served(pg: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the whole corpus, on a fresh database (the cases need no data)."""
    name = pg.create("full")
    server = Server(pg.url(name), tmp_path_factory.mktemp("corpus"), "--no-listen")
    try:
        yield server
    finally:
        server.stop()
        pg.drop(name)


def test_the_corpus_covers_every_class() -> None:
    assert len(CASES) >= 15
    assert len({c["name"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["name"][:60] for c in CASES])
def test_a_bad_request_is_refused_cleanly(served: Server, case: dict[str, Any]) -> None:
    logged_before = len(served.log())
    answer = exchange(served.port, request_bytes(case))
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    assert re.match(rf"HTTP/1\.[01] {case['status']} ", status_line), (status_line, body[:300])
    doc = json.loads(body)
    assert doc["success"] is False and doc["error"]["code"] == case["code"], doc
    if "header" in case:
        assert case["header"].encode() in head.split(b"\r\n"), head
    time.sleep(0.05)          # let the server finish the request's log line, if any
    logged = served.log()[logged_before:]
    text = answer.decode("latin-1")
    for secret in (*ALWAYS_ABSENT, *case.get("absent", [])):
        assert secret not in text, f"{secret!r} in the answer: {text[:500]}"
        assert secret not in logged, f"{secret!r} in the log: {logged[:2000]}"


def test_the_root_redirects_to_the_page(served: Server) -> None:
    answer = exchange(served.port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    head = answer.partition(b"\r\n\r\n")[0].split(b"\r\n")
    assert head[0].startswith(b"HTTP/1.1 302 ") and b"Location: /admin/data-health" in head


def test_a_database_that_refuses_connections_is_a_503_not_a_500(
    pg: Any, tmp_path: Path
) -> None:
    name = pg.create("full")
    server = Server(pg.url(name), tmp_path, "--no-listen")
    try:
        execute(pg.admin_url, f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        # pg_terminate_backend only signals, and a session may have been starting as the
        # ALTER ran: terminate until none is left
        wait_for(lambda: val(pg.admin_url, "SELECT count(pg_terminate_backend(pid)) = 0 "
                                           "FROM pg_stat_activity WHERE datname = $1", name),
                 10, "the server's sessions to end")
        for method, path, body in (("GET", "/api/admin/orchestrator/health", None),
                                   ("POST", "/api/ingest/process", {"budget_s": 1})):
            status, doc = server.call(method, path, ADMIN, body)
            assert status == 503 and doc["error"]["code"] == "unavailable", doc
        execute(pg.admin_url, f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        assert server.call("GET", "/api/admin/orchestrator/health", READER)[0] == 200
        assert '"api_error"' not in server.log()
    finally:
        execute(pg.admin_url, f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        server.stop()
        pg.drop(name)
