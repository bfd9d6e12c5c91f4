"""Source record ids as ingest stores them: one rule for the ingest that makes them and for
the commands that look a record up by the id a person copies from the file."""

from __future__ import annotations

import re

_WHOLE_NUMBER = re.compile(r"([+-]?\d+)(?:\.0*)?")


def id_text(value: object) -> str:
    """A record id as text: a whole number is its digits however the export wrote it (2,
    2.0, "2.0", " 2 "), so one record is one id in every export; any other id is its
    text, trimmed (leading zeros and letters are the source's own). trapper.source_id is
    the same rule in SQL (tests/test_values.py keeps them equal)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    whole = _WHOLE_NUMBER.fullmatch(text)
    return whole[1].lstrip("+") if whole else text
