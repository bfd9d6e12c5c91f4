"""The ``atlas-orch`` command line: every subcommand is a thin shell over a query module."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import click

from listener import db, ingest_runs, migrations, queries, read, readers, routing
from listener import ingest as ingest_mod
from listener.errors import UserError
from listener.ingest_batch import PlannedFile, ingest_files
from listener.logs import configure as configure_logs
from listener.output import emit_json, emit_table, say
from listener.progress import Progress
from listener.worker import Worker, drain_queue

T = TypeVar("T")

URL_ENVVARS = ["ATLAS_ORCH_DATABASE_URL", "DATABASE_URL"]


def run(fn: Callable[[], Awaitable[T]]) -> T:
    """Run one async entry point to completion."""
    return anyio.run(fn)


def database_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--database-url",
        envvar=URL_ENVVARS,
        show_envvar=True,
        help="PostgreSQL URL. Unset: a private embedded server in the user's data folder.",
    )(f)


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="atlas-orchestrator")
def cli() -> None:
    """atlas-orch: coordination, decision log and live events over the Atlas pipeline."""


@cli.command()
@database_option
@click.option("--with-core", "mode", flag_value="with-core",
              help="Standalone: the engines, the orchestrator and the shadow triggers.")
@click.option("--core-only", "mode", flag_value="core-only",
              help="The engines alone (what a host database has before the orchestrator).")
@click.option("--list", "list_only", is_flag=True,
              help="Show each SQL file's state (applied, pending, to re-apply, rewritten, "
                   "edited); change nothing.")
@click.option("--print-sql", is_flag=True, help="Print the SQL that would run; no connection.")
@json_option
def install(
    database_url: str | None, mode: str | None, list_only: bool, print_sql: bool, as_json: bool
) -> None:
    """Install the orchestrator (shadow mode onto existing engines, unless --with-core)."""
    layers: tuple[str, ...] = migrations.LAYERS
    listing_everything = list_only and mode is None
    mode = mode or "shadow"
    if not listing_everything:
        layers = migrations.layers_for(mode)
    if print_sql:
        sys.stdout.write(migrations.print_sql(mode))
        return
    url = db.resolve_url(database_url)

    async def go() -> None:
        async with db.connection(url) as conn:
            if list_only:
                _show_status(await migrations.status(conn, layers), as_json)
                return
            done = await migrations.install(conn, mode, progress=not as_json)
            if as_json:
                emit_json({"mode": mode, "applied": [m.label for m in done]})
            elif done:
                say(f"applied {len(done)} SQL file(s) ({mode})")
            else:
                say(f"nothing to do: every {mode} SQL file is already applied")

    run(go)


def _show_status(states: list[migrations.Status], as_json: bool) -> None:
    rows = [
        {"layer": s.layer, "migration": s.name, "kind": s.kind, "state": s.state,
         "applied_at": s.applied_at}
        for s in states
    ]
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows)


@cli.command()
@database_option
@json_option
def uninstall(database_url: str | None, as_json: bool) -> None:
    """Drop exactly the orchestrator's objects; the engines and their data stay as they were."""
    url = db.resolve_url(database_url)

    async def go() -> None:
        async with db.connection(url) as conn:
            dropped = await migrations.uninstall(conn)
        if as_json:
            emit_json({"dropped": dropped})
        elif dropped:
            say(f"dropped {len(dropped)} orchestrator object(s)")
        else:
            say("the orchestrator is not installed here; nothing to drop")

    run(go)


@cli.command()
@database_option
@json_option
def verify(database_url: str | None, as_json: bool) -> None:
    """Exit non-zero on any difference between the database and the migration files.

    Also marks abandoned the ingest runs whose session is gone (reported, not a difference).
    """
    url = db.resolve_url(database_url)

    async def go() -> tuple[list[str], list[ingest_runs.AbandonedRun]]:
        async with db.connection(url) as conn:
            problems = await migrations.verify(conn)
            return problems, await ingest_runs.mark_abandoned(conn)

    problems, abandoned = run(go)
    if as_json:
        emit_json({"ok": not problems, "problems": problems,
                   "abandoned_runs": [a.as_dict() for a in abandoned]})
    else:
        for p in problems:
            click.echo(p)
        for a in abandoned:
            say(a.describe())
        if not problems:
            say("database matches the migration files")
    if problems:
        sys.exit(1)


@cli.command()
@database_option
@click.argument("source", required=False)
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--manifest", type=click.Path(path_type=Path),
              help="Ingest every file of a generated world's manifest.json, in its order.")
@click.option("--format", "fmt", type=click.Choice(readers.FORMATS),
              help="File format (default: from the extension).")
