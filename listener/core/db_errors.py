"""One line for a database error that reached the command line: its cause, then what to do.

The CLI's promise (docs/operations.md, "Connecting") is that a person never sees a traceback;
errors the commands do not turn into a ``UserError`` themselves end here.
"""

from __future__ import annotations

import asyncpg

_NOT_INSTALLED = ("the database lacks an object this command reads; run `atlas-orch install` "
                  "(or `install --with-core` on an empty database), then `atlas-orch verify`")

_ADVICE: list[tuple[type[BaseException], str]] = [
    (asyncpg.UndefinedTableError, _NOT_INSTALLED),
    # no trapper schema at all: an empty database, where a write names its function first
    (asyncpg.InvalidSchemaNameError, _NOT_INSTALLED),
    (asyncpg.UndefinedFunctionError,
     "the database lacks a function this command calls; run `atlas-orch verify` to see "
     "what is missing and `atlas-orch install` to apply it"),
    (asyncpg.UndefinedColumnError,
     "the database's tables differ from what this version expects; run `atlas-orch verify`"),
    (asyncpg.InsufficientPrivilegeError,
     "the role this command connects as lacks that right: grant it as docs/operations.md "
     "\"Roles and rights\" lists for this command, or connect as a role that has it"),
    (asyncpg.ReadOnlySQLTransactionError,
     "this session may not write: a read-only server (a replica?), then point DATABASE_URL "
     "at the primary; or a role with default_transaction_read_only = on, then connect as "
     "a role that may write"),
    (asyncpg.QueryCanceledError,
     "the statement was cancelled (statement_timeout or an operator); run it again, or "
     "raise the timeout for this role (ALTER ROLE ... SET statement_timeout)"),
    (asyncpg.LockNotAvailableError,
     "another session held a lock this command needed for longer than the role's "
     "lock_timeout; run it again once that session is done, or raise lock_timeout for this "
     "role (ALTER ROLE ... SET lock_timeout)"),
    (asyncpg.DeadlockDetectedError, "another session held the same rows; run it again"),
    (asyncpg.PostgresConnectionError,
     "the connection to PostgreSQL broke; check the server is up and run the command again"),
    (asyncpg.InterfaceError,
     "the connection to PostgreSQL broke; check the server is up and run the command again"),
    (ConnectionError,
     "the connection to PostgreSQL broke; check the server is up and run the command again"),
    (asyncpg.PostgresError, "run `atlas-orch verify`; if it is clean, report this message"),
]


def refusal(exc: BaseException) -> str | None:
    """Our own SQL's refusal of an argument (SQLSTATE 22023, invalid_parameter_value: a
    value outside the allowed ones, sql/orchestrator/functions/arguments.sql) as one line,
    its hint after it; None for any other error. The CLI treats it as a usage error."""
    if not isinstance(exc, asyncpg.InvalidParameterValueError):
        return None
    # the message alone: str() of asyncpg's error appends the HINT itself
    message = " ".join(str(getattr(exc, "message", "") or exc).split())[:300]
    hint = " ".join(str(getattr(exc, "hint", "") or "").split())[:300]
    return f"{message} ({hint})" if hint else message


def is_database_error(exc: BaseException) -> bool:
    """True for the errors :func:`describe` speaks for."""
    return isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError | ConnectionError)


def describe(exc: BaseException) -> str:
    """``cause; what to do`` on one line, the database's message first."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    for kind, advice in _ADVICE:
        if isinstance(exc, kind):
            return f"database error: {message[:300]} ({advice})"
    return f"database error: {message[:300]}"
