"""Errors that are the user's to fix: the CLI prints them as one line and exits 1 (2 for a
command line that is wrong in itself, docs/operations.md "Exit status")."""


class UserError(Exception):
    """A problem with input, configuration or the database that a person can act on."""

    exit_status = 1


class UsageError(UserError):
    """The command line itself is wrong (a malformed SOURCE, an unknown kind, an id that is not
    one): exit status 2, as click's own usage errors, and nothing was done."""

    exit_status = 2


class MigrationError(UserError):
    """The database and the migration files disagree, or a migration failed."""