@click.option("--encoding", default=None,
              help="Text encoding of CSV, JSON and NDJSON files without a byte-order mark, "
                   "for example cp1252 (default: a byte-order mark decides, else UTF-8).")
@click.option("--records-key", metavar="KEY",
              help="JSON: the key of the top-level object whose array holds the records "
                   "(needed when it holds several arrays).")
@click.option("--max-sheet-rows", type=click.IntRange(1), metavar="N",
              help="XLSX/XLS: refuse a sheet with more rows (default: the readers' limit).")
@click.option("--max-sheet-columns", type=click.IntRange(1), metavar="N",
              help="XLSX/XLS: refuse a sheet with more columns (default: the readers' limit).")
@click.option("--max-json-depth", type=click.IntRange(1), metavar="N",
              help="JSON/NDJSON: reject a record nested deeper (default: the readers' limit).")
@click.option("--id-field", "id_fields", multiple=True,
              help="Payload field holding the source record id (repeatable; first found wins).")
@click.option("--max-row-bytes", default=ingest_mod.DEFAULT_MAX_ROW_BYTES, show_default=True,
              help="Rows whose JSON payload is larger are rejected as oversized.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@json_option
def ingest(
    database_url: str | None, source: str | None, files: tuple[Path, ...],
    manifest: Path | None, fmt: str | None, encoding: str | None, records_key: str | None,
    max_sheet_rows: int | None, max_sheet_columns: int | None, max_json_depth: int | None,
    id_fields: tuple[str, ...], max_row_bytes: int, progress: bool | None, as_json: bool,
) -> None:
    """Stage export files: atlas-orch ingest SOURCE_SYSTEM/SOURCE_TABLE FILE...

    One file, one ingest run: read = new + duplicate + rejected + merged. Duplicates are
    counted, not re-staged; bad rows are kept in trapper.ingest_rejects with their reason; a
    file that cannot be parsed is refused whole. Each file stands alone: the others still go
    in, and the exit status is 1 if any file failed.
    """
    plan = _ingest_plan(source, files, manifest, fmt)
    url = db.resolve_url(database_url)

    async def one(conn: Any, item: PlannedFile) -> ingest_mod.IngestResult:
        bar = Progress(f"{item.source_system}/{item.source_table} {item.path.name}", 0,
                       enabled=progress)

        def tick(done: int, total: int) -> None:
            bar.total = total          # 0: unknown, the file is read as it streams
            bar.update(done)

        try:
            return await ingest_mod.ingest_file(
                conn, item.path, item.source_system, item.source_table, fmt=item.fmt,
                encoding=encoding, records_key=records_key, max_sheet_rows=max_sheet_rows,
                max_sheet_columns=max_sheet_columns, max_json_depth=max_json_depth,
                id_fields=id_fields, max_row_bytes=max_row_bytes, progress=tick)
        finally:
            bar.close()

    def tell(result: ingest_mod.IngestResult) -> None:
        if result.status != "completed":
            say(f"error: {result.describe_failure()}")
        elif not as_json:
            say(_ingest_summary(result))

    report = run(lambda: ingest_files(url, plan, one, on_result=tell,
                                      on_abandoned=lambda a: say(a.describe())))
    if as_json:
        emit_json(report.as_dict())
    elif len(report.results) > 1:
        say(f"{len(report.results)} files: {len(report.results) - len(report.failed)} "
            f"completed, {len(report.failed)} failed")
    if not report.ok:
        sys.exit(1)


def _ingest_plan(source: str | None, files: tuple[Path, ...], manifest: Path | None,
                 fmt: str | None) -> list[PlannedFile]:
    """The files to ingest, from SOURCE FILE... or from a manifest."""
    if manifest:
        if source or files:
            raise click.UsageError("give either --manifest or SOURCE FILE..., not both")
        return [PlannedFile(e.path, e.source_system, e.source_table, e.fmt)
                for e in ingest_mod.read_manifest(manifest)]
    if not source or not files:
        raise click.UsageError("give SOURCE_SYSTEM/SOURCE_TABLE and at least one FILE")
    system, table = ingest_mod.parse_source(source)
    return [PlannedFile(f, system, table, fmt) for f in files]


def _ingest_summary(r: ingest_mod.IngestResult) -> str:
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(r.rejects_by_reason.items()))
    return (
        f"{r.source_system}/{r.source_table} {r.source_file}: read {r.rows_read} = "
        f"new {r.rows_new} + duplicate {r.rows_duplicate} + rejected {r.rows_rejected}"
        + (f" ({reasons})" if reasons else "")
        + (f" + merged {r.rows_merged} (service lines)" if r.rows_merged else "")
        + f" [run {r.ingest_run_id}, {r.seconds}s]"
    )


