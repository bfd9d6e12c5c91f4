"""Errors that are the user's to fix: the CLI prints them as one line and exits 1."""


class UserError(Exception):
    """A problem with input, configuration or the database that a person can act on."""


class MigrationError(UserError):
    """The database and the migration files disagree, or a migration failed."""
