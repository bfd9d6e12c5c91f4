"""What every program shares: configuration, connections, errors, logs, output, redaction,
the embedded server and the named-SQL loader. Imports nothing else of listener."""
