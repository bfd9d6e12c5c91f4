"""Ingest: one file of one source table becomes one ingest run.

Rows are hashed with the one recipe (``rowhash``), duplicates are counted and not staged,
new rows are COPYed into ``trapper.staged_records``, bad rows are kept raw in
``trapper.ingest_rejects`` with their reason, and the source table's job is enqueued, all in
one transaction, which also completes the run. Every row read is accounted for:

    rows_read = rows_new + rows_duplicate + rows_rejected + rows_merged

(``rows_merged``: ClinicHQ continuation lines folded into their appointment), checked before
commit and by the CHECK ``ingest_runs_accounting`` (sql/core/011). A file that cannot be
parsed is refused whole, and any other failure ends the run too: it is marked failed with the
reason, nothing of it is staged, and ``IngestFailed`` is raised. A run whose process dies is
marked abandoned later (``listener/ingest/runs.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import asyncpg

from listener.core import sql
from listener.core.errors import UserError
from listener.core.logs import event
from listener.ingest import runs as ingest_runs
from listener.ingest.readers import DEFAULT_LIMITS, FileRefused, Row, detect_format, read_rows
from listener.ingest.rowhash import row_hash
from listener.ingest.source_profiles import merge_service_lines, profile_for, record_id

_SQL = sql.beside(__file__, "ingest")

DEFAULT_MAX_ROW_BYTES = 1024 * 1024
COPY_CHUNK = 5000
CLEANUP_SECONDS = 10.0   # marking a run failed or releasing its lock after a failure
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

STAGED_COLUMNS = ["source_system", "source_table", "source_row_id", "source_file",
                  "ingest_run_id", "row_hash", "payload"]
REJECT_COLUMNS = ["ingest_run_id", "source_system", "source_table", "source_file",
                  "row_number", "source_row_id", "reason_code", "reason", "raw"]

ProgressFn = Callable[[int, int], None]

log = logging.getLogger("atlas_orch.ingest")


@dataclass
class IngestResult:
    """What one ingest run did, as printed by ``atlas-orch ingest``."""

    source_system: str
    source_table: str
    source_file: str
    path: str | None = None
    ingest_run_id: int | None = None
    status: str = "running"        # then completed or failed
    rows_read: int = 0
    rows_new: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0
    rows_merged: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    job_id: str | None = None
    error: str | None = None
    refused: bool = False          # failed because the file itself cannot be read
    parse_seconds: float = 0.0
    stage_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def service_lines_merged(self) -> int:
        """The name ``--json`` used before ``rows_merged``; kept for scripts."""
        return self.rows_merged

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "service_lines_merged": self.rows_merged}

    def describe_failure(self) -> str:
        """One line: which file, what happened, which run."""
        what = "refused" if self.refused else "failed"
        run = f" [run {self.ingest_run_id}]" if self.ingest_run_id is not None else ""
        return (f"{self.source_system}/{self.source_table} {self.path or self.source_file}: "
                f"{what}, nothing staged: {self.error}{run}")


class IngestFailed(UserError):
    """A file did not go in: its run (if one began) is failed and nothing of it is staged."""

    def __init__(self, result: IngestResult) -> None:
        super().__init__(result.describe_failure())
        self.result = result


def parse_source(spec: str) -> tuple[str, str]:
    """``SYSTEM/TABLE`` into its two names, refusing anything that is not a plain name."""
    system, sep, table = spec.partition("/")
    if not sep or not _NAME.match(system) or not _NAME.match(table):
        raise UserError(
            f"source {spec!r} must be SOURCE_SYSTEM/SOURCE_TABLE in lowercase letters, digits "
            "and underscores (for example clinichq/appointment_info)"
        )
    return system, table


@dataclass
class _Prepared:
    staged: list[tuple[Any, ...]]
    rejects: list[Row]
    reject_ids: dict[int, str | None]
    read: int
    merged: int
    duplicates_in_file: int


def _prepare(
    rows: list[Row], system: str, table: str, id_fields: Sequence[str], max_row_bytes: int
) -> _Prepared:
    profile = profile_for(system, table, id_fields)
    read = len(rows)
    merged = 0
    if profile.merge_service_lines:
        rows, merged = merge_service_lines(rows)
    staged: list[tuple[Any, ...]] = []
    rejects: list[Row] = []
    reject_ids: dict[int, str | None] = {}
    seen: set[str] = set()
    dups = 0
    for row in rows:
        if row.payload is None:
            rejects.append(row)
            continue
        rid = record_id(row, profile)
        if rid is None:
            row.reject_code = "missing_id"
            row.reject_reason = (
                f"no value in the id field ({' or '.join(profile.id_fields)}); "
                "pass --id-field if this source names it differently"
            )
            rejects.append(row)
            continue
        text = json.dumps(row.payload, ensure_ascii=False)
        if len(text.encode("utf-8")) > max_row_bytes:
            row.reject_code = "oversized"
            row.reject_reason = (
                f"payload is {len(text.encode('utf-8')):,} bytes, over the "
                f"{max_row_bytes:,}-byte limit (--max-row-bytes)"
            )
            reject_ids[row.row_number] = rid
            rejects.append(row)
            continue
        digest = row_hash(row.payload, rid)
        if digest in seen:
            dups += 1
            continue
        seen.add(digest)
        staged.append((rid, digest, text))
    return _Prepared(staged, rejects, reject_ids, read, merged, dups)


async def _registry_id_fields(conn: asyncpg.Connection, system: str, table: str) -> list[str]:
    if not await conn.fetchval("SELECT to_regclass('trapper.orchestrator_sources') IS NOT NULL"):
        return []
    fields = await conn.fetchval(_SQL["registry_id_fields"], system, table)
    return list(fields or [])


def read_file_rows(
    data: bytes, fmt: str, *, encoding: str | None = None, records_key: str | None = None,
    max_sheet_rows: int | None = None, max_sheet_columns: int | None = None,
    max_json_depth: int | None = None,
) -> list[Row]:
    """The one call into the readers: the limits given (``--max-…``) replace the readers'
    defaults, the others stay."""
    asked = {"max_sheet_rows": max_sheet_rows, "max_sheet_columns": max_sheet_columns,
             "max_json_depth": max_json_depth}
    limits = dataclasses.replace(DEFAULT_LIMITS,
                                 **{k: v for k, v in asked.items() if v is not None})
    return read_rows(data, fmt, encoding, limits=limits, records_key=records_key)


async def ingest_file(
    conn: asyncpg.Connection,
    path: Path,
    source_system: str,
    source_table: str,
    *,
    fmt: str | None = None,
    encoding: str | None = None,
    records_key: str | None = None,
    max_sheet_rows: int | None = None,
    max_sheet_columns: int | None = None,
    max_json_depth: int | None = None,
    id_fields: Sequence[str] = (),
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
    tool: str = "atlas-orch ingest",
    progress: ProgressFn | None = None,
) -> IngestResult:
    """Stage one file as one run and return what it did (see the module docstring).

    Raises ``IngestFailed`` (a ``UserError``) when the file did not go in: unreadable,
    refused, or any other failure, its run marked failed with the reason.
    """
    started = time.monotonic()
    parse_source(f"{source_system}/{source_table}")
    result = IngestResult(source_system, source_table, path.name, path=str(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        result.status, result.refused = "failed", True
        result.error = f"cannot read {path}: {exc.strerror or exc}"
        raise IngestFailed(result) from exc
    run_id = await ingest_runs.start(conn, source_system, source_table, path.name, len(data),
                                     hashlib.sha256(data).hexdigest(), tool)
    result.ingest_run_id = run_id
    try:
        rows = read_file_rows(
            data, detect_format(path, fmt), encoding=encoding, records_key=records_key,
            max_sheet_rows=max_sheet_rows, max_sheet_columns=max_sheet_columns,
            max_json_depth=max_json_depth)
        if not id_fields:
            id_fields = await _registry_id_fields(conn, source_system, source_table)
        prepared = _prepare(rows, source_system, source_table, id_fields, max_row_bytes)
        result.parse_seconds = round(time.monotonic() - started, 3)
        await _stage_and_complete(conn, prepared, result, progress)
    except (FileRefused, UserError) as exc:
        await _failed(conn, result, str(exc), refused=True)
        raise IngestFailed(result) from exc
    except Exception as exc:   # anything else: this file fails, the caller goes on
        await _failed(conn, result, describe_error(exc), refused=False)
        event(log, "ingest_run_failed", result.describe_failure(), level=logging.ERROR,
              ingest_run_id=run_id, source_system=source_system, source_table=source_table,
              path=str(path), error_type=type(exc).__name__, error=result.error)
        raise IngestFailed(result) from exc
    except BaseException as exc:   # interrupted (Ctrl-C, cancelled): record it, then stop
        with anyio.move_on_after(CLEANUP_SECONDS, shield=True):
            await ingest_runs.fail(conn, run_id, f"interrupted ({type(exc).__name__})")
        raise
    finally:
        # shielded, so a cancelled ingest still lets go; bounded, so a dead server cannot
        # hold the command (its session's end frees the lock anyway)
        with anyio.move_on_after(CLEANUP_SECONDS, shield=True):
            await ingest_runs.release(conn, run_id)
    result.status = "completed"
    result.seconds = round(time.monotonic() - started, 3)
    result.stage_seconds = round(result.seconds - result.parse_seconds, 3)
    return result


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of the error that began it: an error raised while cleaning up (the
    rollback on a connection that is gone) would otherwise hide its cause."""
    first = exc
    for _ in range(5):
        context = first.__context__
        if context is None or first.__suppress_context__ or not isinstance(context, Exception):
            break
        first = context
    text = f"{type(first).__name__}: {first}"
    return text if first is exc else f"{text} (then {type(exc).__name__}: {exc})"


