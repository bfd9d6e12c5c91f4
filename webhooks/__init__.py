"""Slack delivery of anomaly alerts from the durable outbox."""