@cli.command()
@database_option
@click.option("--budget", "budget_s", type=float, default=55.0, show_default=True,
              help="Stop after this many seconds (the cron route's limit).")
@click.option("--job-batch", default=10, show_default=True, help="Jobs claimed per round.")
@click.option("--record-batch", type=int, default=None,
              help="Records per transaction (default: processing_settings.record_batch).")
@click.option("--workers", default=1, show_default=True,
              help="Workers in this process (jobs of different tables run side by side).")
@json_option
def process(
    database_url: str | None, budget_s: float, job_batch: int, record_batch: int | None,
    workers: int, as_json: bool,
) -> None:
    """Process queued jobs until the queue is empty or the time budget ends (the cron's job)."""
    if workers < 1:
        raise click.BadParameter("must be at least 1", param_hint="--workers")
    url = db.resolve_url(database_url)
    stats = run(lambda: drain_queue(url, workers=workers, job_batch=job_batch,
                                    record_budget=record_batch, budget_s=budget_s))
    if as_json:
        emit_json(stats.as_dict())
    else:
        say(f"completed {stats.jobs_completed} job(s), {stats.records_processed} record(s) "
            f"processed, {stats.records_failed} record(s) failed, "
            f"{stats.jobs_retrying} retrying, {stats.jobs_dead_lettered} dead-lettered "
            f"in {stats.seconds}s")


@cli.command("worker")
@database_option
@click.option("--job-batch", default=10, show_default=True, help="Jobs claimed per round.")
@click.option("--record-batch", type=int, default=None,
              help="Records per transaction (default: processing_settings.record_batch).")
@click.option("--poll-interval", default=1.0, show_default=True,
              help="Seconds between claims when the queue is empty.")
def worker_cmd(
    database_url: str | None, job_batch: int, record_batch: int | None, poll_interval: float
) -> None:
    """Process jobs continuously; SIGTERM finishes the current batch and exits 0."""
    configure_logs()
    url = db.resolve_url(database_url)
    worker = Worker(url, job_batch=job_batch, record_budget=record_batch,
                    poll_interval=poll_interval)
    run(lambda: worker.run())


@cli.command()
@database_option
@click.option("--listen-url", envvar="ATLAS_ORCH_LISTEN_URL", show_envvar=True,
              help="A direct (session) connection for LISTEN, when the database URL goes "
                   "through a transaction-mode pooler.")
@click.option("--once", is_flag=True, help="Enrich what is there, update counters, exit.")
@click.option("--wait", "once_wait", default=0.0, show_default=True,
              help="With --once: seconds to wait while another listener holds the lock.")
@click.option("--batch", default=1000, show_default=True, help="Events per transaction.")
@click.option("--poll-interval", default=1.0, show_default=True,
              help="Seconds between catch-up polls when no NOTIFY arrives.")
@click.option("--busy-interval", default=0.01, show_default=True,
              help="Seconds to the next step after events arrived with no NOTIFY (polled "
                   "streams, writers with NOTIFY off); doubles back to --poll-interval.")
@json_option
def listen(database_url: str | None, listen_url: str | None, once: bool, once_wait: float,
           batch: int, poll_interval: float, busy_interval: float, as_json: bool) -> None:
    """Consume shadow-trigger events into the job log and the per-source counters.

    One listener per database consumes (an advisory lock); others wait as standbys and take
    over within seconds. SIGTERM finishes the page in hand, stores the checkpoint, exits 0.
    """
    from listener.service import AnotherLeader, Listener, ListenerConfig

    if batch < 1 or poll_interval <= 0 or busy_interval <= 0:
        raise click.BadParameter("--batch, --poll-interval and --busy-interval must be positive")
    configure_logs()
    url = db.resolve_url(database_url)
    listener = Listener(ListenerConfig(url=url, listen_url=listen_url, batch=batch,
                                       poll_interval=poll_interval,
                                       busy_interval=busy_interval, once=once,
                                       once_wait=once_wait))
    try:
        stats = run(listener.run)
    except AnotherLeader as exc:
        say(f"error: {exc}")
        sys.exit(3)
    if as_json:
        emit_json(stats.as_dict())
    elif once:
        say(f"enriched {stats.events} event(s) into {stats.log_rows} log row(s), counted "
            f"{stats.tallied} log row(s); checkpoint at transaction {stats.horizon}")


@cli.command()
@database_option
@click.option("--host", default="127.0.0.1", show_default=True, envvar="ATLAS_ORCH_HOST")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535),
              envvar="ATLAS_ORCH_PORT")
