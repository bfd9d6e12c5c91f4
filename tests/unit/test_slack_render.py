"""Slack messages are rendered from an outbox row alone: title by severity and kind, one
section per anomaly with its fix, Block Kit's limits kept."""

from __future__ import annotations

from typing import Any

from webhooks.slack import SECTION_LIMIT, render


def _alert(kind: str = "open", n: int = 1, **extra: Any) -> dict[str, Any]:
    anomalies = [{"anomaly_key": f"k{i}", "kind": "source_silent", "summary": f"quiet {i}",
                  "suggested_fix": "re-export", "first_seen": "2026-11-30T05:00:00+00:00",
                  "occurrences": 3} for i in range(n)]
    return {"alert_id": "a1", "kind": kind, "severity": "critical", "source_system": "clinichq",
            "source_table": "cat_info", "anomalies": anomalies, **extra}


def test_an_alert_names_its_source_severity_and_fix() -> None:
    msg = render(_alert(), "https://atlas.example")
    header = msg["blocks"][0]["text"]["text"]
    assert header.startswith(":red_circle: CRITICAL: 1 anomaly in clinichq/cat_info")
    section = msg["blocks"][1]["text"]["text"]
    assert "*source_silent* · quiet 0" in section and "*What to do:* re-export" in section
    assert "since 2026-11-30 05:00 UTC, seen 3 times" in section
    assert "data-health page" in msg["blocks"][-1]["elements"][0]["text"]
    assert msg["text"].endswith("[alert a1]")


def test_resolved_messages_carry_no_fix_and_say_resolved() -> None:
    msg = render(_alert("resolved", 2))
    assert msg["blocks"][0]["text"]["text"].startswith(":white_check_mark: Resolved: 2 anomalies")
    assert all("What to do" not in b.get("text", {}).get("text", "") for b in msg["blocks"])


def test_block_kit_limits_are_kept() -> None:
    long = _alert(n=60)
    long["anomalies"][0]["summary"] = "x" * 10_000
    msg = render(long)
    assert len(msg["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= SECTION_LIMIT for b in msg["blocks"]
               if b["type"] == "section")
    assert len(msg["blocks"][0]["text"]["text"]) <= 150


def test_a_level_accepted_as_the_new_normal_says_so_when_resolved() -> None:
    alert = _alert("resolved")
    alert["anomalies"][0].update(kind="batch_volume", resolved_at="2026-11-30T06:00:00+00:00",
                                 details={"resolution": "new normal"})
    section = render(alert)["blocks"][1]["text"]["text"]
    assert "resolved 2026-11-30 06:00 UTC as the new normal" in section