async def _failed(conn: asyncpg.Connection, result: IngestResult, error: str, *,
                  refused: bool) -> None:
    """The run ends failed: nothing was staged, so the result counts nothing either."""
    result.status, result.error, result.refused = "failed", error, refused
    result.rows_read = result.rows_new = result.rows_duplicate = 0
    result.rows_rejected = result.rows_merged = 0
    result.rejects_by_reason, result.job_id = {}, None
    assert result.ingest_run_id is not None
    await ingest_runs.fail(conn, result.ingest_run_id, error)


async def _stage_and_complete(
    conn: asyncpg.Connection, prepared: _Prepared, result: IngestResult,
    progress: ProgressFn | None,
) -> None:
    """One transaction: new rows, rejects, the completed run with its counts, the job."""
    run_id = result.ingest_run_id
    assert run_id is not None
    async with conn.transaction():
        new = await _stage(conn, prepared, result, run_id, progress)
        await _store_rejects(conn, prepared, result, run_id)
        result.rows_read = prepared.read
        result.rows_merged = prepared.merged
        result.rows_new = new
        result.rows_duplicate = prepared.duplicates_in_file + len(prepared.staged) - new
        result.rows_rejected = len(prepared.rejects)
        result.rejects_by_reason = dict(
            Counter(r.reject_code or "unknown" for r in prepared.rejects))
        await ingest_runs.finish(conn, run_id, read=result.rows_read, new=result.rows_new,
                                 duplicate=result.rows_duplicate,
                                 rejected=result.rows_rejected, merged=result.rows_merged)
        if new:
            job = await conn.fetchval(_SQL["enqueue"], result.source_system,
                                      result.source_table, str(run_id))
            result.job_id = str(job)