@click.option("--listen/--no-listen", "with_listener", default=True, show_default=True,
              help="Run the event listener in the same process.")
@click.option("--listen-url", envvar="ATLAS_ORCH_LISTEN_URL", show_envvar=True,
              help="A direct (session) connection for LISTEN.")
def serve(database_url: str | None, host: str, port: int, with_listener: bool,
          listen_url: str | None) -> None:
    """The HTTP API, the live feed and the /admin/data-health page (and the listener)."""
    from aiohttp import web

    from listener.api import Tokens, create_app
    from listener.api_server import ApiRunner
    from listener.logs import add_secrets
    from listener.service import Listener, ListenerConfig

    configure_logs()
    tokens = Tokens.from_env()
    if not tokens.admin and not tokens.read:
        raise UserError("no API token is configured: set ATLAS_ORCH_ADMIN_TOKEN (and "
                        "ATLAS_ORCH_READ_TOKEN for read-only access)")
    add_secrets(*tokens.all())          # masked in every log line, wherever they appear
    url = db.resolve_url(database_url)

    async def go() -> None:
        import signal

        # ApiRunner: aiohttp's own parse-error answers in the API's envelope, without the
        # request's bytes (listener/api_server.py); no access log (URLs may carry tickets)
        runner = ApiRunner(create_app(url, tokens, listen_url=listen_url), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        say(f"serving http://{host}:{port}/admin/data-health"
            + (" with the listener" if with_listener else ""))
        try:
            if with_listener:
                await Listener(ListenerConfig(url=url, listen_url=listen_url)).run()
            else:
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for _ in signals:
                        break
        finally:
            await runner.cleanup()

    run(go)


@cli.group()
def shadow() -> None:
    """The shadow layer's switches and the listener's checkpoint."""


@shadow.command("status")
@database_option
@json_option
def shadow_status(database_url: str | None, as_json: bool) -> None:
    """Settings, the listener's checkpoint and backlog, and shadow-trigger failures."""
    q = queries.load("listener")

    async def go() -> dict[str, Any]:
        async with db.connection(db.resolve_url(database_url)) as conn:
            return {
                "settings": [dict(r) for r in await conn.fetch(q["settings"])],
                "listeners": [dict(r) for r in await conn.fetch(q["status"])],
                "shadow_failures": dict(await conn.fetchrow(q["shadow_failures"]) or {}),
            }

    doc = run(go)
    if as_json:
        emit_json(doc)
        return
    emit_table(doc["settings"], ["key", "value"])
    click.echo()
    emit_table(doc["listeners"], ["consumer", "holder", "horizon", "events_consumed",
                                  "events_pending", "log_tallied_upto", "updated_at"])
    f = doc["shadow_failures"]
    say(f"shadow-trigger failures: {f['failures']}"
        + (f" (last {f['last_failure']:%Y-%m-%d %H:%M:%S}: {f['last_message']})"
           if f["failures"] else ""))


@shadow.command("set")
@database_option
@click.option("--notify", type=click.Choice(["on", "off"]),
              help="Wake listeners with NOTIFY (on) or let them poll (off).")
@click.option("--capture", type=click.Choice(["trigger", "poll"]),
              help="Capture staged rows with a trigger, or let the listener find them "
                   "(installed: trigger).")
@click.option("--capture-engine", type=click.Choice(["trigger", "poll"]),
              help="Capture identity decisions and new entities with triggers, or let the "
                   "listener find them (installed: poll).")
@json_option
def shadow_set(database_url: str | None, notify: str | None, capture: str | None,
               capture_engine: str | None, as_json: bool) -> None:
    """Switch NOTIFY and how events are captured (see README: choosing the capture)."""
    if notify is None and capture is None and capture_engine is None:
        raise click.UsageError(
            "nothing to set: give --notify, --capture and/or --capture-engine")
    q = queries.load("listener")

    async def go() -> list[dict[str, Any]]:
        async with db.connection(db.resolve_url(database_url)) as conn:
            async with conn.transaction():
                if notify is not None:
                    await conn.execute(q["set_notify"], notify)
                if capture is not None:
                    await conn.fetchval(q["set_capture"], "staged", capture)
                if capture_engine is not None:
                    await conn.fetchval(q["set_capture"], "engine", capture_engine)
            return [dict(r) for r in await conn.fetch(q["settings"])]

    settings = run(go)
    if as_json:
        emit_json(settings)
    else:
        emit_table(settings, ["key", "value"])


def _read(database_url: str | None, fn: Callable[[Any], Awaitable[T]]) -> T:
    async def go() -> T:
        async with db.connection(db.resolve_url(database_url)) as conn:
            return await fn(conn)

    return run(go)


@cli.command("health")
@database_option
@json_option
def health_cmd(database_url: str | None, as_json: bool) -> None:
    """Each active source's health: status, last ingest, backlog, errors, open anomalies."""
    doc = _read(database_url, read.health)
    if as_json:
        emit_json(doc)
        return
    emit_table(doc["sources"], ["source_system", "source_table", "health_status",
                                "hours_since_last_ingest", "unprocessed_staged", "queued_count",
                                "failed_24h", "dead_lettered", "errors_24h", "open_anomalies"])


@cli.command("why-missing")
@database_option
@click.option("--type", "issue_type", help="One kind of gap, e.g. person_no_identifiers.")
@click.option("--source", help="SYSTEM or SYSTEM/TABLE.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, read.MAX_PAGE))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0))
@json_option
def why_missing_cmd(database_url: str | None, issue_type: str | None, source: str | None,
                    limit: int, offset: int, as_json: bool) -> None:
    """Why data is missing: counts by kind, then the rows with the fix for each."""
    system, table = read.source_filter(source)
    doc = _read(database_url, lambda c: read.why_missing(
        c, issue_type=issue_type, system=system, table=table, limit=limit, offset=offset))
    if as_json:
        emit_json(doc)
        return
    emit_table([{"issue_type": k, "count": v} for k, v in doc["counts"].items()])
    if issue_type:
        click.echo()
        emit_table(doc["rows"], ["entity_id", "entity_label", "source_system", "source_table",
                                 "source_record_id", "explanation", "suggested_fix"])


@cli.command("anomalies")
@database_option
@click.option("--source", help="SYSTEM or SYSTEM/TABLE.")
@click.option("--all", "include_resolved", is_flag=True, help="Include resolved ones.")
@json_option
def anomalies_cmd(database_url: str | None, source: str | None, include_resolved: bool,
                  as_json: bool) -> None:
    """Open anomalies (with --all, resolved ones too), newest first."""
    system, table = read.source_filter(source)
    rows = _read(database_url, lambda c: read.anomalies(
        c, system=system, table=table, include_resolved=include_resolved))
    if as_json:
        emit_json(rows)
        return
    emit_table(rows, ["anomaly_key", "severity", "summary", "first_seen", "last_seen",
                      "resolved_at", "occurrences"])


@cli.command("log")
@database_option
@click.option("--source", help="SYSTEM or SYSTEM/TABLE.")
@click.option("--record", "record_id", help="A source record id (with --source).")
@click.option("--staged", "staged_record_id", type=int, help="A staged record id.")
@click.option("--entity", "entity_id", type=click.UUID, help="A target entity id.")
@click.option("--action", help="routed, skipped, rejected, error, anomaly_flagged, …")
@click.option("--since", type=click.DateTime(), help="From this time (UTC).")
@click.option("--until", type=click.DateTime(), help="Before this time (UTC).")
@click.option("--after", default=0, show_default=True, type=click.IntRange(0),
              help="Only rows after this log_seq (paging).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, read.MAX_PAGE))
@json_option
def log_cmd(database_url: str | None, source: str | None, record_id: str | None,
            staged_record_id: int | None, entity_id: uuid.UUID | None, action: str | None,
            since: Any, until: Any, after: int, limit: int, as_json: bool) -> None:
    """The decision log, filtered: what happened to a record, an entity, a source."""
    import datetime as dt

    system, table = read.source_filter(source)
    utc = dt.UTC
    rows = _read(database_url, lambda c: read.log(
        c, system=system, table=table, record_id=record_id, staged_record_id=staged_record_id,
        entity_id=entity_id, action=action,
        since=since.replace(tzinfo=utc) if since else None,
        until=until.replace(tzinfo=utc) if until else None, after=after, limit=limit))
    if as_json:
        emit_json(rows)
        return
    emit_table(rows, ["log_seq", "logged_at", "action", "source_system", "source_table",
                      "source_record_id", "target_surface", "decision_reason"])


@cli.command("provenance")
@database_option
@click.argument("entity_type", type=click.Choice(read.ENTITY_TYPES))
@click.argument("entity_id", type=click.UUID)
@json_option
def provenance_cmd(database_url: str | None, entity_type: str, entity_id: uuid.UUID,
                   as_json: bool) -> None:
    """Where an entity came from: its source records and every decision about it."""
    doc = _read(database_url, lambda c: read.provenance(c, entity_type, entity_id))
    if as_json:
        emit_json(doc)
        return
    say(f"{entity_type} {entity_id} (canonical {doc['canonical_id']}, "
        f"{len(doc['merged_from'])} merged into it)")
    emit_table(doc["sources"], ["created_at", "source_system", "source_table",
                                "source_record_id", "staged_record_id", "action"])
    click.echo()
    emit_table(doc["decisions"], ["log_seq", "logged_at", "action", "source_system",
                                  "source_record_id", "decision_reason"])


@cli.command("replay")
@database_option
@click.argument("record")
@click.option("--reprocess", "mode", flag_value="reprocess",
              help="Run it through its processor again, rolled back: now against then.")
@click.option("--apply", "mode", flag_value="apply",
              help="Run it through its processor again for real (logged as a replay).")
@click.option("--emit", "mode", flag_value="emit",
              help="Re-publish its timeline to the live feed, marked as a replay.")
@json_option
def replay_cmd(database_url: str | None, record: str, mode: str | None, as_json: bool) -> None:
    """A record's whole timeline (RECORD is SYSTEM/TABLE/RECORD_ID), in order."""
    from listener import replay as replay_mod

    parts = record.split("/", 2)
    if len(parts) != 3 or not all(parts):
        raise click.BadParameter(f"{record!r}: expected SYSTEM/TABLE/RECORD_ID",
                                 param_hint="RECORD")
    system, table, record_id = parts

    async def go(conn: Any) -> dict[str, Any]:
        if mode in ("reprocess", "apply"):
            return await replay_mod.reprocess(conn, system, table, record_id,
                                              apply=mode == "apply")
        if mode == "emit":
            return await replay_mod.emit(conn, system, table, record_id)
        return await read.timeline(conn, system, table, record_id)

    doc = _read(database_url, go)
    if as_json:
        emit_json(doc)
        return
    if mode in ("reprocess", "apply"):
        say(f"{'applied' if doc['applied'] else 'rolled back'}: {doc['processor']} on staged "
            f"record {doc['staged_record_id']}; "
            + ("decisions changed" if doc["changed"] else "same decisions as before"))
        for label, rows in (("only then", doc["only_then"]), ("only now", doc["only_now"])):
            if rows:
                click.echo(f"{label}:")
                emit_table(rows)
        return
    if mode == "emit":
        say(f"timeline of {record} ({doc['items']} items) re-published to the live feed")
        return
    rows = [{"at": i["at"], "type": i["type"],
             "what": i.get("action") or i.get("state") or i.get("kind")
             or (f"version {i['version']}" if i["type"] == "staged" else ""),
             "detail": i.get("decision_reason") or i.get("summary") or i.get("last_error")
             or i.get("processing_error") or ""}
            for i in doc["items"]]
    emit_table(rows, ["at", "type", "what", "detail"])


@cli.group()
def alerts() -> None:
    """The Slack alert outbox: send what is due, list, show, redeliver."""


def _alert_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an alert id (a UUID)") from None


@alerts.command("send")
@database_option
@click.option("--once", is_flag=True, required=True,
              help="Plan and deliver what is due now, then exit (the listener sends "
                   "continuously).")
@json_option
def alerts_send(database_url: str | None, once: bool, as_json: bool) -> None:
    """Deliver due alerts to the configured Slack webhooks."""
    from webhooks.config import load_routes
    from webhooks.sender import AlertSender

    configure_logs()
    routes = load_routes()
    if not routes:
        raise UserError("no alert route is configured: set ATLAS_ORCH_SLACK_WEBHOOK_URL or "
                        "ATLAS_ORCH_ALERT_ROUTES")

    async def go() -> dict[str, Any]:
        async with db.connection(db.resolve_url(database_url)) as conn:
            return (await AlertSender(routes).run_once(conn)).as_dict()

    stats = run(go)
    if as_json:
        emit_json(stats)
    else:
        say(f"planned {stats['planned']}, delivered {stats['delivered']}, retrying "
            f"{stats['retried']}, throttled {stats['throttled']}, dead-lettered {stats['dead']}")


@alerts.command("list")
@database_option
@click.option("--status", type=click.Choice(["pending", "delivered", "dead"]))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@json_option
def alerts_list(database_url: str | None, status: str | None, limit: int,
                as_json: bool) -> None:
    """Alerts, newest first."""
    rows = _read(database_url, lambda c: read.alerts(c, status=status, limit=limit))
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, ["alert_id", "created_at", "route", "kind", "severity",
                          "source_system", "source_table", "anomalies", "status", "attempts",
                          "last_error"])


@alerts.command("show")
@database_option
@click.argument("alert_id")
@json_option
def alerts_show(database_url: str | None, alert_id: str, as_json: bool) -> None:
    """One alert: its state and the Slack message it sends."""
    import json as json_mod

    from webhooks.config import public_url
    from webhooks.slack import render

    ident = _alert_id(alert_id)
    q = queries.load("alerts")

    async def go() -> dict[str, Any] | None:
        async with db.connection(db.resolve_url(database_url)) as conn:
            row = await conn.fetchrow(q["show"], ident)
            return dict(row) if row else None

    row = run(go)
    if row is None:
        raise UserError(f"no alert {ident}")
    row["anomalies"] = json_mod.loads(row["anomalies"])
    row["message"] = render(row, public_url())
    if as_json:
        emit_json(row)
        return
    emit_table([{k: row[k] for k in ("alert_id", "status", "kind", "severity", "route",
                                     "attempts", "last_http_status", "last_error")}])
    click.echo("\n" + row["message"]["text"])


@alerts.command("redeliver")
@database_option
@click.argument("alert_id")
@json_option
def alerts_redeliver(database_url: str | None, alert_id: str, as_json: bool) -> None:
    """Send an alert again (a dead-lettered one, say): pending, attempts reset, due now."""
    ident = _alert_id(alert_id)
    row = _read(database_url, lambda c: read.redeliver_alert(c, ident))
    if as_json:
        emit_json(row)
    else:
        say(f"alert {ident} is pending again; the listener (or alerts send --once) sends it")


@cli.command()
@database_option
@click.argument("source")
@click.option("--dry-run", is_flag=True, required=True,
              help="Route inside a transaction that is rolled back (the only mode for now).")
@click.option("--limit", default=20, show_default=True, help="Most recent records to route.")
@click.option("--record", "record_id", help="Route one record, by its source record id.")
@json_option
def route(database_url: str | None, source: str, dry_run: bool, limit: int,
          record_id: str | None, as_json: bool) -> None:
    """Try the routing rules on staged records and show what would be decided, and what
    differs from the decisions already logged. Nothing is written."""
    system, table = ingest_mod.parse_source(source)
    url = db.resolve_url(database_url)

    async def go() -> routing.DryRun:
        async with db.connection(url) as conn:
            return await routing.dry_run(conn, system, table, limit=limit, record_id=record_id)

    result = run(go)
    if as_json:
        emit_json(result.as_dict())
        return
    emit_table(result.decisions, ["staged_record_id", "action", "target_surface",
                                  "rule_version", "decision_reason"])
    say(f"dry run of {result.records} record(s): {len(result.decisions)} decision(s), "
        f"{len(result.changed)} record(s) decided differently from the log; nothing kept")


@cli.group()
def rules() -> None:
    """Routing rules."""


@rules.command("check")
@database_option
@click.option("--last", "last_rows", default=1000, show_default=True,
              help="Check against this many most recent staged rows per source.")
@json_option
def rules_check_cmd(database_url: str | None, last_rows: int, as_json: bool) -> None:
    """Report rules whose field occurs in none of the recent staged rows of their source;
    exits 1 when any rule matches nothing."""
    url = db.resolve_url(database_url)

    async def go() -> list[dict[str, Any]]:
        async with db.connection(url) as conn:
            return await routing.rules_check(conn, last_rows)

    rows = run(go)
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, ["source_system", "source_table", "source_field", "target_surface",
                          "rows_checked", "rows_with_field", "status"])
    if any(r["status"] == "matches nothing" for r in rows):
        sys.exit(1)


@cli.command()
@database_option
@json_option
def sources(database_url: str | None, as_json: bool) -> None:
    """What sources feed Atlas? (the registry)"""
    rows = _read(database_url, read.sources)
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, ["source_system", "source_table", "display_name", "processor_name",
                          "ingest_frequency", "is_active", "last_ingest_at"])


