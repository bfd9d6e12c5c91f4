"""Alert routes: which Slack webhook gets which anomalies. Webhook URLs are secrets: they come
from the environment or a routes file, live only in memory, and never reach logs, the
database or any output (``Route`` does not print its URL)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from yarl import URL

from listener.core.errors import UserError

DEFAULT_ROUTE = "default"
SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class Route:
    name: str
    url: str = field(repr=False)
    min_severity: str = "info"
    sources: tuple[str, ...] = ()      # "system/table" or "system/*"; empty: every source

    def as_plan(self) -> dict[str, Any]:
        """What the planner in SQL needs: everything but the URL."""
        return {"name": self.name, "min_severity": self.min_severity,
                "sources": list(self.sources)}

    @property
    def host(self) -> str:
        """The webhook's host, safe to log (the secret is in the path)."""
        return urlsplit(self.url).netloc or "?"


def _check_url(name: str, url: str) -> str:
    """The URL, if aiohttp can request it; else a one-line UserError that does not quote it
    (it is a secret). A port out of range or a host name that cannot be encoded passed the
    scheme check, and every message to the route then failed inside the sender."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(f"alert route {name!r}: the webhook URL is not an http(s) URL")
    try:
        parsed = URL(url)
        parsed.port  # noqa: B018 -- parsed lazily: an out-of-range port raises only here
        host = parsed.raw_host
    except (ValueError, UnicodeError) as exc:
        reason = str(exc).split(":")[0][:80] or type(exc).__name__
        raise UserError(f"alert route {name!r}: the webhook URL is not a usable URL "
                        f"({reason})") from None
    if not host or any(c.isspace() for c in url):
        raise UserError(f"alert route {name!r}: the webhook URL has no usable host, or "
                        "holds spaces")
    return url


def load_routes(env: dict[str, str] | None = None) -> list[Route]:
    """Routes from ``ATLAS_ORCH_ALERT_ROUTES`` (a JSON file: a list of
    ``{"name", "url" | "url_env", "min_severity", "sources"}``) and the default route from
    ``ATLAS_ORCH_SLACK_WEBHOOK_URL``."""
    env = dict(os.environ) if env is None else env
    routes: list[Route] = []
    path = env.get("ATLAS_ORCH_ALERT_ROUTES", "").strip()
    if path:
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"ATLAS_ORCH_ALERT_ROUTES={path}: not a readable JSON file "
                            f"({exc})") from exc
        if not isinstance(doc, list):
            raise UserError(f"ATLAS_ORCH_ALERT_ROUTES={path}: expected a JSON list of routes")
        for i, r in enumerate(doc):
            if not isinstance(r, dict) or not isinstance(r.get("name"), str):
                raise UserError(f"{path}: route {i + 1} needs a name")
            name = r["name"]
            url = r.get("url") or env.get(str(r.get("url_env", "")), "")
            if not url:
                raise UserError(f"{path}: route {name!r} has no url (or its url_env is unset)")
            severity = r.get("min_severity", "info")
            if severity not in SEVERITIES:
                raise UserError(f"{path}: route {name!r}: min_severity must be one of "
                                f"{', '.join(SEVERITIES)}")
            sources = r.get("sources", [])
            if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
                raise UserError(f"{path}: route {name!r}: sources must be a list of strings")
            routes.append(Route(name, _check_url(name, url), severity, tuple(sources)))
    default = env.get("ATLAS_ORCH_SLACK_WEBHOOK_URL", "").strip()
    if default and not any(r.name == DEFAULT_ROUTE for r in routes):
        routes.append(Route(DEFAULT_ROUTE, _check_url(DEFAULT_ROUTE, default)))
    names = [r.name for r in routes]
    if len(set(names)) != len(names):
        raise UserError("alert routes: two routes share a name")
    return routes


def public_url(env: dict[str, str] | None = None) -> str | None:
    """Where the dashboard is reachable, for links in messages (``ATLAS_ORCH_PUBLIC_URL``)."""
    env = dict(os.environ) if env is None else env
    value = env.get("ATLAS_ORCH_PUBLIC_URL", "").strip().rstrip("/")
    return value or None
