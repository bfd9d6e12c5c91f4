"""One redaction rule (listener.core.redact) for every message, log line and answer: passwords in
URLs and DSNs in any form, secret-named parameters, Authorization values, literal tokens."""

from __future__ import annotations

import io
import json
import logging

import pytest

from listener.core.logs import JsonFormatter, add_secrets
from listener.core.redact import redact
from tests.conftest import run_cli

CASES = [
    ("postgresql://atlas:pw-one@db.example:5432/atlas",
     "postgresql://atlas:***@db.example:5432/atlas"),
    ("postgres://atlas:p@ss@db/atlas?sslmode=require", "postgres://atlas:***@db/atlas?sslmode=require"),
    ("postgresql://atlas@db/atlas?password=pw-two&sslmode=require",
     "postgresql://atlas@db/atlas?password=***&sslmode=require"),
    ("host=db port=5432 password=pw-three dbname=atlas",
     "host=db port=5432 password=*** dbname=atlas"),
    ("host=db password='pw four\\' quoted' dbname=atlas", "host=db password=*** dbname=atlas"),
    ("GET /api/x?after=1&token=tok-five&limit=2 HTTP/1.1",
     "GET /api/x?after=1&token=***&limit=2 HTTP/1.1"),
    ('{"api_key": "key-six", "n": 1}', '{"api_key": "***", "n": 1}'),
    ("Authorization: Bearer tok-seven-xyz", "Authorization: Bearer ***"),
    ("authorization=Basic dXNlcjpwdw==", "authorization=Basic ***"),
    ('{"Authorization": "Bearer tok-in-json"}', '{"Authorization": "***"}'),
    ("sent Bearer tok-eight-long to the server", "sent Bearer *** to the server"),
    ("POST https://hooks.slack.com/services/T0/B0/hook-nine failed",
     "POST https://hooks.slack.com/services/*** failed"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_redact_hides_every_form_of_secret(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_leaves_ordinary_text_alone() -> None:
    for text in ("a bearer token is required", "duplicate key value violates unique constraint",
                 "anomaly_key=abc and monkey=1", "postgresql://atlas@db/atlas",
                 "cannot reach PostgreSQL at postgresql://db:5432/atlas"):
        assert redact(text) == text


def test_literal_secrets_are_masked_anywhere() -> None:
    assert redact("x-READ-TOKEN-123-y", ["READ-TOKEN-123"]) == "x-***-y"
    assert redact("short abc", ["abc"]) == "short abc"        # too short to be a token


def test_every_log_line_is_redacted_fields_and_tracebacks_too() -> None:
    add_secrets("literal-token-for-log-test")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.redact")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("connect to postgresql://u:pw-in-trace@h/db failed")
        except ValueError as exc:
            logger.error("failed for %s", "literal-token-for-log-test", exc_info=exc,
                         extra={"action": "x", "dsn": "host=h password=pw-in-field",
                                "nested": {"url": "http://h/?token=tok-in-nested"}})
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue()
    doc = json.loads(line)
    for secret in ("pw-in-trace", "pw-in-field", "tok-in-nested", "literal-token-for-log-test"):
        assert secret not in line
    assert doc["nested"] == {"url": "http://h/?token=***"}


@pytest.mark.parametrize("url", [
    "postgresql://u:pw-cli-1@127.0.0.1:1/db",
    "postgresql://u@127.0.0.1:1/db?password=pw-cli-2",
    "postgresql://u@127.0.0.1:5432/db?password=pw-cli-3&sslmode=bogus",
    "host=127.0.0.1 port=1 password=pw-cli-4 dbname=x",
])
def test_a_database_url_in_an_error_message_holds_no_password(url: str) -> None:
    done = run_cli("install", "--list", env={"DATABASE_URL": url})
    assert done.returncode == 1 and "pw-cli" not in done.stderr + done.stdout, done.stderr
    assert "***" in done.stderr