@cli.group()
def jobs() -> None:
    """The processing queue."""


@jobs.command("explain")
@database_option
@click.argument("job_id")
@json_option
def jobs_explain(database_url: str | None, job_id: str, as_json: bool) -> None:
    """Why a job is where it is: state, processor, retries, and what it waits for."""
    from listener import jobs as jobs_mod

    url = db.resolve_url(database_url)

    async def go() -> dict[str, Any]:
        async with db.connection(url) as conn:
            return await jobs_mod.explain(conn, job_id)

    result = run(go)
    if as_json:
        emit_json(result)
        return
    job = result["job"]
    click.echo(f"job {job['job_id']}  {job['source_system']}/{job['source_table']}  "
               f"{job['status']}  attempt {job['attempt_count']}/{job['max_attempts']}  "
               f"processor {job['processor_name'] or '-'}")
    click.echo(result["explanation"])
    if result["dependencies"]:
        emit_table(result["dependencies"])


@cli.group()
def demo() -> None:
    """The synthetic Atlas-like world for demos, tests and benchmarks."""


@demo.command("generate")
@click.option("--scale", type=click.Choice(["small", "atlas"]), default="small",
              show_default=True, help="small: ~3k rows; atlas: the real platform's volumes.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same world.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Folder to write the exports, manifest.json and ground_truth/ into.")
