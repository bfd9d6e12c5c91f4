"""Small helpers shared by tests: run SQL, write files."""

from __future__ import annotations

from typing import Any

import anyio
import asyncpg


def sql(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """Run one query on a new connection and return its rows (sync, for test bodies)."""

    async def go() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return anyio.run(go)


def val(url: str, query: str, *args: Any) -> Any:
    rows = sql(url, query, *args)
    return rows[0][0] if rows else None


def execute(url: str, script: str) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(script)
        finally:
            await conn.close()

    anyio.run(go)
