"""Request models of the HTTP API (pydantic): they validate input and generate the OpenAPI
document's schemas, so the two cannot drift apart."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Name = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=63)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterSource(Strict):
    source_system: str = Name
    source_table: str = Name
    display_name: str = Field(min_length=1, max_length=200)
    entity_types_produced: list[str] | None = Field(default=None, max_length=20)
    processor_name: str | None = Field(default=None, max_length=100)
    ingest_method: Literal["file_upload", "api_sync", "webhook", "manual_entry",
                           "realtime"] = "file_upload"
    ingest_frequency: Literal["realtime", "daily", "weekly", "monthly",
                              "on_demand"] = "on_demand"
    expected_fields: list[str] = Field(default_factory=list, max_length=500)
    required_fields: list[str] = Field(default_factory=list, max_length=500)
    id_field_candidates: list[str] | None = Field(default=None, max_length=20)
    notes: str | None = Field(default=None, max_length=2000)


class MapField(Strict):
    source_system: str = Name
    source_table: str = Name
    source_field: str = Field(min_length=1, max_length=200)
    target_surface: str = Field(min_length=1, max_length=100)
    target_field: str | None = Field(default=None, max_length=100)
    routing_type: Literal["direct", "transform", "function_call"] = "direct"
    target_function: str | None = Field(default=None, max_length=100)
    transform_expression: str | None = Field(default=None, max_length=200)
    is_required: bool = False
    skip_if_empty: bool = True


class DryRun(Strict):
    source: str = Field(pattern=r"^[a-z][a-z0-9_]*/[a-z][a-z0-9_]*$")
    limit: int = Field(default=20, ge=1, le=1000)
    record: str | None = Field(default=None, max_length=200)


class Replay(Strict):
    mode: Literal["timeline", "reprocess", "apply", "emit"] = "reprocess"


class Process(Strict):
    budget_s: float = Field(default=55.0, gt=0, le=300)
    job_batch: int = Field(default=10, ge=1, le=1000)


class SourceQuery(Strict):
    source: str | None = Field(default=None, max_length=130)


class WhyMissingQuery(Strict):
    type: str | None = Field(default=None, max_length=64)
    source: str | None = Field(default=None, max_length=130)
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class AnomaliesQuery(Strict):
    source: str | None = Field(default=None, max_length=130)
    all: bool = False
    limit: int = Field(default=200, ge=1, le=1000)


class AlertsQuery(Strict):
    status: Literal["pending", "delivered", "dead"] | None = None
    limit: int = Field(default=50, ge=1, le=1000)


class LogQuery(Strict):
    source: str | None = Field(default=None, max_length=130)
    record: str | None = Field(default=None, max_length=200)
    staged: int | None = Field(default=None, ge=1)
    entity: uuid.UUID | None = None
    action: str | None = Field(default=None, max_length=40)
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    after: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=1000)


class FeedQuery(Strict):
    source: str | None = Field(default=None, max_length=130)
    action: str | None = Field(default=None, max_length=40)
    after: int | None = Field(default=None, ge=0)
    token: str | None = Field(default=None, max_length=500)
