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
import difflib
import hashlib
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import asyncpg

from listener.core import db_errors, sql
from listener.core.errors import UsageError, UserError
from listener.core.logs import event
from listener.ingest import runs as ingest_runs
from listener.ingest.corrections import Corrections, reject_key
from listener.ingest.packed import Unpacked, unpack
from listener.ingest.readers import (
    DEFAULT_LIMITS,
    FileRefused,
    Row,
    detect_format,
    iter_rows,
    shown,
    sniff_format,
)
from listener.ingest.rowhash import row_hash
from listener.ingest.source_profiles import (
    HeaderMapper,
    ServiceLineMerger,
    SourceProfile,
    as_id_reads,
    is_known_source,
    parse_date,
    profile_for,
    record_id,
)

DEFAULT_MAX_ROW_BYTES = 1024 * 1024
COPY_CHUNK = 5000
CLEANUP_SECONDS = 10.0   # marking a run failed or releasing its lock after a failure
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

STAGED_COLUMNS = ["source_system", "source_table", "source_row_id", "source_file",
                  "ingest_run_id", "row_hash", "payload"]
REJECT_COLUMNS = ["ingest_run_id", "source_system", "source_table", "source_file",
                  "row_number", "source_row_id", "reason_code", "reason", "raw",
                  "content_key"]

ProgressFn = Callable[[int, int], None]

log = logging.getLogger("atlas_orch.ingest")
_SQL = sql.beside(__file__, "ingest")
# formats whose header row is the file's shape (a JSON record leaves empty fields out)
TABULAR_FORMATS = frozenset({"csv", "xlsx", "xls"})


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
    # rows earlier runs rejected that this file carries correctly, by the run that rejected
    # them (sql/core/040: marked corrected by this run)
    rejects_corrected: dict[str, int] = field(default_factory=dict)
    job_id: str | None = None
    error: str | None = None
    refused: bool = False          # failed because the file itself cannot be read
    notes: list[str] = field(default_factory=list)   # what to do about a completed run
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
        raise UsageError(
            f"source {spec!r} must be SOURCE_SYSTEM/SOURCE_TABLE in lowercase letters, digits "
            "and underscores (for example clinichq/appointment_info)"
        )
    return system, table


@dataclass
class _Tally:
    """What one file's rows came to, counted as they stream by."""

    read: int = 0
    duplicates_in_file: int = 0
    offered: int = 0            # unique within the file, offered to staging
    new: int = 0                # of those, not staged before: COPYed
    rejects: Counter[str] = field(default_factory=Counter)
    # sheet formula cells with no saved value, by header: read blank
    unsaved_formulas: Counter[str] = field(default_factory=Counter)
    # visit dates in record ids (ClinicHQ's Number + Date) that read as no date, by value
    undated_ids: Counter[str] = field(default_factory=Counter)
    # the record id of the last row when the file ends inside it ("" for one with none)
    cut_off: str | None = None
    # rows that are an earlier version of their record, not its newest; the first few ids
    superseded: int = 0
    superseded_ids: list[str] = field(default_factory=list)


@dataclass
class _Batch:
    """Up to COPY_CHUNK rows to stage (record id, hash, payload JSON, and the hash of the
    row as its record id reads it: ``_written_otherwise``) and the rejects met beside them
    (with the record id to store, where one is known, and the content key)."""

    staged: list[tuple[str, str, str, str]] = field(default_factory=list)
    rejects: list[tuple[Row, str | None, str]] = field(default_factory=list)

    def full(self) -> bool:
        return len(self.staged) >= COPY_CHUNK or len(self.rejects) >= COPY_CHUNK


def _counted(rows: Iterable[Row], tally: _Tally) -> Iterator[Row]:
    for row in rows:
        tally.read += 1
        if row.unsaved_formulas:
            tally.unsaved_formulas.update(row.unsaved_formulas)
        yield row


