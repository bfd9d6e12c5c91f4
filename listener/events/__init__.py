"""The event listener: consumes shadow-trigger events into the job log and the counters."""
