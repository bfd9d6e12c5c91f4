"""`atlas-orch ingest`: stage export files, one ingest run per file."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from listener.cli.common import database_option, json_option, run
from listener.core import db
from listener.core.output import emit_json, say
from listener.core.progress import Progress
from listener.ingest import readers
from listener.ingest import staging as ingest_mod
from listener.ingest.batch import IngestOptions, PlannedFile, ingest_files
from listener.ingest.rows import FileRefused
from listener.ingest.text import codec_name


@click.command()
@database_option
@click.argument("source", required=False)
# readable=False: a file without read permission is refused by the ingest itself, exit 1
# and "nothing staged", like a missing file, not as a wrong command line (exit 2)
@click.argument("files", nargs=-1, type=click.Path(path_type=Path, readable=False))
@click.option("--manifest", type=click.Path(path_type=Path, readable=False),
              help="Ingest every file of a generated world's manifest.json, in its order.")
@click.option("--format", "fmt", type=click.Choice(readers.FORMATS),
              help="File format (default: from the extension).")
@click.option("--encoding", default=None, callback=lambda _c, _p, v: _encoding(v),
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
              type=click.IntRange(1),
              help="Rows whose JSON payload is larger are rejected as oversized.")
@click.option("--jobs", "-j", type=click.IntRange(1), default=1, show_default=True,
              metavar="N",
              help="Read up to N files at once, each lane a process of its own (reading is "
                   "Python work that holds one core). Every file of one source table stays in "
                   "one lane, in the given order; the largest tables start first. 1 by "
                   "default: one core, files and their queued jobs in the given order, and "
                   "the cores left to PostgreSQL and the listener; give 2 or more on a machine "
                   "with cores to spare.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@json_option
def ingest(
    database_url: str | None, source: str | None, files: tuple[Path, ...],
    manifest: Path | None, fmt: str | None, encoding: str | None, records_key: str | None,
    max_sheet_rows: int | None, max_sheet_columns: int | None, max_json_depth: int | None,
    id_fields: tuple[str, ...], max_row_bytes: int, jobs: int, progress: bool | None,
    as_json: bool,
) -> None:
    """Stage export files: atlas-orch ingest SOURCE_SYSTEM/SOURCE_TABLE FILE...

    A FILE of - is stdin (with --format): `curl … | atlas-orch ingest SYSTEM/TABLE - --format csv`.

    One file, one ingest run: read = new + duplicate + rejected + merged. Duplicates are
    counted, not re-staged; bad rows are kept in trapper.ingest_rejects with their reason; a
    file that cannot be parsed is refused whole. Each file stands alone: the others still go
    in, and the exit status is 1 if any file failed. With --jobs N, N files are read at once
    (docs/ingest.md, "Several files at once").
    """
    with _stdin_spooled(files, fmt) as files:
        plan = _ingest_plan(source, files, manifest, fmt)
        url = db.resolve_url(database_url)
        options = IngestOptions(encoding=encoding, records_key=records_key,
                                max_sheet_rows=max_sheet_rows,
                                max_sheet_columns=max_sheet_columns,
                                max_json_depth=max_json_depth, id_fields=id_fields,
                                max_row_bytes=max_row_bytes)
        bars = _Bars(plan, progress)

        def tell(result: ingest_mod.IngestResult) -> None:
            bars.ended(result)
            if result.status != "completed":
                say(f"error: {result.describe_failure()}")
            elif not as_json:
                say(_ingest_summary(result))
                for note in result.notes:
                    say(f"note: {note}")

        report = run(lambda: ingest_files(url, plan, options, jobs=jobs, on_result=tell,
                                          on_abandoned=lambda a: say(a.describe()),
                                          on_progress=bars.update))
        bars.close()
        if as_json:
            emit_json(report.as_dict())
        elif len(report.results) > 1:
            say(f"{len(report.results)} files: {len(report.results) - len(report.failed)} "
                f"completed, {len(report.failed)} failed")
        if not report.ok:
            sys.exit(1)


@contextmanager
def _stdin_spooled(files: tuple[Path, ...], fmt: str | None) -> Iterator[tuple[Path, ...]]:
    """FILE ``-`` as a file in a folder of its own (the readers, and a lane's process, read
    a path), named ``stdin.FORMAT``; removed after the run. It was "cannot read -: No such
    file or directory", with a failed run and an anomaly."""
    if Path("-") not in files:
        yield files
        return
    if files.count(Path("-")) > 1:
        raise click.UsageError("give - (stdin) once")
    if fmt is None:
        raise click.UsageError("reading stdin (-) needs --format (csv, xlsx, xls, json, ndjson): "
                               "there is no file name to tell it from")
    if sys.stdin is None or sys.stdin.isatty():
        raise click.UsageError("FILE - reads stdin, which is a terminal: pipe the export in "
                               "(`… | atlas-orch ingest SYSTEM/TABLE - --format csv`)")
    folder = Path(tempfile.mkdtemp(prefix="atlas-orch-stdin-"))
    try:
        spool = folder / f"stdin.{fmt}"
        with spool.open("wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out)
        yield tuple(spool if f == Path("-") else f for f in files)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class _Bars:
    """The progress line on stderr (a terminal): one file, as before, or the files being
    read at once, each with its rows so far."""

    def __init__(self, plan: list[PlannedFile], enabled: bool | None) -> None:
        self.plan, self.enabled = plan, enabled
        self.bar = Progress("", 0, enabled=enabled)
        self.reading: dict[int, int] = {}
        self.drawn = False

    def update(self, index: int, done: int) -> None:
        self.reading[index] = done
        if len(self.reading) == 1:
            item = self.plan[index]
            self.bar.label = f"{item.source_system}/{item.source_table} {item.path.name}"
        else:
            self.bar.label = " | ".join(f"{self.plan[i].path.name} {n:,}"
                                        for i, n in sorted(self.reading.items()))
        self.bar.update(sum(self.reading.values()))
        self.drawn = True

    def ended(self, result: ingest_mod.IngestResult) -> None:
        """A file ended: end the line before its summary is printed."""
        self.reading = {i: n for i, n in self.reading.items()
                        if readers.shown(self.plan[i].path) != result.path}
        self.close()

    def close(self) -> None:
        if self.drawn:
            self.bar.close()
            self.drawn = False
        self.bar = Progress("", 0, enabled=self.enabled)   # the next line counts afresh


def _encoding(name: str | None) -> str | None:
    """``--encoding`` checked on the command line: a name Python does not know was a failed
    run of each file, an ``ingest_failed`` anomaly for a typo, and exit 1, not 2."""
    if name is not None:
        try:
            codec_name(name)
        except FileRefused as exc:
            raise click.BadParameter(str(exc), param_hint="'--encoding'") from exc
    return name


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
