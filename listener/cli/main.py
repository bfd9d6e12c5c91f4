"""The ``atlas-orch`` command line: the root group and the console entry point. Each command
group is a module of this package; a command parses its input, calls listener.admin (or the
program it starts), and formats the answer."""

from __future__ import annotations

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
from listener.core.output import emit_json


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="atlas-orchestrator")
def cli() -> None:
    """atlas-orch: coordination, decision log and live events over the Atlas pipeline."""


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
    """Console entry point: user errors are one line and exit 1, usage errors (a bad option,
    or an argument our SQL refuses as invalid) exit 2. With ``--json`` the error is also a
    JSON document on stdout, in the API's envelope (docs/api.md), for scripts."""
    try:
        cli.main(standalone_mode=False, prog_name="atlas-orch")
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        _json_error("usage" if exc.exit_code == 2 else "refused", exc.format_message())
        sys.exit(exc.exit_code)
    except click.Abort:
        sys.exit(130)
    except UserError as exc:
        # redacted: a message may quote a database URL or DSN with its password
        _fail("refused", db.redact(str(exc)), 1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        from listener.core import db_errors

        if os.environ.get("ATLAS_ORCH_DEBUG") == "1":
            raise
        refusal = db_errors.refusal(exc)
        if refusal is not None:
            _fail("bad_argument", db.redact(refusal), 2)
        if db_errors.is_database_error(exc):
            _fail("database", db.redact(db_errors.describe(exc)), 1)
        _fail("internal", db.redact(
            f"internal error ({type(exc).__name__}: {exc}); this is a bug: run again with "
            "ATLAS_ORCH_DEBUG=1 for the traceback and report it"), 1)


def _fail(code: str, line: str, status: int) -> NoReturn:
    print(f"atlas-orch: error: {line}", file=sys.stderr)
    _json_error(code, line)
    sys.exit(status)


def _json_error(code: str, message: str) -> None:
    """The error as JSON on stdout when the command was asked for JSON (``--json``)."""
    if "--json" in sys.argv[1:]:
        emit_json({"success": False, "error": {"code": code, "message": message}})
