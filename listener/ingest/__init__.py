"""Ingest: the file readers (CSV, JSON, NDJSON, XLSX, XLS), the source profiles, and the
staging of a file's rows as one ingest run."""
