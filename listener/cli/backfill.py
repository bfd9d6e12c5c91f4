"""`atlas-orch backfill`: the decision log's history from before the install."""

from __future__ import annotations

import click

from listener.admin import backfill as backfill_service
from listener.cli.common import BIGINT_MAX, database_option, json_option, with_connection
from listener.core.output import emit_json, emit_table, say


def report(result: backfill_service.BackfillResult, as_json: bool) -> None:
    """Print one run's result (also used by `install --backfill`)."""
    if as_json:
        emit_json(result.as_dict())
        return
    if not result.total:
        say("nothing to backfill: the decision log already holds the host's history")
        return
    parts = ", ".join(f"{n:,} {s}" for s, n in result.rows_written.items() if n)
    rate = result.source_rows / result.seconds if result.seconds else 0.0
    say(f"backfilled {result.total:,} log row(s) ({parts}) from {result.source_rows:,} "
        f"source row(s) in {result.seconds:.1f}s ({rate:,.0f} rows/s)")


@click.command("backfill")
@database_option
@click.option("--batch", default=backfill_service.DEFAULT_BATCH, show_default=True,
              type=click.IntRange(1, BIGINT_MAX), help="Source rows per transaction.")
@click.option("--status", "show_status", is_flag=True,
              help="Show each stream's progress; write nothing.")
@json_option
def backfill(database_url: str | None, batch: int, show_status: bool, as_json: bool) -> None:
    """Write the decision-log rows the listener would have written for what the host did
    before the install (identity decisions, entities, merges, staged rows, jobs). Marked
    backfilled; safe to run again (adds nothing) and to stop (continues where it stopped)."""
    if show_status:
        rows = with_connection(database_url, backfill_service.status)
        if as_json:
            emit_json(rows)
        else:
            emit_table(rows, ["stream", "upto", "done_upto", "rows_written", "started_at",
                              "finished_at"])
        return
    try:
        result = with_connection(database_url, lambda c: backfill_service.run(
            c, batch=batch, progress=None if not as_json else False))
    except KeyboardInterrupt:
        # each batch commits with its progress (orchestrator 016): nothing done is lost
        say("backfill interrupted: the batches written are kept; run `atlas-orch backfill` "
            "again to go on from there")
        raise click.Abort() from None   # exit 130 (listener/cli/main.py)
    report(result, as_json)
