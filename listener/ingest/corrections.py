"""Rejects corrected by a later file (sql/core/040, docs/ingest.md "Rejects corrected by a
later file").

Every reject is kept with a content key, what identifies the row it was: its record id where
one was known (``id:``), else its values without the id columns (``values:``, a row read but
with no id), else its bytes (``raw:``, a row the reader could not read). When a later run
carries a row with the same key correctly (staged, or staged already), the earlier reject is
marked corrected by that run, and why-missing stops saying the record is missing because it
was rejected.

A run reads the open keys of its source once, before it stages anything: with none open (the
usual case) checking a row costs one truth test, and the hashes are taken only for the kinds
of key that are open.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from listener.ingest.rows import Row

ID, VALUES, RAW, CUT = "id:", "values:", "raw:", "cut:"
# the shortest cut-off row whose bytes may correct a reject as a prefix of a later row's:
# a row cut after a byte or two would be "corrected" by any row that starts alike
MIN_CUT_PREFIX = 8


def id_key(record_id: str) -> str:
    """The key of a row known by its record id."""
    return ID + record_id


def raw_key(raw: bytes) -> str:
    """The key of a row known by its bytes alone (SHA-256, 128 bits, as core 040 derives it
    for the rejects kept before it: ``left(encode(sha256(raw), 'hex'), 32)``)."""
    return RAW + hashlib.sha256(raw).hexdigest()[:32]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    # a nested JSON value, as one text whatever its keys' order
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def values_key(payload: Mapping[str, Any], id_fields: Iterable[str]) -> str:
    """The key of a row known by its values: every non-empty value but those of the id
    columns, sorted, so that the row with its id filled in, or exported again under a renamed
    header, has the key of the row that was rejected for having none."""
    skip = set(id_fields)
    values = sorted(t for k, v in payload.items()
                    if k not in skip and v is not None and (t := _text(v)))
    text = "\x1f".join(values)
    return VALUES + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def reject_key(row: Row, record_id: str | None, id_fields: Iterable[str]) -> str:
    """The content key a reject is kept with. A row the file was cut off inside, that the
    reader could not read, is ``cut:`` and its bytes' hash: the whole row, in a later file,
    begins with those bytes (``Corrections.see``)."""
    if record_id:
        return id_key(record_id)
    if row.payload is not None:
        return values_key(row.payload, id_fields)
    if row.cut_off and len(row.raw) >= MIN_CUT_PREFIX:
        return CUT + raw_key(row.raw)[len(RAW):]
    return raw_key(row.raw)


@dataclass
class Corrections:
    """The open rejects of one source (their keys, read before the run stages anything) and,
    as the run's rows go by, the keys they carry correctly with the record id of each."""

    open_keys: frozenset[str]
    id_fields: tuple[str, ...]
    # the open ``cut:`` keys with the bytes their row had when the file was cut off
    cut_prefixes: tuple[tuple[str, bytes], ...] = ()
    found: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._values = any(k.startswith(VALUES) for k in self.open_keys)
        self._raw = any(k.startswith(RAW) for k in self.open_keys)

    def see(self, row: Row, record_id: str, payload: Mapping[str, Any]) -> None:
        """A row of this run that is staged (or was already): the open keys it matches."""
        if not self.open_keys:
            return
        keys = [id_key(record_id)]
        if self._values:
            keys.append(values_key(payload, self.id_fields))
        if self._raw:
            keys.append(raw_key(row.raw))
        for key in keys:
            if key in self.open_keys:
                self.found.setdefault(key, record_id)
        for key, prefix in self.cut_prefixes:
            if len(row.raw) > len(prefix) and row.raw.startswith(prefix):
                self.found.setdefault(key, record_id)
