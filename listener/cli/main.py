"""The ``atlas-orch`` command line: the root group and the console entry point. Each command
group is a module of this package; a command parses its input, calls listener.admin (or the
program it starts), and formats the answer."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import NoReturn

import click

from listener.cli import (
    alerts,
    backfill,
    demo,
    embedded,
    explain,
    health,
    ingest,
    install,
    listen,
    process,
    records,
    review,
    serve,
    shadow,
    sources,
)
from listener.core import db
from listener.core.errors import UserError
from listener.core.output import OutputFailed, drop_stdout, guard_streams
from listener.schema import migrations


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="atlas-orchestrator")
def cli() -> None:
    """atlas-orch: coordination, decision log and live events over the Atlas pipeline."""
    # every command refuses a database an earlier release installed, until `install`
    db.check_release_with(migrations.behind)


cli.add_command(install.install)
cli.add_command(install.uninstall)
cli.add_command(install.verify)
cli.add_command(backfill.backfill)
cli.add_command(ingest.ingest)
cli.add_command(process.process)
cli.add_command(process.worker_cmd)
cli.add_command(process.jobs)
cli.add_command(listen.listen)
cli.add_command(serve.serve)
cli.add_command(shadow.shadow)
cli.add_command(health.health_cmd)
cli.add_command(health.why_missing_cmd)
cli.add_command(health.anomalies_cmd)
cli.add_command(records.log_cmd)
cli.add_command(records.provenance_cmd)
cli.add_command(records.replay_cmd)
cli.add_command(explain.explain_cmd)
cli.add_command(review.review_group)
cli.add_command(alerts.alerts)
cli.add_command(sources.sources)
cli.add_command(sources.route)
cli.add_command(sources.rules)
cli.add_command(demo.demo)
cli.add_command(embedded.embedded)


def main() -> None:
    """Console entry point: every failure is one line on stderr (with ``--json``, also an
    ``{"ok": false, "error": {...}}`` document on stdout) and an exit status: 1 for work that
    failed, 2 for a command line that is wrong, 130 for Ctrl-C (docs/operations.md, "Exit
    status")."""
    guard_streams()
    as_json = wants_json(sys.argv[1:])
    try:
        try:
            cli.main(standalone_mode=False, prog_name="atlas-orch")
        except (SystemExit, click.exceptions.Exit):
            sys.stdout.flush()
            raise
        # what is still buffered is written here, where a failure is told, not at exit
        sys.stdout.flush()
    except OutputFailed as exc:
        _output_failed(exc)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        code = "usage" if isinstance(exc, click.UsageError) else "error"
        _json_error(as_json, code, exc.format_message(), exc.exit_code)
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        # click turns Ctrl-C into Abort; what the command committed stays, the rest rolled back
        _fail(as_json, "interrupted", INTERRUPTED, 130)
    except Exception as exc:
        gone = next((e for e in leaves(exc) if isinstance(e, OutputFailed)), None)
        if gone is not None:
            _output_failed(gone)
        code, line, status = describe_failure(exc)
        if code == "internal" and os.environ.get("ATLAS_ORCH_DEBUG") == "1":
            raise
        _fail(as_json, code, line, status)


SIGPIPE_STATUS = 141

INTERRUPTED = ("interrupted; what was committed is kept and the rest rolled back (an ingest "
               "run in progress is marked failed, a job in progress goes back to the queue): "
               "run the command again")


def wants_json(args: list[str]) -> bool:
    """``--json`` among the options (before a ``--``): errors are JSON on stdout too."""
    for arg in args:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside an exception group (a task group's failure), or the one given."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


def describe_failure(exc: BaseException) -> tuple[str, str, int]:
    """(code, one redacted line, exit status) for an exception that reached the command line.

    A task group (the workers of `process`, the lanes of `ingest --jobs`) raises its tasks'
    errors as a group: the line speaks for the one that matters, not for the group."""
    from listener.core import db_errors
    from listener.core.db import ConnectFailed, NotUpgraded

    found = leaves(exc)
    if any(isinstance(e, KeyboardInterrupt) for e in found):
        return "interrupted", INTERRUPTED, 130
    for kind in (UserError, BaseException):
        first = next((e for e in found if isinstance(e, kind)
                      and not isinstance(e, asyncio.CancelledError)), None)
        if first is None:
            continue
        if isinstance(first, UserError):
            code = ("usage" if first.exit_status == 2
                    else "cannot_connect" if isinstance(first, ConnectFailed)
                    else "not_upgraded" if isinstance(first, NotUpgraded)
                    else "error")
            return code, db.redact(str(first)), first.exit_status
        refused = db_errors.refusal(first)
        if refused is not None:
            # our SQL refused an argument as invalid (SQLSTATE 22023): the command line's to fix
            return "bad_argument", db.redact(refused), 2
        if db_errors.is_database_error(first):
            return "database_error", db.redact(db_errors.describe(first)), 1
        if isinstance(first, OSError) and first.filename is not None:
            # a path the user gave that cannot be written or read (no such folder, a file
            # where a folder is wanted, no permission, a full disk): theirs to fix, not a bug
            return ("file_error",
                    db.redact(f"cannot use {first.filename}: {first.strerror or first}"), 1)
        return ("internal",
                db.redact(f"internal error ({type(first).__name__}: {first}); this is a bug: "
                          "run again with ATLAS_ORCH_DEBUG=1 for the traceback and report it"),
                1)
    return "internal", db.redact(f"internal error ({type(exc).__name__})"), 1


def _json_error(as_json: bool, code: str, message: str, status: int) -> None:
    if as_json:
        try:
            print(json.dumps({"ok": False, "error": {"code": code, "message": message,
                                                     "exit_status": status}}, indent=2),
                  flush=True)
        except (OutputFailed, OSError):
            # the reader of stdout has gone (`… --json | head`), or the disk is full: the
            # line on stderr says it; a traceback of the print itself was what a person saw.
            drop_stdout()


def _output_failed(exc: OutputFailed) -> NoReturn:
    drop_stdout()
    if exc.reader_gone:
        # `… | head -1`: the reader took what it wanted; quiet, with the status the shell
        # gives `yes | head -1` (128 + SIGPIPE). click said nothing and exited 1.
        sys.exit(SIGPIPE_STATUS)
    # a full disk, stdout closed: no document can be written, the line is all there is
    _fail(False, "output_error", f"cannot write the output to stdout: {exc} (what the "
          "command changed, if anything, is committed; only its answer is lost)", 1)


def _fail(as_json: bool, code: str, line: str, status: int) -> NoReturn:
    try:
        sys.stdout.flush()   # a table begun before the failure: out before the line
    except OutputFailed:
        drop_stdout()
    print(f"atlas-orch: error: {line}", file=sys.stderr)
    _json_error(as_json, code, line, status)
    sys.exit(status)