@json_option
def demo_generate(scale: str, seed: int, out: Path, as_json: bool) -> None:
    """Write a seeded world as every source's own export, with its ground truth."""
    from synthetic.generate import generate

    expected = generate(out, scale=scale, seed=seed)
    if as_json:
        emit_json(expected)
    else:
        say(f"wrote the {scale} world (seed {seed}) to {out} in {expected['seconds']}s: "
            f"{expected['staged_rows']:,} rows, {expected['people']:,} people, "
            f"{expected['places']:,} places, {expected['cats']:,} cats; "
            f"ingest it with: atlas-orch ingest --manifest {out / 'manifest.json'}")


@demo.command("run")
@database_option
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option("--seed", type=int, default=1, show_default=True)
def demo_run(database_url: str | None, port: int, seed: int) -> None:
    """Generate the small world, install, ingest, process, then serve the page and listen."""
    import os
    import secrets

    from listener.config import data_home
    from synthetic.generate import generate

    url = db.resolve_url(database_url)
    world = data_home() / f"demo-world-{seed}"
    if not (world / "manifest.json").exists():
        generate(world, scale="small", seed=seed)
    for args in (["install", "--with-core"],
                 ["ingest", "--manifest", str(world / "manifest.json"), "--no-progress"],
                 ["process"], ["listen", "--once"]):
        say("$ atlas-orch " + " ".join(args))
        cli.main(args=[args[0], "--database-url", url, *args[1:]], prog_name="atlas-orch",
                 standalone_mode=False)
    token = os.environ.get("ATLAS_ORCH_ADMIN_TOKEN") or secrets.token_urlsafe(16)
    os.environ["ATLAS_ORCH_ADMIN_TOKEN"] = token
    click.echo(f"\n  open http://127.0.0.1:{port}/admin/data-health")
    click.echo(f"  token: {token}")
    click.echo("  then, in a second terminal, ingest another file and watch it arrive:")
    click.echo(f"  export DATABASE_URL={db.redact(url)}")
    click.echo("  atlas-orch demo survey --rows 50 --seed $RANDOM --out /tmp/survey.csv")
    click.echo("  atlas-orch ingest client_survey/responses /tmp/survey.csv && "
               "atlas-orch process\n")
    cli.main(args=["serve", "--database-url", url, "--port", str(port)],
             prog_name="atlas-orch", standalone_mode=False)