def _prepare(rows: Iterable[Row], profile: SourceProfile, max_row_bytes: int,
             tally: _Tally, corrections: Corrections) -> Iterator[_Batch]:
    """The rows in batches: each row is staged, rejected with its reason, or a duplicate of
    one earlier in the same file (only its 128-bit hash is kept to tell). Memory follows a
    batch, not the file (docs/ingest.md, "Spreadsheets with bounded memory"). A row that
    goes in is shown to ``corrections``: it may be one an earlier run rejected."""
    seen: set[str] = set()
    batch = _Batch()

    def reject(row: Row, rid: str | None) -> None:
        batch.rejects.append((row, rid, reject_key(row, rid, profile.id_fields)))

    for row in rows:
        if row.payload is None:
            reject(row, row.record_id)
        elif row.cut_off:
            # kept under its record id (where the cut left it one), as an oversized row is,
            # so that the whole file sent again marks it corrected (sql/core/040)
            row.reject_code = "malformed"
            row.reject_reason = (
                "the file ends inside this row (its last line has no line end and fewer "
                "fields than the header): an upload or copy cut off? Ingest the whole file "
                "again: its row of this record corrects this reject")
            rid = record_id(row, profile) or row.record_id
            tally.cut_off = rid or ""
            reject(row, rid)
        elif (rid := record_id(row, profile)) is None:
            row.reject_code = "missing_id"
            row.reject_reason = (
                f"no value in the id field ({' or '.join(profile.id_fields)}); "
                "pass --id-field if this source names it differently"
            )
            reject(row, row.record_id)
        else:
            _see_id_date(row.payload, profile, tally)
            text = json.dumps(row.payload, ensure_ascii=False)
            size = len(text.encode("utf-8"))
            if size > max_row_bytes:
                row.reject_code = "oversized"
                row.reject_reason = (f"payload is {size:,} bytes, over the {max_row_bytes:,}-byte "
                                     "limit (--max-row-bytes)")
                reject(row, rid)
            else:
                digest = row_hash(row.payload, rid)
                read = as_id_reads(row.payload, profile)
                same = digest if read is row.payload else row_hash(read, rid)
                # (one row written two ways in one file, 101 and 101.0, is one row too)
                if same in seen:
                    tally.duplicates_in_file += 1
                else:
                    seen.add(same)
                    batch.staged.append((rid, digest, text, same))
                    corrections.see(row, rid, row.payload)
        if batch.full():
            yield batch
            batch = _Batch()
    if batch.staged or batch.rejects:
        yield batch


def _see_id_date(payload: dict[str, Any], profile: SourceProfile, tally: _Tally) -> None:
    """Count a record id's visit date that reads as no date (``14/03/2025``, a day-first
    export): the id keeps it as written, so the same visit in an export that writes its date
    the usual way would be another record, and the user is told (``_undated_note``)."""
    if not profile.date_field:
        return
    value = str(payload.get(profile.date_field) or "").strip()
    if value and parse_date(value) is None and len(tally.undated_ids) < 1000:
        tally.undated_ids[value] += 1


def _undated_note(field_name: str, undated: Counter[str]) -> str:
    """The note for record ids whose visit date is no date."""
    shown = ", ".join(f"{v!r} ({n})" for v, n in undated.most_common(3))
    more = f" and {len(undated) - 3} other value(s)" if len(undated) > 3 else ""
    return (f"{sum(undated.values())} record id(s) keep their {field_name!r} as written, "
            f"since it reads as no date: {shown}{more}; the same visit in an export that "
            "writes the date the usual way (3/14/2025, 2025-03-14, 45730) becomes another "
            "record: fix the dates (a day-first export?) and ingest again (docs/ingest.md)")


async def _registry_fields(conn: asyncpg.Connection, system: str,
                          table: str) -> tuple[list[str], list[str], bool]:
    """The registry's id field candidates and expected fields of a source, and whether it is
    registered (none, and no, when the orchestrator is not installed)."""
    if not await conn.fetchval("SELECT to_regclass('trapper.orchestrator_sources') IS NOT NULL"):
        return [], [], False
    row = await conn.fetchrow(_SQL["registry_fields"], system, table)
    if row is None:
        return [], [], False
    return list(row["id_field_candidates"] or []), list(row["expected"] or []), True