async def _stage(
    conn: asyncpg.Connection, prepared: _Prepared, result: IngestResult, run_id: int,
    progress: ProgressFn | None,
) -> int:
    """COPY the rows whose hash is new; returns how many were staged."""
    q = _SQL
    system, table, file = result.source_system, result.source_table, result.source_file
    existing: set[str] = set()
    hashes = [h for _, h, _ in prepared.staged]
    for i in range(0, len(hashes), 20000):
        found = await conn.fetch(q["existing_hashes"], system, table, hashes[i:i + 20000])
        existing.update(r["row_hash"] for r in found)
    todo = [s for s in prepared.staged if s[1] not in existing]
    total = len(todo)
    done = 0
    try:
        async with conn.transaction():  # a savepoint: a lost race falls back below
            for i in range(0, total, COPY_CHUNK):
                chunk = todo[i:i + COPY_CHUNK]
                await conn.copy_records_to_table(
                    "staged_records", schema_name="trapper", columns=STAGED_COLUMNS,
                    records=[(system, table, rid, file, run_id, h, text)
                             for rid, h, text in chunk],
                )
                done += len(chunk)
                if progress:
                    progress(done, total)
        return total
    except asyncpg.UniqueViolationError:
        # A concurrent ingest staged some of these rows between our check and our COPY.
        staged = 0
        for i in range(0, total, COPY_CHUNK):
            chunk = todo[i:i + COPY_CHUNK]
            rows = await conn.fetch(
                q["insert_staged_on_conflict"], system, table, file, run_id,
                [c[0] for c in chunk], [c[1] for c in chunk], [c[2] for c in chunk],
            )
            staged += len(rows)
        return staged


async def _store_rejects(
    conn: asyncpg.Connection, prepared: _Prepared, result: IngestResult, run_id: int
) -> None:
    if not prepared.rejects:
        return
    await conn.copy_records_to_table(
        "ingest_rejects", schema_name="trapper", columns=REJECT_COLUMNS,
        records=[
            (run_id, result.source_system, result.source_table, result.source_file,
             r.row_number, prepared.reject_ids.get(r.row_number, r.record_id),
             r.reject_code, r.reject_reason, r.raw)
            for r in prepared.rejects
        ],
    )


@dataclass(frozen=True)
class ManifestEntry:
    path: Path
    source_system: str
    source_table: str
    fmt: str | None


def read_manifest(path: Path) -> list[ManifestEntry]:
    """The files of a generated world (``manifest.json``), in their processing order."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        files = doc["files"]
        entries = [
            ManifestEntry(path.parent / f["path"], f["source_system"], f["source_table"],
                          f.get("format"))
            for f in files
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: not a usable manifest ({exc})") from exc
    for e in entries:
        parse_source(f"{e.source_system}/{e.source_table}")
    return entries
