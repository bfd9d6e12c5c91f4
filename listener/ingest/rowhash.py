"""The one row-hash recipe every writer of ``staged_records`` uses.

Sorted keys, keys and string values trimmed, empty values (None, "", whitespace) dropped,
SHA-256 over compact JSON (first 128 bits), prefixed by the record's source id so that two
source records with identical fields stay two records. The real system had two recipes
that disagreed (one lowercased, one hashed raw JSON); a re-export of unchanged rows must
hash the same.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, Mapping):
        # the common case (a string) inline: this runs for every field of every row read
        out: dict[str, Any] = {}
        for k, v in value.items():
            if isinstance(v, str):
                v = v.strip()
                if v:
                    out[str(k).strip()] = v
            elif v is not None:
                out[str(k).strip()] = _clean(v)
        return out
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def canonical(payload: Mapping[str, Any]) -> str:
    """The canonical text the hash is taken over (exposed for tests and debugging)."""
    cleaned = _clean(payload)
    return json.dumps(cleaned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(payload: Mapping[str, Any], source_row_id: str | None = None) -> str:
    """SHA-256 of a staged row's content (and its source id), as 32 hex characters."""
    text = (source_row_id or "") + "\x1e" + canonical(payload)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
