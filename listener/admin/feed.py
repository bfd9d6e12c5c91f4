"""The job log as the live feed reads it: rows between two cursors, one step of the
watermark, and the newest log_seq ever drawn (listener.web.feed serves them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from listener.admin.read import Conn
from listener.core import sql

_SQL = sql.beside(__file__, "feed")

PAGE = 500          # log rows per query


@dataclass(frozen=True)
class WatermarkStep:
    """Where trapper.orchestrator_watermark_step left the watermark, and the probe (a
    sequence value and the transactions it waits for) to hand to the next step."""

    mark: int
    probe: tuple[int, list[str]] | None


def row_json(r: asyncpg.Record) -> dict[str, Any]:
    """A job-log row as data, its details decoded."""
    d = dict(r)
    if isinstance(d.get("decision_details"), str):
        d["decision_details"] = json.loads(d["decision_details"])
    return d


async def rows(conn: Conn, after: int, upto: int, limit: int = PAGE) -> list[dict[str, Any]]:
    """Job-log rows with ``after < log_seq <= upto``, in order, at most ``limit``."""
    return [row_json(r) for r in await conn.fetch(_SQL["rows"], after, upto, limit)]


async def watermark_step(conn: Conn, mark: int,
                         probe: tuple[int, list[str]] | None) -> WatermarkStep:
    """One step of the watermark from ``mark`` with the probe in hand."""
    seq, vxids = probe if probe is not None else (None, None)
    row = await conn.fetchrow(_SQL["watermark_step"], mark, seq, vxids)
    assert row is not None
    return WatermarkStep(int(row["mark"]), None if row["probe_seq"] is None
                         else (row["probe_seq"], list(row["probe_vxids"])))


async def newest_log_seq(conn: Conn) -> int:
    """The newest log_seq ever drawn, committed or not (0 on an empty log)."""
    return int(await conn.fetchval(_SQL["newest_log_seq"]))
