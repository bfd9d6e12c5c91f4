"""The shadow layer's switches (NOTIFY, how events are captured) and the listener's
checkpoint, read and set for `atlas-orch shadow`."""

from __future__ import annotations

from typing import Any

from listener.admin.read import Conn
from listener.core import sql

_SQL = sql.beside(__file__, "shadow")


async def settings(conn: Conn) -> list[dict[str, Any]]:
    """The orchestrator's settings, by key."""
    return [dict(r) for r in await conn.fetch(_SQL["settings"])]


async def status(conn: Conn) -> dict[str, Any]:
    """Settings, each listener's checkpoint and backlog, and shadow-trigger failures."""
    return {
        "settings": await settings(conn),
        "listeners": [dict(r) for r in await conn.fetch(_SQL["status"])],
        "shadow_failures": dict(await conn.fetchrow(_SQL["shadow_failures"]) or {}),
    }


async def set_switches(conn: Conn, *, notify: str | None = None, capture: str | None = None,
                       capture_engine: str | None = None) -> list[dict[str, Any]]:
    """Set the switches given (in one transaction); returns the settings after."""
    async with conn.transaction():
        if notify is not None:
            await conn.execute(_SQL["set_notify"], notify)
        if capture is not None:
            await conn.fetchval(_SQL["set_capture"], "staged", capture)
        if capture_engine is not None:
            await conn.fetchval(_SQL["set_capture"], "engine", capture_engine)
    return await settings(conn)