@demo.command("survey")
@click.option("--rows", type=int, default=1000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="CSV file to write.")
def demo_survey(rows: int, seed: int, out: Path) -> None:
    """Write client_survey responses (the example of a source wired by SQL alone)."""
    from synthetic.survey import write_survey

    write_survey(out, rows, seed=seed)
    say(f"wrote {rows:,} survey responses to {out}; ingest with: "
        f"atlas-orch ingest client_survey/responses {out}")


@cli.group()
def embedded() -> None:
    """The private embedded PostgreSQL used when no DATABASE_URL is set."""


@embedded.command("url")
def embedded_url() -> None:
    """Start the embedded server if needed and print its URL."""
    from listener.embedded import ensure_embedded

    click.echo(ensure_embedded())


@embedded.command("start")
def embedded_start() -> None:
    """Start the embedded server (or find it running); it runs until `embedded stop`."""
    from listener.embedded import ensure_embedded

    ensure_embedded(announce=False)
    say("embedded server running; `atlas-orch embedded url` prints its URL")


@embedded.command("stop")
def embedded_stop() -> None:
    """Stop the embedded server."""
    from listener.embedded import stop_embedded

    say("embedded server stopped" if stop_embedded() else "embedded server was not running")


def main() -> None:
    """Console entry point: user errors are one line and exit 1, usage errors exit 2."""
    try:
        cli.main(standalone_mode=False, prog_name="atlas-orch")
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        sys.exit(130)
    except UserError as exc:
        # redacted: a message may quote a database URL or DSN with its password
        print(f"atlas-orch: error: {db.redact(str(exc))}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        from listener import db_errors

        if os.environ.get("ATLAS_ORCH_DEBUG") == "1":
            raise
        if db_errors.is_database_error(exc):
            line = db_errors.describe(exc)
        else:
            line = (f"internal error ({type(exc).__name__}: {exc}); this is a bug: run again "
                    "with ATLAS_ORCH_DEBUG=1 for the traceback and report it")
        print(f"atlas-orch: error: {db.redact(line)}", file=sys.stderr)
        sys.exit(1)
