"""JSON and NDJSON exports into rows.

A JSON export is an array of records, or an object holding one array (ShelterLuv's
``{"animals": [...]}``, Airtable's ``{"records": [{"id": "rec…", "fields": {…}}]}``, which
is unwrapped: payload = fields, record id = ``rec…``). Its elements are parsed one by one, so
one element nested too deep, or holding a NUL, a lone surrogate or a number JSONB cannot
store, is rejected and the other elements go in. A syntax error anywhere refuses the file,
naming the line, column and byte: a broken JSON document has no trustworthy element
boundaries after the error. NDJSON is one record per line; a bad line is rejected alone.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from listener.ingest.rows import (
    UNDECODABLE,
    FileRefused,
    ReadLimits,
    Row,
    surrogate_reason,
    tidy_record,
)
from listener.ingest.text import Decoded

JSON_NUL_REASON = "contains a NUL character (\\u0000), which JSONB cannot hold"
# Python refuses to print an integer of more than 4,300 digits; no export has one.
_MAX_INT_DIGITS = 4000
_MAX_KEYS_SHOWN = 8


class _Unstorable(str):
    """A JSON number JSONB and the row hash cannot carry (NaN, Infinity, 1e999, an integer
    of thousands of digits), kept as its text so that its element can be rejected."""


class _DuplicateKeys(dict[str, Any]):
    """An object in which a key appears twice: its second value would hide the first."""

    duplicate = ""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    marked = _DuplicateKeys(obj)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            marked.duplicate = key
            break
        seen.add(key)
    return marked


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), "a number")


def _parse_int(text: str) -> int | str:
    return _Unstorable(text) if len(text) > _MAX_INT_DIGITS else int(text)


def _parse_float(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else _Unstorable(text)


# strict=False: control characters inside strings are taken as they are (exports with raw
# tabs and newlines in notes); a NUL among them is rejected below.
_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_int=_parse_int,
                            parse_float=_parse_float, parse_constant=_Unstorable, strict=False)
_WS = re.compile(r"[ \t\n\r]*")
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_CLOSER = {"[": "]", "{": "}"}

Problem = tuple[str, str]


def _string_problem(text: str) -> Problem | None:
    if "\x00" in text:
        return "nul_character", JSON_NUL_REASON
    reason = surrogate_reason(text)
    return ("lone_surrogate", reason) if reason else None


def _problem(value: Any, max_depth: int) -> Problem | None:
    """Why a parsed record cannot be staged, if it cannot (walked without recursion, so any
    depth is safe)."""
    too_deep = ("too_deep", f"nested more than {max_depth} levels deep (the readers' "
                            "max_json_depth); flatten the record")
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > max_depth:
                return too_deep
            if isinstance(item, _DuplicateKeys):
                return "malformed", (f"the key {item.duplicate!r} appears twice in one object; "
                                     "the second value would hide the first")
            for key, sub in item.items():
                problem = _string_problem(key)
                if problem:
                    return problem
                stack.append((sub, depth + 1))
        elif isinstance(item, list):
            if depth > max_depth:
                return too_deep
            stack.extend((sub, depth + 1) for sub in item)
        elif isinstance(item, _Unstorable):
            return "malformed", (f"the number {item[:20]!s} cannot be stored as JSON in "
                                 "PostgreSQL (NaN, Infinity, or thousands of digits)")
        elif isinstance(item, str):
            problem = _string_problem(item)
            if problem:
                return problem
    return None


def _record_row(number: int, raw: bytes, value: Any, limits: ReadLimits) -> Row:
    """The row of one parsed record: its payload, or why it is rejected."""
    row = Row(number, raw)
    problem = _problem(value, limits.max_json_depth)
    if problem is None and not isinstance(value, dict):
        problem = "not_an_object", f"expected a JSON object, found {_json_type(value)}"
    if problem is not None:
        row.reject_code, row.reject_reason = problem
        return row
    # Airtable's API wraps each record: {"id": "rec…", "createdTime": …, "fields": {…}}.
    record = value["fields"] if (isinstance(value.get("fields"), dict)
                                 and isinstance(value.get("id"), str)) else value
    if record is not value:
        row.record_id = value["id"]
    # what tidy_value changes is non-ASCII, an escape (a control character in a string is
    # one), or an apostrophe in front of a number: a record written without any of them
    # (most) is not walked. (Whitespace between the document's tokens is its layout.)
    row.payload = (tidy_record(record) if not raw.isascii() or b"\\" in raw or b"'" in raw
                   else record)
    return row


@dataclass
class _Element:
    """One value of the document: where it lies, and its value or why it has none."""

    start: int
    end: int
    value: Any = None
    problem: Problem | None = None


def _too_deep_unparsed(limits: ReadLimits) -> Problem:
    return "too_deep", (f"nested more than {limits.max_json_depth} levels deep (deeper than "
                        "the JSON parser goes); flatten the record")


class _Document:
    """A JSON text walked value by value, refusing with the line, column and byte."""

    def __init__(self, doc: Decoded, limits: ReadLimits) -> None:
        self.doc = doc
        self.text = doc.text
        self.limits = limits
        # for each top-level key holding an object, the keys of its arrays (records one level
        # deeper, as {"result": {"items": [...]}}, are named in the refusal)
        self.inner_arrays: dict[str, list[str]] = {}

    def refuse(self, pos: int, what: str) -> FileRefused:
        """A refusal naming the position ``pos`` of the text."""
        text = self.text
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        where = f"line {line}, column {column} (byte offset {self.doc.byte_offset(pos)})"
        if pos < len(text) and UNDECODABLE.match(text, pos):
            return FileRefused(
                f"not valid JSON at {where}: byte 0x{ord(text[pos]) - 0xDC00:02X} is not valid "
                f"{self.doc.encoding}; export as UTF-8 or pass --encoding")
        return FileRefused(f"not valid JSON at {where}: {what}")

    def ws(self, pos: int) -> int:
        match = _WS.match(self.text, pos)
        return match.end() if match else pos

    def value(self, pos: int) -> _Element:
        """The value that starts at ``pos``."""
        try:
            value, end = _DECODER.raw_decode(self.text, pos)
        except RecursionError:
            return _Element(pos, self.skip(pos), problem=_too_deep_unparsed(self.limits))
        except json.JSONDecodeError as exc:
            raise self.refuse(exc.pos, exc.msg + "; fix the file or export it again") from exc
        return _Element(pos, end, value)

    def skip(self, pos: int) -> int:
        """The end of the array or object at ``pos``, found by its brackets alone (for a value
        too deep to parse)."""
        expected: list[str] = []
        for match in _TOKENS.finditer(self.text, pos):
            token = match.group()
            if token in _CLOSER:
                expected.append(_CLOSER[token])
            elif token[0] != '"':
                if not expected or expected.pop() != token:
                    raise self.refuse(match.start(), f"a '{token}' that closes nothing")
                if not expected:
                    return match.end()
        raise self.refuse(pos, "the value that starts here never ends (a truncated file?)")

    def expect(self, pos: int, allowed: str, what: str) -> tuple[str, int]:
        """The punctuation at ``pos`` (after whitespace), which must be one of ``allowed``."""
        pos = self.ws(pos)
        found = self.text[pos:pos + 1]
        if not found or found not in allowed:
            raise self.refuse(pos, f"expected {what}")
        return found, self.ws(pos + 1)

    def array(self, pos: int) -> tuple[list[_Element], int]:
        """The elements of the array at ``pos`` and the position after it."""
        elements: list[_Element] = []
        pos = self.ws(pos + 1)
        if self.text.startswith("]", pos):
            return elements, pos + 1
        while True:
            element = self.value(pos)
            elements.append(element)
            found, pos = self.expect(element.end, ",]", "',' or ']' after an array element")
            if found == "]":
                return elements, pos

    def members(self, pos: int) -> tuple[list[tuple[str, list[_Element] | None]], int]:
        """The keys of the object at ``pos``, each with its elements when it holds an array,
        and the position after the object."""
        members: list[tuple[str, list[_Element] | None]] = []
        pos = self.ws(pos + 1)
        if self.text.startswith("}", pos):
            return members, pos + 1
        while True:
            if not self.text.startswith('"', pos):
                raise self.refuse(pos, "expected a key in double quotes")
            key = self.value(pos)
            _, pos = self.expect(key.end, ":", "':' after a key")
            if self.text.startswith("[", pos):
                elements, end = self.array(pos)
                members.append((str(key.value), elements))
            else:
                inner = self.value(pos)
                end = inner.end
                members.append((str(key.value), None))
                if isinstance(inner.value, dict):
                    self.inner_arrays[str(key.value)] = [
                        k for k, v in inner.value.items() if isinstance(v, list)]
            found, pos = self.expect(end, ",}", "',' or '}' after a value")
            if found == "}":
                return members, pos


def _keys_text(keys: list[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:_MAX_KEYS_SHOWN])
    return shown + (", …" if len(keys) > _MAX_KEYS_SHOWN else "")


def _records_of(members: list[tuple[str, list[_Element] | None]],
                records_key: str | None,
                inner_arrays: dict[str, list[str]] | None = None) -> list[_Element]:
    """The elements of the one array a top-level object holds, or of ``records_key``."""
    keys = [k for k, _ in members]
    if len(set(keys)) != len(keys):
        twice = next(k for k in keys if keys.count(k) > 1)
        raise FileRefused(f"the top-level JSON object has the key {twice!r} twice; export the "
                          "file again")
    if records_key is not None:
        for key, elements in members:
            if key == records_key:
                if elements is None:
                    raise FileRefused(f"the top-level JSON object's {key!r} is not an array of "
                                      f"records; its keys are {_keys_text(keys)}")
                return elements
        raise FileRefused(f"the top-level JSON object has no key {records_key!r}; its keys are "
                          f"{_keys_text(keys)}")
    arrays = [(k, e) for k, e in members if e is not None]
    if len(arrays) == 1:
        return arrays[0][1]
    deeper = [(k, a) for k, inner in (inner_arrays or {}).items() for a in inner]
    if not arrays and len(deeper) == 1:
        outer, inner = deeper[0]
        raise FileRefused(
            f"the records sit one level deeper, in {outer!r} → {inner!r}; save that array "
            f"alone (jq '.[{json.dumps(outer)}][{json.dumps(inner)}]' file.json > records.json) "
            "and ingest it")
    if not arrays:
        raise FileRefused(
            f"the top-level JSON object (keys {_keys_text(keys)}) holds no array of records; a "
            "JSON export must be an array of records or an object holding one (put a single "
            "record in [ ])")
    raise FileRefused(
        f"the top-level JSON object holds {len(arrays)} arrays "
        f"({_keys_text([k for k, _ in arrays])}); pass --records-key with the one that holds "
        "the records")


def read_json(doc: Decoded, limits: ReadLimits, records_key: str | None = None) -> list[Row]:
    """Elements of a JSON array (or of the array a top-level object holds)."""
    walk = _Document(doc, limits)
    text = doc.text
    pos = walk.ws(0)
    if pos == len(text):
        raise FileRefused("not valid JSON: the file is empty")
    members: list[tuple[str, list[_Element] | None]] | None = None
    if text[pos] == "[":
        elements, end = walk.array(pos)
    elif text[pos] == "{":
        members, end = walk.members(pos)
    else:
        value = walk.value(pos).value
        raise FileRefused(f"a JSON export must be an array of records or an object holding "
                          f"one; this file holds {_json_type(value)}")
    rest = walk.ws(end)
    if rest < len(text):
        raise walk.refuse(rest, "more data after the end of the JSON value; if the file holds "
                                "one record per line, pass --format ndjson")
    if members is not None:
        elements = _records_of(members, records_key, walk.inner_arrays)
    rows: list[Row] = []
    for number, element in enumerate(elements, start=1):
        raw = doc.raw(text[element.start:element.end])
        bad = UNDECODABLE.search(text, element.start, element.end)
        if bad is not None:
            rows.append(Row(number, raw, reject_code="undecodable", reject_reason=(
                f"byte 0x{ord(bad.group()) - 0xDC00:02X} is not valid {doc.encoding}; export "
                "as UTF-8 or pass --encoding")))
        elif element.problem is not None:
            rows.append(Row(number, raw, reject_code=element.problem[0],
                            reject_reason=element.problem[1]))
        else:
            rows.append(_record_row(number, raw, element.value, limits))
    return rows


def _line_row(doc: Decoded, number: int, line: str, limits: ReadLimits) -> Row:
    """The row of one NDJSON line."""
    raw = doc.raw(line)
    bad = doc.bad_byte(line)
    if bad is not None:
        return Row(number, raw, reject_code="undecodable", reject_reason=(
            f"byte 0x{bad[1]:02X} at byte {bad[0]} of the line is not valid {doc.encoding}; "
            "export as UTF-8 or pass --encoding"))
    # (a byte-order mark opening a line: NDJSON files joined with `cat`, each with its own)
    text = line.rstrip("\r").lstrip("\ufeff")
    start = _WS.match(text)
    pos = start.end() if start else 0
    try:
        value, end = _DECODER.raw_decode(text, pos)
    except RecursionError:
        return Row(number, raw, reject_code="too_deep",
                   reject_reason=_too_deep_unparsed(limits)[1])
    except json.JSONDecodeError as exc:
        return Row(number, raw, reject_code="malformed",
                   reject_reason=f"not JSON: {exc.msg} at column {exc.colno}")
    if text[end:].strip(" \t\r\n"):
        return Row(number, raw, reject_code="malformed",
                   reject_reason=f"more data after the JSON value at column {end + 1}")
    return _record_row(number, raw, value, limits)


def read_ndjson(doc: Decoded, limits: ReadLimits) -> list[Row]:
    """One JSON object per line; a bad line is rejected, the others go through. Blank lines
    are not rows; a file of nothing else is refused as empty, as an empty CSV or JSON file is
    (an export cut short reads as a failure, not as a source that sent no records)."""
    if not doc.text.replace("\ufeff", "").strip():
        raise FileRefused("not valid NDJSON: the file is empty")
    rows = [_line_row(doc, number, line, limits)
            for number, line in enumerate(doc.text.split("\n"), start=1)
            if line.strip()]
    # a last line without a line end that is no JSON: the file was cut off inside it (an
    # upload interrupted); ingest keys its reject so that the whole line corrects it
    last = rows[-1] if rows else None
    if (last is not None and last.reject_code == "malformed" and not doc.text.endswith("\n")
            and last.reject_reason and last.reject_reason.startswith("not JSON")):
        last.cut_off = True
        last.reject_reason += ("; the file ends inside this line: cut off? Ingest the whole "
                               "file again")
    return rows
