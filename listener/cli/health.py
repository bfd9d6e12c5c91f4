"""`atlas-orch health`, `why-missing` and `anomalies`: the state of the data."""

from __future__ import annotations

import click

from listener.admin import read
from listener.cli.common import BIGINT_MAX, database_option, json_option, with_connection
from listener.core.output import emit_json, emit_table, more_rows, say


@click.command("health")
@database_option
@json_option
def health_cmd(database_url: str | None, as_json: bool) -> None:
    """Each active source's health: status, last ingest, backlog, errors, open anomalies and
    the worst of them (a source with an open warning or critical one needs attention)."""
    doc = with_connection(database_url, read.health)
    if as_json:
        emit_json(doc)
        return
    # one column for the worst anomaly in text, "schema_drift (warning)"; two in the JSON
    rows = [{**r, "worst_anomaly": f"{r['worst_anomaly']} ({r['worst_anomaly_severity']})"
             if r["worst_anomaly"] else None} for r in doc["sources"]]
    emit_table(rows, ["source_system", "source_table", "health_status",
                      "hours_since_last_ingest", "unprocessed_staged", "queued_count",
                      "failed_24h", "dead_lettered", "errors_24h", "open_anomalies",
                      "worst_anomaly"])


@click.command("why-missing")
@database_option
@click.argument("record", required=False)
@click.option("--type", "issue_type", help="One kind of gap, e.g. person_no_identifiers.")
@click.option("--source", help="SYSTEM or SYSTEM/TABLE.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, read.MAX_PAGE))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0))
@json_option
def why_missing_cmd(database_url: str | None, record: str | None, issue_type: str | None,
                    source: str | None, limit: int, offset: int, as_json: bool) -> None:
    """Why data is missing: counts by kind; with --type, that kind's rows and the fix for each.

    With RECORD (SYSTEM/TABLE/RECORD_ID): why that record is missing, or what stands of it
    now; a row rejected at ingest and carried correctly by a later file is told as corrected.
    """
    if record is not None:
        if issue_type or source:
            raise click.UsageError("give RECORD, or --type / --source, not both")
        _why_missing_record(database_url, record, as_json)
        return
    system, table = read.source_filter(source)
    doc = with_connection(database_url, lambda c: read.why_missing(
        c, issue_type=issue_type, system=system, table=table, limit=limit, offset=offset),
        source=(system, table))
    if as_json:
        emit_json(doc)
        return
    emit_table([{"issue_type": k, "count": v} for k, v in doc["counts"].items()])
    if doc["note"]:
        say(doc["note"])
    elif issue_type:
        click.echo()
        # the file and the record's id in it: the way from a gap to the row to correct
        emit_table(doc["rows"], ["entity_id", "entity_label", "source_system", "source_table",
                                 "source_file", "source_record_id", "explanation",
                                 "suggested_fix"])


def _why_missing_record(database_url: str | None, record: str, as_json: bool) -> None:
    parts = record.split("/", 2)
    if len(parts) != 3 or not all(parts):
        raise click.BadParameter(f"{record!r}: expected SYSTEM/TABLE/RECORD_ID",
                                 param_hint="RECORD")
    system, table, record_id = parts
    doc = with_connection(database_url, lambda c: read.why_missing_record(
        c, system, table, record_id))
    if as_json:
        emit_json(doc)
        return
    # an id typed as the file shows it (101.0) is read as ingest stored it (101)
    shown = (record if doc["source_record_id"] == record_id
             else f"{record} (record {doc['source_record_id']})")
    click.echo(f"{shown}: {doc['answer']}")
    if doc["rejects"]:
        click.echo()
        emit_table([{**r, "rejected": f"{r['source_file']} row {r['row_number']} "
                                      f"(run {r['ingest_run_id']})",
                     "corrected_by": f"run {r['corrected_by_run']} ({r['corrected_by_file']})"
                     if r["corrected_by_run"] is not None else None}
                    for r in doc["rejects"]],
                   ["reject_id", "rejected", "reason_code", "status", "corrected_by",
                    "corrected_at"])
    if doc["gaps"]:
        click.echo()
        emit_table(doc["gaps"], ["issue_type", "entity_id", "entity_label", "explanation",
                                 "suggested_fix"])


@click.command("anomalies")
@database_option
@click.option("--source", help="SYSTEM or SYSTEM/TABLE.")
@click.option("--all", "include_resolved", is_flag=True, help="Include resolved ones.")
# there was no --limit: the 200 newest were all there was, silently, on a system that had
# seen more (--all)
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, read.MAX_PAGE),
              help="Rows per page.")
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0, BIGINT_MAX),
              help="Skip this many rows (the next page: --offset plus --limit).")
@json_option
def anomalies_cmd(database_url: str | None, source: str | None, include_resolved: bool,
                  limit: int, offset: int, as_json: bool) -> None:
    """Open anomalies (with --all, resolved ones too), newest first."""
    system, table = read.source_filter(source)
    rows = with_connection(database_url, lambda c: read.anomalies(
        c, system=system, table=table, include_resolved=include_resolved, limit=limit,
        offset=offset), source=(system, table))
    more_rows(len(rows), limit, f"the next page: --offset {offset + limit}")
    if as_json:
        emit_json(rows)
        return
    emit_table(rows, ["anomaly_key", "severity", "summary", "first_seen", "last_seen",
                      "resolved_at", "occurrences"])