def read_file_rows(
    data: bytes, fmt: str, *, encoding: str | None = None, records_key: str | None = None,
    max_sheet_rows: int | None = None, max_sheet_columns: int | None = None,
    max_json_depth: int | None = None,
) -> Iterator[Row]:
    """The one call into the readers, streaming: the limits given (``--max-…``) replace the
    readers' defaults, the others stay."""
    asked = {"max_sheet_rows": max_sheet_rows, "max_sheet_columns": max_sheet_columns,
             "max_json_depth": max_json_depth}
    limits = dataclasses.replace(DEFAULT_LIMITS,
                                 **{k: v for k, v in asked.items() if v is not None})
    return iter_rows(data, fmt, encoding, limits=limits, records_key=records_key)


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
    name = shown(path.name)
    result = IngestResult(source_system, source_table, name, path=shown(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        result.status, result.refused = "failed", True
        result.error = f"cannot read {shown(path)}: {exc.strerror or exc}"
        raise IngestFailed(result) from exc
    run_id = await ingest_runs.start(conn, source_system, source_table, name, len(data),
                                     hashlib.sha256(data).hexdigest(), tool)
    result.ingest_run_id = run_id
    try:
        inner = unpack(data, path.name, DEFAULT_LIMITS.max_unzipped_bytes)
        fmt, sniffed = _format_of(path, inner, fmt)
        rows = read_file_rows(
            inner.data, fmt, encoding=encoding, records_key=records_key,
            max_sheet_rows=max_sheet_rows, max_sheet_columns=max_sheet_columns,
            max_json_depth=max_json_depth)
        registry_ids, expected, registered = await _registry_fields(conn, source_system,
                                                                    source_table)
        profile = profile_for(source_system, source_table, id_fields or registry_ids, expected)
        await _stage_and_complete(conn, rows, profile,
                                  max_row_bytes, result, progress,
                                  tabular=fmt in TABULAR_FORMATS,
                                  known=registered or is_known_source(source_system,
                                                                      source_table))
    except (FileRefused, UserError) as exc:
        await _failed(conn, result, str(exc), refused=True)
        raise IngestFailed(result) from exc
    except Exception as exc:   # anything else: this file fails, the caller goes on
        await _failed(conn, result, describe_error(exc), refused=False)
        event(log, "ingest_run_failed", result.describe_failure(), level=logging.ERROR,
              ingest_run_id=run_id, source_system=source_system, source_table=source_table,
              path=shown(path), error_type=type(exc).__name__, error=result.error)
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
    if sniffed is not None:
        result.notes.insert(0, f"{sniffed} ({name})")
    if inner.what is not None:
        result.notes.insert(0, f"read {inner.what} ({fmt.upper()})")
    result.status = "completed"
    result.seconds = round(time.monotonic() - started, 3)
    result.parse_seconds = round(result.seconds - result.stage_seconds, 3)
    return result


def _format_of(path: Path, inner: Unpacked, explicit: str | None) -> tuple[str, str | None]:
    """The format of what is read, and a note when it is not what the name says:
    ``--format``, else the extension of the file's name (or of the name of what a packed
    file holds: ``people.csv.gz``, a ZIP's ``people.csv``) unless the content leaves no
    doubt it is another (``readers.sniff_format``: an XLSX named .csv)."""
    if explicit:
        return detect_format(path, explicit), None
    if inner.what is None:
        return sniff_format(inner.data, detect_format(path))
    try:
        named = detect_format(Path(inner.name))
    except UserError:
        raise FileRefused(f"{shown(path.name)} is {inner.what}, and the name of what it "
                          f"holds ({inner.name!r}) does not tell its format; pass --format"
                          ) from None
    return sniff_format(inner.data, named)


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of the error that began it: an error raised while cleaning up (the
    rollback on a connection that is gone) would otherwise hide its cause."""
    first = exc
    for _ in range(5):
        context = first.__context__
        if context is None or first.__suppress_context__ or not isinstance(context, Exception):
            break
        first = context
    if isinstance(first, asyncpg.InsufficientPrivilegeError | asyncpg.UndefinedTableError
                  | asyncpg.InvalidSchemaNameError | asyncpg.UndefinedFunctionError):
        # the operator's to fix, not a defect: say which right is missing and where the
        # grants are, or that the engines are not (all) installed and what to run
        text = db_errors.describe(first)
    else:
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
    conn: asyncpg.Connection, rows: Iterator[Row], profile: SourceProfile, max_row_bytes: int,
    result: IngestResult, progress: ProgressFn | None, *, tabular: bool = False,
    known: bool = True,
) -> None:
    """One transaction: the rows staged batch by batch as they are read, the rejects, the
    completed run with its counts, the job. A refusal met half-way through the file rolls
    all of it back, so a refused file still stages nothing."""
    run_id = result.ingest_run_id
    assert run_id is not None
    tally = _Tally()
    merger = ServiceLineMerger() if profile.merge_service_lines else None
    # the headers renamed first: the merger and the record id read the processor's names
    headers = HeaderMapper(profile)
    counted = headers(_counted(rows, tally))
    stream = merger(counted) if merger else counted
    staging = 0.0
    async with conn.transaction():
        # a first load of the table has no versions to compare with: its rows are not
        # looked up one by one (_written_otherwise)
        earlier = await conn.fetchval(_SQL["has_staged"], result.source_system,
                                      result.source_table)
        open_keys = await conn.fetch(_SQL["open_reject_keys"], result.source_system,
                                     result.source_table)
        corrections = Corrections(
            frozenset(r["content_key"] for r in open_keys), tuple(profile.id_fields),
            tuple((r["content_key"], bytes(r["raw"])) for r in open_keys
                  if r["raw"] is not None))
        for batch in _prepare(stream, profile, max_row_bytes, tally, corrections):
            began = time.monotonic()
            tally.new += await _stage(conn, batch.staged, result, run_id,
                                      profile if earlier else None, tally)
            await _store_rejects(conn, batch.rejects, result, run_id)
            staging += time.monotonic() - began
            tally.offered += len(batch.staged)
            tally.rejects.update(r.reject_code or "unknown" for r, _, _ in batch.rejects)
            if progress:
                progress(tally.read, 0)
        result.rows_read = tally.read
        result.rows_merged = merger.merged if merger else 0
        result.rows_new = tally.new
        result.rows_duplicate = tally.duplicates_in_file + tally.offered - tally.new
        result.rows_rejected = sum(tally.rejects.values())
        result.rejects_by_reason = dict(tally.rejects)
        began = time.monotonic()
        if corrections.found:
            result.rejects_corrected = await _mark_corrected(conn, corrections, result, run_id)
        await ingest_runs.finish(conn, run_id, read=result.rows_read, new=result.rows_new,
                                 duplicate=result.rows_duplicate,
                                 rejected=result.rows_rejected, merged=result.rows_merged)
        if tally.new:
            job = await conn.fetchval(_SQL["enqueue"], result.source_system,
                                      result.source_table, str(run_id))
            result.job_id = str(job)
        result.stage_seconds = round(staging + time.monotonic() - began, 3)
        result.notes = await _notes(conn, result)
        result.notes[:0] = _header_notes(headers, profile, result,
                                         tabular=tabular and tally.read > 0, known=known)
        if not tally.read:
            result.notes.append(
                "no rows: the file holds no record below its header (or an empty list of "
                "records); an export filtered down to nothing, or cut short?")
        if tally.cut_off is not None:
            which = f" (record {tally.cut_off})" if tally.cut_off else ""
            result.notes.append(
                f"the file ends inside its last row{which}: it was cut off (an upload or "
                "copy interrupted?), so that row is rejected rather than staged with its "
                "values cut short; ingest the whole file again (its rows already staged "
                "count as duplicates)")
        if tally.superseded:
            more = tally.superseded - len(tally.superseded_ids)
            shown_ids = ", ".join(tally.superseded_ids) + (f" and {more} more" if more else "")
            result.notes.append(
                f"{tally.superseded} row(s) are an earlier version of their record, not its newest "
                f"(record {shown_ids}): counted duplicates, and the newest version stands "
                "(an older export sent after a newer one?); a row edited back to what it "
                "was is such a row too, and does not stand (atlas-orch replay "
                f"{result.source_system}/{result.source_table}/RECORD_ID shows the versions)")
        if tally.undated_ids and profile.date_field:
            result.notes.append(_undated_note(profile.date_field, tally.undated_ids))
        if tally.unsaved_formulas:
            cols = ", ".join(f"{name!r} ({n})" for name, n in tally.unsaved_formulas.items())
            result.notes.append(
                f"formula cells with no saved value, read blank: {cols}; the workbook was "
                "written by a program that does not calculate (openpyxl, pandas): open it in "
                "Excel or LibreOffice, save it, and ingest it again (a row that gains a value "
                "is a new version of its record)")


def _header_notes(headers: HeaderMapper, profile: SourceProfile, result: IngestResult, *,
                  tabular: bool, known: bool = True) -> list[str]:
    """The headers staged under another name, (for a CSV or sheet, whose header row is its
    shape) the fields the processor or the source's rules read that the file has no column
    for: those stay empty in every record, which the counts alone would not show; and rows
    with no record id, each rejected (a form export has no id column: every row was
    rejected, the summary saying only ``missing_id``)."""
    notes: list[str] = []
    reader = "the source's expected fields" if profile.registry else "the processor's names"
    if headers.renamed:
        pairs = [f"{old!r} as {new!r}" for old, new in sorted(headers.renamed.items())]
        more = f" and {len(pairs) - 6} more" if len(pairs) > 6 else ""
        notes.append(f"headers read as {reader}: " + ", ".join(pairs[:6]) + more)
    # (no row read: nothing is known of the header, every row rejected before it was seen)
    missing = headers.missing() if tabular and headers.seen else []
    if missing and profile.registry:
        blank = sorted(k for k in headers.seen if re.fullmatch(r"column_\d+", k))
        notes.append(
            "no column for " + ", ".join(repr(m) for m in missing)
            + f": an expected field of {result.source_system}/{result.source_table}, so the "
            "rules that read it find nothing in this file (atlas-orch rules check)"
            + (f"; the header cell of {', '.join(blank)} is blank (a merged or empty header "
               "cell in the file)" if blank else ""))
    elif missing:
        notes.append("no column for " + ", ".join(repr(m) for m in missing)
                     + ": the processor reads it, so it is empty in every record (an "
                     "export with the column renamed: map the name in "
                     "listener/ingest/source_profiles.py ALIASES)")
    # (a source neither built in nor registered is most likely a mistyped name, which the
    # note of _notes says: naming an id column would send the user to the wrong fix)
    no_id = result.rejects_by_reason.get("missing_id", 0) if known else 0
    if no_id:
        names = " or ".join(repr(f) for f in profile.id_fields)
        # the headers as staged: an id column written 'EMAIL' is the 'Email' column
        staged_as = {headers.renamed.get(k, k) for k in headers.seen}
        absent = tabular and headers.seen and not set(profile.id_fields) & staged_as
        notes.append(
            f"{no_id} row(s) rejected missing_id: "
            + (f"the file has no column {names}" if absent else f"no value in {names}")
            + "; name the column that identifies a row with --id-field COLUMN, or in the "
            "source's id_field_candidates (a form export without an id: its Timestamp or "
            "submission id column), and ingest the file again")
    return notes


async def _notes(conn: asyncpg.Connection, result: IngestResult) -> list[str]:
    """What the summary line alone does not say: rows a wrong encoding rejected (a
    Windows-1252 export read as UTF-8 lost every row with an accent, each reject naming only
    its byte), rows staged for a source nothing processes (a mistyped or unregistered
    source: its job is dead-lettered), and rows earlier runs rejected that this file
    carries correctly."""
    notes: list[str] = []
    undecodable = result.rejects_by_reason.get("undecodable", 0)
    if undecodable:
        notes.append(
            f"{undecodable} row(s) are not valid in the file's encoding: if the file is not "
            "UTF-8, ingest it again with --encoding (for example cp1252 for Windows Excel); "
            "the rows already staged count as duplicates")
    # Also when nothing was staged: a mistyped table name rejects every row missing_id (the
    # generic profile's id fields), and that reason alone sent the user to the wrong fix.
    if result.rows_read and not await conn.fetchval(
            _SQL["has_processor"], result.source_system, result.source_table):
        name = f"{result.source_system}/{result.source_table}"
        known = [r[0] for r in await conn.fetch(_SQL["processed_sources"])]
        near = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        notes.append(
            f"no processor handles {name}"
            + (f" (did you mean {near[0]}?)" if near else "")
            + (": its rows are staged, but its job will be dead-lettered until the source is "
               "registered" if result.rows_new else
               ": nothing staged for it will be processed until the source is registered")
            + " (atlas-orch sources lists those that are; docs/orchestrator.md, "
            "\"Adding a new source with SQL alone\")")
    corrected = sum(result.rejects_corrected.values())
    if corrected:
        runs = ", ".join(f"run {run}: {n}" for run, n in sorted(
            result.rejects_corrected.items(), key=lambda item: int(item[0])))
        notes.append(
            f"{corrected} row(s) that earlier runs rejected ({runs}) are in this file "
            "correctly: marked corrected, no longer missing (atlas-orch why-missing "
            f"{result.source_system}/{result.source_table}/RECORD_ID tells one record's story)")
    return notes


async def _stage(conn: asyncpg.Connection, staged: list[tuple[str, str, str, str]],
                 result: IngestResult, run_id: int, profile: SourceProfile | None,
                 tally: _Tally) -> int:
    """COPY the rows of one batch whose hash is new and that are not a version of their
    record written another way (``_written_otherwise``, given the profile: the table had
    staged rows before this run); returns how many were staged. A duplicate of a version
    that is not its record's newest is counted in ``tally.superseded``."""
    if not staged:
        return 0
    q = _SQL
    system, table, file = result.source_system, result.source_table, result.source_file
    found = await conn.fetch(q["existing_hashes"], system, table, [s[1] for s in staged])
    existing = {r["row_hash"] for r in found}
    for r in found:
        if r["superseded"]:
            tally.superseded += 1
            if len(tally.superseded_ids) < 5:
                tally.superseded_ids.append(r["source_row_id"])
    todo = [s for s in staged if s[1] not in existing]
    if profile is not None:
        todo = await _written_otherwise(conn, todo, system, table, profile, tally)
    if not todo:
        return 0
    try:
        async with conn.transaction():  # a savepoint: a lost race falls back below
            await conn.copy_records_to_table(
                "staged_records", schema_name="trapper", columns=STAGED_COLUMNS,
                records=[(system, table, rid, file, run_id, h, text)
                         for rid, h, text, _ in todo],
            )
        return len(todo)
    except asyncpg.UniqueViolationError:
        # A concurrent ingest staged some of these rows between our check and our COPY.
        rows = await conn.fetch(
            q["insert_staged_on_conflict"], system, table, file, run_id,
            [c[0] for c in todo], [c[1] for c in todo], [c[2] for c in todo],
        )
        return len(rows)


async def _written_otherwise(conn: asyncpg.Connection,
                             todo: list[tuple[str, str, str, str]], system: str, table: str,
                             profile: SourceProfile,
                             tally: _Tally) -> list[tuple[str, str, str, str]]:
    """The rows of ``todo`` less those that are a staged version of their record written
    another way: the same values once the record id's fields read as the id reads them
    (``101.0`` for ``101``, ``3/14/2025`` for ``2025-03-14``: ``as_id_reads``). Such a row is
    a duplicate, as the same bytes are (and, when it is not the newest version, counted in
    ``tally.superseded`` as they are): staged, it was a new version of every record of a
    re-saved export, processed again, each decision and entity source counted twice. Only
    the rows with a new hash are looked up, one probe each of the versions index; a row
    whose record has no version yet costs that probe alone."""
    if not todo:
        return todo
    versions: dict[str, list[str]] = {}
    for r in await conn.fetch(_SQL["record_versions"], system, table,
                              list({s[0] for s in todo})):
        payload = json.loads(r["payload"])
        if isinstance(payload, dict):
            versions.setdefault(r["source_row_id"], []).append(
                row_hash(as_id_reads(payload, profile), r["source_row_id"]))
    if not versions:
        return todo
    keep = []
    for row in todo:
        rid, same = row[0], row[3]
        hashes = versions.get(rid, [])
        if same in hashes:
            if hashes.index(same) > 0:     # newest first: an earlier version
                tally.superseded += 1
                if len(tally.superseded_ids) < 5:
                    tally.superseded_ids.append(rid)
            continue
        keep.append(row)
    return keep


async def _store_rejects(conn: asyncpg.Connection,
                         rejects: list[tuple[Row, str | None, str]],
                         result: IngestResult, run_id: int) -> None:
    if not rejects:
        return
    await conn.copy_records_to_table(
        "ingest_rejects", schema_name="trapper", columns=REJECT_COLUMNS,
        records=[
            (run_id, result.source_system, result.source_table, result.source_file,
             r.row_number, rid, r.reject_code, r.reject_reason, r.raw, key)
            for r, rid, key in rejects
        ],
    )


async def _mark_corrected(conn: asyncpg.Connection, corrections: Corrections,
                          result: IngestResult, run_id: int) -> dict[str, int]:
    """Mark the earlier runs' rejects this run's rows carry correctly as corrected by this
    run, in its transaction; returns how many, by the run that rejected them."""
    keys = list(corrections.found)
    rows = await conn.fetch(_SQL["mark_corrected"], result.source_system, result.source_table,
                            run_id, keys, [corrections.found[k] for k in keys])
    return dict(Counter(str(r["ingest_run_id"]) for r in rows))


@dataclass(frozen=True)
class ManifestEntry:
    path: Path
    source_system: str
    source_table: str
    fmt: str | None


MANIFEST_KEYS = ("path", "source_system", "source_table")


def read_manifest(path: Path) -> list[ManifestEntry]:
    """The files of a generated world (``manifest.json``), in their processing order.

    A manifest is ``{"files": [{"path": ..., "source_system": ..., "source_table": ...,
    "format": ...}, ...]}`` (``format`` optional), paths relative to the manifest's folder.
    Anything else is refused with what is wrong in the manifest's own terms (``UserError``,
    exit 1): the file, not the command line, is at fault."""
    where = shown(path)
    try:
        # (utf-8-sig: a manifest edited in Notepad begins with a byte-order mark)
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise UserError(f"{where}: cannot read the manifest: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"{where}: not a usable manifest: not UTF-8 text") from exc
    except ValueError as exc:
        raise UserError(f"{where}: not a usable manifest: not valid JSON ({exc})") from exc
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, list):
        raise UserError(f'{where}: not a usable manifest: expected a JSON object with a "files" '
                        "list, as `atlas-orch demo generate` writes")
    if not files:
        raise UserError(f"{where}: not a usable manifest: its \"files\" list is empty")
    entries = []
    for number, f in enumerate(files, 1):
        fmt = f.get("format") if isinstance(f, dict) else None
        if (not isinstance(f, dict)
                or not all(isinstance(f.get(k), str) and f[k].strip() for k in MANIFEST_KEYS)
                or not isinstance(fmt, str | None)):
            raise UserError(f"{where}: not a usable manifest: file {number} of its \"files\" "
                            "needs \"path\", \"source_system\" and \"source_table\" as text "
                            "(and \"format\", if given, as text)")
        try:
            parse_source(f"{f['source_system']}/{f['source_table']}")
        except UserError as exc:
            raise UserError(f"{where}: not a usable manifest: file {number}: {exc}") from exc
        entries.append(ManifestEntry(path.parent / f["path"], f["source_system"],
                                     f["source_table"], fmt))
    return entries
