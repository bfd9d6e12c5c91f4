"""The installer: applies, lists, verifies and drops the SQL layers of sql/."""
