"""Several files in one command (``atlas-orch ingest SRC a.csv b.csv``, ``--manifest``): each
file stands alone.

A file that does not go in (unreadable, refused, or any other failure) is one failed entry of
the report and the next file proceeds; a connection that broke is opened again for the next
file. Before each file, runs whose session is gone are marked abandoned
(``listener/ingest/runs.py``).

With ``jobs`` > 1 the files are shared among that many **lanes**, each a process of its own
with its own connection (:func:`run_lanes`): reading a file is Python work that
holds one core, so lanes in one process would take turns. Every file of one source table goes
to one lane, in the plan's order, so that a table's runs keep their order.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import queue
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import asyncpg

from listener.core import db, logs
from listener.core.errors import UserError
from listener.core.logs import JsonFormatter, event
from listener.ingest import readers, staging
from listener.ingest import runs as ingest_runs
from listener.ingest.runs import AbandonedRun
from listener.ingest.staging import IngestFailed, IngestResult

log = logging.getLogger("atlas_orch.ingest")


class _ToldByTheCaller(logging.Filter):
    """A file's failure is told by whoever hears of its result (the CLI's ``error:`` line,
    ``--json``'s report). Logged as well, it is a JSON line where logging is configured; where
    nothing is (the plain CLI, a lane without JSON logs), Python's last-resort handler printed
    the same line a second time, without its ``atlas-orch:``, so there it is left out."""

    TOLD = frozenset({"ingest_file_failed", "ingest_run_failed"})

    def filter(self, record: logging.LogRecord) -> bool:
        return (bool(logging.getLogger().handlers)
                or getattr(record, "action", None) not in self.TOLD)


log.addFilter(_ToldByTheCaller())

APPLICATION_NAME = "atlas-orch ingest"

# a database without the engines: every file would fail alike, one line says it once
NOT_INSTALLED = ("nothing ingested: this database has no trapper.staged_records (the engines "
                 "are not installed here): run `atlas-orch install --with-core` on an empty "
                 "database, or point DATABASE_URL at the Atlas database")


@dataclass(frozen=True)
class PlannedFile:
    """One file to ingest into one source table."""

    path: Path
    source_system: str
    source_table: str
    fmt: str | None = None


@dataclass(frozen=True)
class IngestOptions:
    """The reading options of one command, the same for every file (``ingest_file``'s
    keyword arguments; plain data, so a lane's process receives them)."""

    encoding: str | None = None
    records_key: str | None = None
    max_sheet_rows: int | None = None
    max_sheet_columns: int | None = None
    max_json_depth: int | None = None
    id_fields: tuple[str, ...] = ()
    max_row_bytes: int = staging.DEFAULT_MAX_ROW_BYTES


# (index of the file in the plan, rows read so far)
NotifyProgress = Callable[[int, int], None]
Notify = Callable[[IngestResult], None]
NotifyAbandoned = Callable[[AbandonedRun], None]


@dataclass
class BatchReport:
    """Every file of the command with what became of it, and the runs marked abandoned."""

    results: list[IngestResult] = field(default_factory=list)
    abandoned: list[AbandonedRun] = field(default_factory=list)

    @property
    def failed(self) -> list[IngestResult]:
        return [r for r in self.results if r.status != "completed"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` document (``runs`` and ``refused`` as before, one entry per file)."""
        return {
            "ok": self.ok,
            "files": len(self.results),
            "completed": len(self.results) - len(self.failed),
            "failed": len(self.failed),
            "runs": [r.as_dict() for r in self.results],
            "refused": [r.describe_failure() for r in self.failed],
            "abandoned_runs": [a.as_dict() for a in self.abandoned],
        }


@dataclass
class Listener:
    """Who hears of a lane's files as they go: each result, the runs marked abandoned,
    rows read so far (by the file's index in the plan)."""

    on_result: Callable[[int, IngestResult], None]
    on_abandoned: NotifyAbandoned | None = None
    on_progress: NotifyProgress | None = None


def not_ingested(item: PlannedFile, error: str) -> IngestResult:
    """A failed entry for a file that never got a run of its own."""
    return IngestResult(item.source_system, item.source_table, readers.shown(item.path.name),
                        path=readers.shown(item.path), status="failed", error=error)


async def ingest_planned(conn: asyncpg.Connection, item: PlannedFile, options: IngestOptions,
                         progress: staging.ProgressFn | None = None) -> IngestResult:
    """``ingest_file`` of one planned file with the command's options."""
    return await staging.ingest_file(
        conn, item.path, item.source_system, item.source_table, fmt=item.fmt,
        encoding=options.encoding, records_key=options.records_key,
        max_sheet_rows=options.max_sheet_rows, max_sheet_columns=options.max_sheet_columns,
        max_json_depth=options.max_json_depth, id_fields=options.id_fields,
        max_row_bytes=options.max_row_bytes, progress=progress)


async def _usable(conn: asyncpg.Connection, url: str) -> asyncpg.Connection:
    """The connection, or a new one when the last file's broke (raises ``UserError``)."""
    if not conn.is_closed():
        return conn
    event(log, "ingest_reconnecting", "the connection was lost; opening a new one",
          level=logging.WARNING)
    return await db.connect(url, application_name=APPLICATION_NAME)


async def _one(conn: asyncpg.Connection, index: int, item: PlannedFile,
               options: IngestOptions, hear: Listener) -> IngestResult:
    """One file, whatever happens to it."""
    def tick(done: int, total: int) -> None:
        if hear.on_progress:
            hear.on_progress(index, done)

    try:
        for run in await ingest_runs.mark_abandoned(conn):
            if hear.on_abandoned:
                hear.on_abandoned(run)
        return await ingest_planned(conn, item, options, tick)
    except IngestFailed as exc:
        return exc.result
    except UserError as exc:
        return not_ingested(item, str(exc))
    except Exception as exc:   # before its run began (the database went away, say)
        result = not_ingested(item, staging.describe_error(exc))
        event(log, "ingest_file_failed", result.describe_failure(), level=logging.ERROR,
              path=readers.shown(item.path), error_type=type(exc).__name__, error=str(exc))
        return result


async def ingest_in_order(url: str, conn: asyncpg.Connection,
                          work: Sequence[tuple[int, PlannedFile]], options: IngestOptions,
                          hear: Listener) -> None:
    """The files of ``work`` (plan index, file) one after the other on ``conn`` (closed at
    the end), each heard of as it ends. One lane's loop."""
    try:
        for i, (index, item) in enumerate(work):
            try:
                conn = await _usable(conn, url)
            except UserError as exc:
                for rest_index, rest in work[i:]:
                    hear.on_result(rest_index, not_ingested(rest, f"not ingested: {exc}"))
                break
            hear.on_result(index, await _one(conn, index, item, options, hear))
    finally:
        if not conn.is_closed():
            await conn.close()


async def ingest_files(
    url: str, plan: Sequence[PlannedFile], options: IngestOptions | None = None, *,
    jobs: int = 1, on_result: Notify | None = None,
    on_abandoned: NotifyAbandoned | None = None, on_progress: NotifyProgress | None = None,
) -> BatchReport:
    """Ingest every file of ``plan``, each on its own, in ``jobs`` lanes (one: in order, in
    this process). ``on_result`` hears of each file as it ends; the report lists them in the
    plan's order. Only a database unreachable at the start, or one without the engines'
    staging table, raises (``UserError``)."""
    options = options or IngestOptions()
    report = BatchReport()
    done: dict[int, IngestResult] = {}

    def result(index: int, r: IngestResult) -> None:
        done[index] = r
        if on_result:
            on_result(r)

    def abandoned(run: AbandonedRun) -> None:
        report.abandoned.append(run)
        if on_abandoned:
            on_abandoned(run)

    hear = Listener(result, abandoned, on_progress)
    conn = await db.connect(url, application_name=APPLICATION_NAME)
    if not await ingest_runs.has_staging(conn):
        await conn.close()
        raise UserError(NOT_INSTALLED)
    split = plan_lanes(plan, jobs)
    if len(split) <= 1:
        await ingest_in_order(url, conn, list(enumerate(plan)), options, hear)
    else:
        await conn.close()   # reachable: each lane opens its own
        await run_lanes(url, plan, split, options, hear)
    report.results = [done[i] for i in sorted(done)]
    return report


# -- lanes: several processes -----------------------------------------------------------------

def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0      # unreadable: it fails at once, wherever it goes


def plan_lanes(plan: Sequence[PlannedFile], jobs: int) -> list[list[int]]:
    """The plan's indexes shared among at most ``jobs`` lanes: every file of one source table
    in one lane and in the plan's order; the largest tables (by bytes, a proxy for the time
    their reading takes) first, each to the lane with the fewest bytes so far."""
    tables: dict[tuple[str, str], list[int]] = {}
    for i, item in enumerate(plan):
        tables.setdefault((item.source_system, item.source_table), []).append(i)
    count = max(1, min(jobs, len(tables)))
    if count == 1:
        return [list(range(len(plan)))] if plan else []
    weighed = sorted(((sum(_size(plan[i].path) for i in files), files)
                      for files in tables.values()), key=lambda t: -t[0])   # stable
    lanes: list[list[int]] = [[] for _ in range(count)]
    loads = [0] * count
    for weight, files in weighed:
        lane = loads.index(min(loads))
        lanes[lane].extend(files)
        loads[lane] += weight
    return lanes


def _lane_main(lane: int, url: str, work: list[tuple[int, PlannedFile]],
               options: IngestOptions, json_logs: str | None, out: Any) -> None:
    """A lane's process: its files in order on its own connection, each message to ``out``
    (a multiprocessing queue), and ``("done", lane)`` last. The terminal's Ctrl-C is the
    parent's to handle (ignored here); the parent's SIGTERM stops the lane the way Ctrl-C
    stops a one-lane ingest: the run in hand is marked failed ("interrupted"), nothing of
    it staged."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if json_logs:      # the parent's JSON lines; otherwise, like it, none configured
        logs.configure(json_logs)
    hear = Listener(lambda i, r: out.put(("result", i, r)),
                    lambda run: out.put(("abandoned", run)),
                    lambda i, n: out.put(("progress", i, n)))

    async def go() -> None:
        # SIGTERM cancels the lane's task once, as Ctrl-C cancels a one-lane ingest's
        # (asyncio.Runner): an anyio cancel scope would cancel every await of the cleanup too
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            conn = await db.connect(url, application_name=APPLICATION_NAME)
        except UserError as exc:
            for index, item in work:
                out.put(("result", index, not_ingested(item, f"not ingested: {exc}")))
        else:
            await ingest_in_order(url, conn, work, options, hear)

    try:
        asyncio.run(go())
    except (asyncio.CancelledError, KeyboardInterrupt):
        pass         # stopped: the run in hand is marked failed
    finally:
        out.put(("done", lane))


def _json_logs() -> str | None:
    """The level of this process's JSON log lines (``logs.configure``), if it has them."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return logging.getLevelName(root.level)
    return None


class _Lanes:
    """The lanes' processes, seen from this one: started, heard, stopped."""

    def __init__(self, url: str, plan: Sequence[PlannedFile], split: list[list[int]],
                 options: IngestOptions, hear: Listener) -> None:
        # spawn, not fork: this process runs an event loop (and maybe threads) that a
        # forked child would inherit half-way
        ctx = multiprocessing.get_context("spawn")
        self.plan, self.split, self.hear = plan, split, hear
        self.out = ctx.Queue()
        self.procs = [
            ctx.Process(target=_lane_main, name=f"atlas-orch ingest lane {n + 1}",
                        args=(n, url, [(i, plan[i]) for i in lane], options, _json_logs(),
                              self.out), daemon=True)
            for n, lane in enumerate(split)]
        self.reported: set[int] = set()
        self.ended: set[int] = set()

    def start(self) -> None:
        # The children start with SIGINT ignored (inherited), so that a Ctrl-C reaching the
        # whole process group cannot break one while it starts: this process stops them.
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            for p in self.procs:
                p.start()
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)

    def take(self) -> tuple[Any, ...] | None:
        """The next message, or None after a fifth of a second without one."""
        try:
            msg: tuple[Any, ...] = self.out.get(timeout=0.2)
            return msg
        except queue.Empty:
            return None

    def pass_on(self, msg: tuple[Any, ...]) -> None:
        kind, hear = msg[0], self.hear
        if kind == "result":
            self.reported.add(msg[1])
            hear.on_result(msg[1], msg[2])
        elif kind == "progress" and hear.on_progress:
            hear.on_progress(msg[1], msg[2])
        elif kind == "abandoned" and hear.on_abandoned:
            hear.on_abandoned(msg[1])
        elif kind == "done":
            self.ended.add(msg[1])

    async def follow(self) -> None:
        """Pass every message on until each lane has ended."""
        while len(self.ended) < len(self.procs):
            msg = await anyio.to_thread.run_sync(self.take)
            if msg is not None:
                self.pass_on(msg)
                continue
            # a while without a word: a lane that died (killed, out of memory) never says
            # done; what it sent before is taken first
            dead = {n for n, p in enumerate(self.procs)
                    if n not in self.ended and p.exitcode is not None}
            if dead:
                while (late := await anyio.to_thread.run_sync(self.take)) is not None:
                    self.pass_on(late)
                self.ended.update(dead)

    def stop(self, *, interrupted: bool) -> None:
        """Wait for every lane to end (told to stop first when ``interrupted``)."""
        if interrupted:
            for p in self.procs:
                if p.is_alive():
                    p.terminate()   # SIGTERM: the lane fails its run in hand, then ends
        for p in self.procs:
            p.join(staging.CLEANUP_SECONDS + 5)
            if p.is_alive():
                p.kill()
                p.join()
        self.out.close()

    def unfinished(self) -> None:
        """A failed entry for each file of a lane that ended before telling of it."""
        for lane, p in zip(self.split, self.procs, strict=True):
            for index in lane:
                if index not in self.reported:
                    self.hear.on_result(index, not_ingested(
                        self.plan[index], f"not ingested: its lane's process ended (exit "
                                          f"code {p.exitcode}) before this file did"))


async def run_lanes(url: str, plan: Sequence[PlannedFile], split: list[list[int]],
                    options: IngestOptions, hear: Listener) -> None:
    """Run each lane of ``split`` in a process of its own and pass on what they tell, as
    they tell it. A lane whose process died leaves its unfinished files failed ("not
    ingested"); a run it had begun is left to be marked abandoned. Cancelled (Ctrl-C): every
    lane is told to stop and waited for while it marks its run in hand failed."""
    lanes = _Lanes(url, plan, split, options, hear)
    lanes.start()
    interrupted = True
    try:
        await lanes.follow()
        interrupted = False
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(lambda: lanes.stop(interrupted=interrupted))
    lanes.unfinished()
