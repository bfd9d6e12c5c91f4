"""Request models of the HTTP API (pydantic): they validate input and generate the OpenAPI
document's schemas, so the two cannot drift apart.

Query and path values arrive as text and are parsed strictly here, not by pydantic's lax
coercion: an integer is digits (``5``, never ``5.0`` or `` 5``), a boolean is ``true`` or
``false``, a time is an RFC 3339 date-time with its offset (``until=0.5`` is refused, where
lax parsing took it for a Unix time), a UUID is the hyphenated form. Integers that reach
PostgreSQL as ``bigint`` are bounded to int64, so the driver never refuses them in its own
words (issue 15: "query argument $9"). JSON bodies are validated in strict mode: ``"5"`` is
not a number.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

from listener.admin.read import LOG_ACTIONS

INT64_MAX = 2**63 - 1

# Patterns are JSON Schema (ECMA 262) and Rust-regex compatible alike.
NAME = r"^[a-z][a-z0-9_]*$"                       # register_source's rule for source names
SOURCE = r"^[a-z][a-z0-9_]*(/[a-z][a-z0-9_]*)?$"   # SYSTEM or SYSTEM/TABLE
PLAIN = r"^[^\x00-\x1f\x7f]*$"                    # one line of text: no control characters
NO_NUL = r"^[^\x00]*$"                            # PostgreSQL text cannot hold NUL
TRANSFORM = r"^\s*[a-z_][a-z0-9_]*\s*\(\s*\$1\s*\)\s*$"   # orchestrator_transform_signature
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                       r"[0-9a-fA-F]{12}")
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def _utf8(value: str) -> str:
    """Refuse text that cannot be sent to PostgreSQL as UTF-8 (lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid UTF-8 text") from None
    return value


def _whole_number(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if not re.fullmatch(r"-?[0-9]+", value):
        raise ValueError("must be a whole number written in digits")
    if len(value) > 30:
        raise ValueError("is out of range")
    return int(value)


def _boolean(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if value not in ("true", "false"):
        raise ValueError("must be true or false")
    return value == "true"


def _time(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if not RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 time with its offset, like 2024-05-01T12:00:00Z")
    try:
        when = dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("is not a real time (a month, day or hour out of range)") from None
    try:
        # in UTC here, as the driver sends it: 9999-12-31T23:59:59-23:59 is past year 9999
        # there, and the driver refused it in its own words ("query argument $7")
        return when.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("is out of range (years 1 to 9999 in UTC)") from None


def _json_integer(value: Any) -> Any:
    """JSON Schema counts 9.0 as an integer; strict pydantic does not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _uuid(value: Any) -> Any:
    if isinstance(value, str) and not UUID_TEXT.fullmatch(value):
        raise ValueError("must be a UUID like 0b6c5b1e-8f1a-4c1e-9a8e-3f0a5e2b7c11")
    return value


# -- types for text that arrives in a query string or a path --------------------------------
QInt64 = Annotated[int, Field(ge=0, le=INT64_MAX), BeforeValidator(_whole_number)]
QBool = Annotated[bool, BeforeValidator(_boolean)]
QTime = Annotated[dt.datetime, BeforeValidator(_time)]
QUuid = Annotated[uuid.UUID, BeforeValidator(_uuid)]
Source = Annotated[str, Field(pattern=SOURCE, max_length=130)]
Word = Annotated[str, Field(pattern=NAME, max_length=64)]


def _log_action(value: str) -> str:
    if value not in LOG_ACTIONS:
        raise ValueError("not an action of the decision log; one of " + ", ".join(LOG_ACTIONS))
    return value


LogAction = Annotated[str, Field(max_length=64, json_schema_extra={"enum": list(LOG_ACTIONS)}),
                      AfterValidator(_log_action)]
Plain = Annotated[str, Field(min_length=1, max_length=200, pattern=PLAIN),
                  AfterValidator(_utf8)]


def q_limit(default: int) -> Any:
    return Field(default=default, ge=1, le=1000)


# -- types for JSON bodies --------------------------------------------------------------------
JInt = Annotated[int, BeforeValidator(_json_integer)]
Name = Annotated[str, Field(pattern=NAME, max_length=63)]
Text = Annotated[str, Field(max_length=2000, pattern=NO_NUL), AfterValidator(_utf8)]
Label = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL),
                  AfterValidator(_utf8)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Query strings: unknown parameters are refused (a misspelt filter is not ignored)."""

    model_config = ConfigDict(extra="forbid")


class RegisterSource(Strict):
    source_system: Name
    source_table: Name
    display_name: Label
    entity_types_produced: list[Word] | None = Field(default=None, max_length=20)
    processor_name: Annotated[str, Field(pattern=NAME, max_length=100)] | None = Field(
        default=None, description="a processor of trapper.data_engine_processors, or "
                                  "orchestrator_router (checked by the database: 409)")
    ingest_method: Literal["file_upload", "api_sync", "webhook", "manual_entry",
                           "realtime"] = "file_upload"
    ingest_frequency: Literal["realtime", "daily", "weekly", "monthly",
                              "on_demand"] = "on_demand"
    expected_fields: list[Label] = Field(default_factory=list, max_length=500)
    # each one must also be an expected field: the database refuses it otherwise (409,
    # ORCH_013), where every writer is checked, not only this route
    required_fields: list[Label] = Field(
        default_factory=list, max_length=500,
        description="each one must also be among expected_fields (checked by the "
                    "database: 409)")
    id_field_candidates: list[Label] | None = Field(default=None, max_length=20)
    notes: Text | None = None


class MapField(Strict):
    source_system: Name
    source_table: Name
    source_field: Label
    target_surface: Annotated[str, Field(pattern=NAME, max_length=100)]
    target_field: Annotated[str, Field(pattern=NAME, max_length=100)] | None = None
    routing_type: Literal["direct", "transform", "function_call"] = "direct"
    target_function: Annotated[str, Field(pattern=NAME, max_length=100)] | None = None
    # a transform rule needs one (the database says so: 409, ORCH_002's rule check)
    transform_expression: Annotated[str, Field(pattern=TRANSFORM, max_length=200)] | None = Field(
        default=None, description="fn($1) with fn an allowlisted transform; required when "
                                  "routing_type is transform (checked by the database: 409)")
    is_required: bool = False
    skip_if_empty: bool = True


class DryRun(Strict):
    source: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*/[a-z][a-z0-9_]*$",
                                 max_length=130)]
    limit: JInt = Field(default=20, ge=1, le=1000)
    record: Label | None = None


class Replay(Strict):
    mode: Literal["timeline", "reprocess", "apply", "emit"] = "reprocess"


class ReviewAction(Strict):
    by: Label | None = Field(default=None, description="who acts (default: the token's name)")
    note: Text | None = None


class Process(Strict):
    budget_s: float = Field(default=55.0, gt=0, le=300)
    job_batch: JInt = Field(default=10, ge=1, le=1000)


# -- query strings ----------------------------------------------------------------------------

class SourceQuery(Query):
    source: Source | None = None


class WhyMissingQuery(Query):
    type: Word | None = None
    source: Source | None = None
    limit: Annotated[int, BeforeValidator(_whole_number)] = q_limit(100)
    offset: Annotated[int, BeforeValidator(_whole_number)] = Field(default=0, ge=0,
                                                                    le=10_000_000)


class AnomaliesQuery(Query):
    source: Source | None = None
    all: QBool = False
    limit: Annotated[int, BeforeValidator(_whole_number)] = q_limit(200)


class AlertsQuery(Query):
    status: Literal["pending", "delivered", "dead"] | None = None
    limit: Annotated[int, BeforeValidator(_whole_number)] = q_limit(50)


class LogQuery(Query):
    source: Source | None = None
    record: Plain | None = None
    staged: Annotated[int, Field(ge=1, le=INT64_MAX),
                      BeforeValidator(_whole_number)] | None = None
    entity: QUuid | None = None
    action: LogAction | None = None
    since: QTime | None = None
    until: QTime | None = None
    after: QInt64 = Field(default=0, description="page on: the last log_seq you have")
    limit: Annotated[int, BeforeValidator(_whole_number)] = q_limit(100)


class ReviewQuery(Query):
    source: Source | None = None
    limit: Annotated[int, BeforeValidator(_whole_number)] = q_limit(200)


class FeedQuery(Query):
    source: Source | None = None
    action: LogAction | None = None
    record: Plain | None = Field(default=None, description="only rows of this source record "
                                 "id (with source=SYSTEM/TABLE, one record)")
    after: QInt64 | None = Field(default=None, description="resume after this log_seq")
    ticket: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{16,128}$")] | None = Field(
        default=None, description="a single-use ticket from POST …/feed/tickets")


# -- path parameters --------------------------------------------------------------------------

class SourcePath(Query):
    system: Name
    table: Name


class RecordPath(Query):
    system: Name
    table: Name
    record_id: Plain


class EntityPath(Query):
    # the four of read.ENTITY_TYPES (a Literal must be spelt out for the type checker)
    entity_type: Literal["person", "place", "cat", "request"]
    entity_id: QUuid


class ExplainPath(Query):
    # listener.admin.explain.TYPES
    entity_type: Literal["person", "place", "cat"]
    a: QUuid


class ExplainPairPath(ExplainPath):
    b: QUuid


class AlertPath(Query):
    alert_id: QUuid


class ReviewPath(Query):
    decision_id: Annotated[int, Field(ge=1, le=INT64_MAX), BeforeValidator(_whole_number)]


class ReviewActionPath(ReviewPath):
    action: Literal["merge", "keep-separate", "defer"]
