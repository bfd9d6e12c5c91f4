"""The alert outbox as people see and steer it: list, show, redeliver (the sender itself is
webhooks/sender.py)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from listener.admin.read import MAX_PAGE, Conn, NotFound, rows_of
from listener.core import sql

_SQL = sql.beside(__file__, "alerts")


async def alerts(conn: Conn, *, status: str | None = None,
                 limit: int = 50) -> list[dict[str, Any]]:
    """Alerts, newest first, optionally of one status."""
    return rows_of(await conn.fetch(_SQL["list"], status, max(1, min(limit, MAX_PAGE))))


async def show(conn: Conn, alert_id: uuid.UUID) -> dict[str, Any]:
    """One alert's outbox row, its anomalies as data."""
    row = await conn.fetchrow(_SQL["show"], alert_id)
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    alert = dict(row)
    alert["anomalies"] = json.loads(alert["anomalies"])
    return alert


async def redeliver(conn: Conn, alert_id: uuid.UUID) -> dict[str, Any]:
    """Put an alert back in the outbox: pending, attempts reset, due now."""
    row = await conn.fetchrow(_SQL["redeliver"], alert_id)
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    return dict(row)
