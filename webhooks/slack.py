"""Slack Block Kit messages for alerts: what, which source, since when, counts, the fix, and
where to look closer. Pure functions: the sender renders an outbox row at send time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

SECTION_LIMIT = 2900     # Block Kit allows 3,000 characters per section
ICONS = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":white_circle:"}


def _when(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "?"


def _clip(text: str) -> str:
    return text if len(text) <= SECTION_LIMIT else text[: SECTION_LIMIT - 1] + "…"


def render(alert: Mapping[str, Any], dashboard: str | None = None) -> dict[str, Any]:
    """The Slack payload for one outbox row (``text`` is the notification fallback)."""
    source = f"{alert['source_system']}/{alert['source_table']}"
    anomalies = [a for a in alert["anomalies"] if "anomaly_key" in a]
    more = sum(int(a.get("more", 0)) for a in alert["anomalies"])
    kind = alert["kind"]
    n = len(anomalies) + more
    noun = "anomaly" if n == 1 else "anomalies"
    incident = alert.get("incident_id")
    # one incident, one thread of messages: each names it (docs/health-and-alerts.md,
    # "Incidents"); incoming webhooks cannot edit a message, so an update is a new one
    prefix = f"Incident #{incident} · " if incident is not None else ""
    kinds = ", ".join(dict.fromkeys(str(a["kind"]) for a in anomalies))
    if kind == "resolved":
        title = f":white_check_mark: {prefix}Resolved: {n} {noun} in {source}"
    else:
        again = {"repeat": " (still open)", "update": f" (updated: {kinds})"}.get(kind, "")
        title = f"{ICONS.get(alert['severity'], '')} {prefix}{alert['severity'].upper()}: " \
                f"{n} {noun} in {source}{again}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": True}},
    ]
    for a in anomalies:
        lines = [f"*{a['kind']}* · {a['summary']}"]
        since = f"since {_when(a.get('first_seen'))}"
        if kind == "resolved":
            since += f", resolved {_when(a.get('resolved_at'))}"
            # a level accepted as the source's new normal says so (docs/health-and-alerts.md,
            # "Volume baselines")
            if (a.get("details") or {}).get("resolution"):
                since += f" as the {a['details']['resolution']}"
        if int(a.get("occurrences") or 1) > 1:
            since += f", seen {a['occurrences']} times"
        lines.append(f"_{since}_")
        if a.get("suggested_fix") and kind != "resolved":
            lines.append(f"*What to do:* {a['suggested_fix']}")
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": _clip("\n".join(lines))}})
    if more:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": f"…and {more} more"}})
    look = [f"`atlas-orch anomalies --source {source}`",
            f"`atlas-orch log --source {source} --action error`"]
    if dashboard:
        look.insert(0, f"<{dashboard}/admin/data-health?source={source}|data-health page>")
    context = [{"type": "mrkdwn", "text": "Look closer: " + " · ".join(look)}]
    if incident is not None:
        context.append({"type": "mrkdwn", "text": f"incident `{incident}`"})
    context.append({"type": "mrkdwn", "text": f"alert `{alert['alert_id']}`"})
    blocks.append({"type": "context", "elements": context})
    text = f"{title} — " + "; ".join(a["summary"] for a in anomalies)[:1000] \
        + f" [alert {alert['alert_id']}]"
    return {"text": text, "blocks": blocks[:50]}
