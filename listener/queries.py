"""Named SQL queries kept in ``listener/queries/*.sql``.

Each file holds entries that start with a ``-- name: NAME`` line, in the style of
procrastinate's ``queries.sql``: reviewers read SQL as SQL, and Python calls it by name.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

_QUERY_DIR = Path(__file__).parent / "queries"
_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@functools.cache
def load(group: str) -> dict[str, str]:
    """Return the named queries of ``listener/queries/<group>.sql``."""
    text = (_QUERY_DIR / f"{group}.sql").read_text(encoding="utf-8")
    parts = _NAME.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} defined twice in {group}.sql")
        queries[name] = body.strip()
    return queries


def get(group: str, name: str) -> str:
    """Return one named query; a missing name is a programming error."""
    try:
        return load(group)[name]
    except KeyError:
        raise KeyError(f"no query {name!r} in listener/queries/{group}.sql") from None
