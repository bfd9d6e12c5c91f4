"""`atlas-orch process`, `worker` and `jobs explain`: the processing queue."""

from __future__ import annotations

import signal
import sys
from typing import Any

import click

from listener.admin import read
from listener.cli.common import database_option, json_option, run
from listener.core import db
from listener.core.logs import configure as configure_logs
from listener.core.output import emit_json, emit_table, say
from listener.queue.worker import Worker, WorkerStats, drain_queue


@click.command()
@database_option
@click.option("--budget", "budget_s", type=click.FloatRange(0, min_open=True), default=55.0,
              show_default=True,
              help="Stop after this many seconds (the cron route's limit).")
@click.option("--job-batch", default=10, show_default=True, type=click.IntRange(1),
              help="Jobs claimed per round.")
@click.option("--record-batch", type=click.IntRange(1), default=None,
              help="Records per transaction (default: processing_settings.record_batch).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="Workers in this process (jobs of different tables run side by side).")
@json_option
def process(
    database_url: str | None, budget_s: float, job_batch: int, record_batch: int | None,
    workers: int, as_json: bool,
) -> None:
    """Process queued jobs until the queue is empty or the time budget ends (the cron's job)."""
    url = db.resolve_url(database_url)
    async def go() -> tuple[WorkerStats, int]:
        stats = await drain_queue(url, workers=workers, job_batch=job_batch,
                                  record_budget=record_batch, budget_s=budget_s)
        async with db.connection(url) as conn:
            return stats, await read.queue_remaining(conn)

    stats, remaining = run(go)
    if as_json:
        emit_json({**stats.as_dict(), "queue_remaining": remaining})
    else:
        say(f"completed {stats.jobs_completed} job(s), {stats.records_processed} record(s) "
            f"processed, {stats.records_failed} record(s) failed, "
            f"{stats.jobs_retrying} retrying, {stats.jobs_dead_lettered} dead-lettered "
            f"in {stats.seconds}s")
        if remaining and not stats.interrupted:
            # "completed 0 job(s)" read as an empty queue when another `process` held the
            # jobs or the budget ran out: say what is left (the cron's answer, docs/processing.md)
            say(f"{remaining} job(s) not done yet: the time budget ran out, or another "
                "worker holds them or they wait for a retry (`atlas-orch jobs explain ID`); "
                "run `atlas-orch process` again")
    if stats.interrupted:
        # the batch in hand was finished and committed; the jobs not done went back to the
        # queue with no attempt counted (docs/processing.md): not a success, so not exit 0
        say(f"interrupted ({stats.interrupted}): the batch in hand was finished; the rest "
            "stays queued: run `atlas-orch process` again")
        sys.exit(128 + signal.Signals[stats.interrupted].value)


@click.command("worker")
@database_option
@click.option("--job-batch", default=10, show_default=True, type=click.IntRange(1),
              help="Jobs claimed per round.")
@click.option("--record-batch", type=click.IntRange(1), default=None,
              help="Records per transaction (default: processing_settings.record_batch).")
@click.option("--poll-interval", default=1.0, show_default=True,
              type=click.FloatRange(0, min_open=True),
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


@click.group()
def jobs() -> None:
    """The processing queue."""


@jobs.command("explain")
@database_option
@click.argument("job_id")
@json_option
def jobs_explain(database_url: str | None, job_id: str, as_json: bool) -> None:
    """Why a job is where it is: state, processor, retries, and what it waits for."""
    from listener.queue import jobs as jobs_mod

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
