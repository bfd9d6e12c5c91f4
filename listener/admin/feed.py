"""The job log as the live feed reads it: rows between two cursors, the log's writers (for
the feed's watermark), and the newest log_seq ever drawn (listener.web.feed serves them)."""

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
class Writers:
    """The log_seq sequence's value and, read after it, the transactions writing the log
    (virtual transaction id, backend pid: None for a prepared transaction), none when the
    sequence was not past the mark asked with (``looked`` False)."""

    seq: int
    writers: list[tuple[str, int | None]]
    looked: bool


def row_json(r: asyncpg.Record) -> dict[str, Any]:
    """A job-log row as data, its details decoded."""
    d = dict(r)
    if isinstance(d.get("decision_details"), str):
        d["decision_details"] = json.loads(d["decision_details"])
    return d


async def rows(conn: Conn, after: int, upto: int, limit: int = PAGE) -> list[dict[str, Any]]:
    """Job-log rows with ``after < log_seq <= upto``, in order, at most ``limit``."""
    return [row_json(r) for r in await conn.fetch(_SQL["rows"], after, upto, limit)]


async def writers(conn: Conn, mark: int) -> Writers:
    """The sequence's value and the log's writers now (trapper.orchestrator_writers); pg_locks
    is only read when the sequence is past ``mark``."""
    row = await conn.fetchrow(_SQL["writers"], mark)
    assert row is not None
    seq = int(row["seq"])
    return Writers(seq, list(zip(row["vxids"], row["pids"], strict=True)), seq > mark)


async def newest_log_seq(conn: Conn) -> int:
    """The newest log_seq ever drawn, committed or not (0 on an empty log)."""
    return int(await conn.fetchval(_SQL["newest_log_seq"]))
