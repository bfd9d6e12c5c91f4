"""The processing queue: the worker that claims and works jobs, and why a job waits."""
