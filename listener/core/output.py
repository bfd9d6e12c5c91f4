"""Data to stdout (a table for people, JSON for scripts); messages to stderr."""

from __future__ import annotations

import codecs
import datetime as dt
import decimal
import errno
import io
import json
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from typing import Any


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def to_json(data: Any) -> str:
    """JSON text for any result of ours (timestamps, UUIDs and decimals included)."""
    return json.dumps(data, default=_default, ensure_ascii=False)


def emit_json(data: Any) -> None:
    """Write ``data`` as one JSON document to stdout: UTF-8 as it is where stdout is UTF-8,
    else every non-ASCII character escaped (``\\u00e9``), the same document in any charset
    (PYTHONIOENCODING=ascii failed on the first accented name, an internal error)."""
    sys.stdout.write(json.dumps(data, default=_default, indent=2,
                                ensure_ascii=not _is_utf(sys.stdout)) + "\n")


def _is_utf(stream: Any) -> bool:
    try:
        return codecs.lookup(getattr(stream, "encoding", None) or "ascii").name.startswith("utf")
    except LookupError:
        return False


def emit_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
    """Write rows as an aligned text table to stdout."""
    if not rows:
        sys.stdout.write("(no rows)\n")
        return
    cols = list(columns or rows[0].keys())
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
    sys.stdout.write("\n" + "  ".join("-" * w for w in widths) + "\n")
    for row in cells:
        line = "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True))
        sys.stdout.write(line.rstrip() + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dict | list):
        return to_json(value)
    return str(value)


def more_rows(shown: int, limit: int, next_page: str) -> None:
    """A listing that filled its --limit says so on stderr, with how to get the rest: the
    JSON on stdout is a bare list, and a script (or a person) took a full page for all."""
    if shown >= limit:
        say(f"{shown} row(s), as many as --limit {limit}: there may be more ({next_page})")


def say(message: str) -> None:
    """A message for the person at the terminal (stderr, so stdout stays data)."""
    print(f"atlas-orch: {message}", file=sys.stderr)


class OutputFailed(Exception):
    """stdout could not be written: its reader has gone (``| head``), the disk is full, or it
    was closed before the command started. Not an OSError, so that click's own handling of
    EPIPE (exit 1 with nothing said) does not take it."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(cause.strerror or str(cause))
        self.errno = cause.errno

    @property
    def reader_gone(self) -> bool:
        """The pipe's reader has gone: the reader's choice (``| head -1``), not a failure."""
        return self.errno == errno.EPIPE


class _Stdout(io.TextIOWrapper):
    """sys.stdout whose failures are OutputFailed, so the entry point can tell a stdout that
    cannot be written from a failure of the work."""

    closed_at_start = False

    def write(self, text: str) -> int:
        if self.closed_at_start:
            raise OutputFailed(OSError(errno.EBADF,
                                       "stdout was closed when the command started (>&-)"))
        try:
            return super().write(text)
        except OSError as exc:
            raise OutputFailed(exc) from exc

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as exc:
            raise OutputFailed(exc) from exc


def guard_streams() -> None:
    """For the console entry point, before anything runs: a standard stream closed by the
    caller (``>&-``, ``2>&-``, ``<&-``) gets /dev/null on its descriptor, so that no socket
    of ours takes descriptor 1 or 2 and no child inherits it as its stdout; with stderr
    closed, Python's ``print(file=sys.stderr)`` wrote to stdout instead (sys.stderr None),
    into the JSON. stdout becomes a _Stdout (a text table of a name its charset cannot hold
    is written with backslash escapes, as stderr's are, not an internal error)."""
    closed = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            closed.append(fd)
    if 0 in closed:
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 (the process's own stdin)
    if 2 in closed:
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    old = sys.stdout
    if 1 not in closed:
        if not isinstance(old, io.TextIOWrapper) or isinstance(old, _Stdout):
            return      # stdout already replaced (a test's capture, a second call)
        encoding, line_buffering = old.encoding, bool(old.line_buffering)
        write_through = bool(old.write_through)     # python -u, PYTHONUNBUFFERED
        old.flush()
        buffer = old.detach()
    else:
        encoding, line_buffering, write_through = "utf-8", False, False
        buffer = open(1, "wb", closefd=False)  # noqa: SIM115
    out = _Stdout(buffer, encoding=encoding, errors="backslashreplace",
                  line_buffering=line_buffering, write_through=write_through)
    out.closed_at_start = 1 in closed
    sys.stdout = out


def drop_stdout() -> None:
    """After stdout failed: point it at /dev/null, so that the flush at exit does not fail
    again (a second message, exit 120)."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
