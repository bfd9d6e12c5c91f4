"""Named SQL queries, kept in ``.sql`` files beside the code that runs them.

Each file holds entries that start with a ``-- name: NAME`` line, in the style of
procrastinate's ``queries.sql``: reviewers read SQL as SQL, and Python calls it by name::

    QUERIES = sql.beside(__file__, "worker")      # worker.sql in this module's folder
    await conn.fetch(QUERIES["claim"], ...)
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@functools.cache
def _load(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    parts = _NAME.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} defined twice in {path.name}")
        queries[name] = body.strip()
    return queries


@dataclass(frozen=True)
class NamedQueries:
    """The named queries of one ``.sql`` file, read once on first use."""

    path: Path

    def __getitem__(self, name: str) -> str:
        """One named query; a missing name is a programming error."""
        try:
            return _load(self.path)[name]
        except KeyError:
            raise KeyError(f"no query {name!r} in {self.path}") from None

    def names(self) -> list[str]:
        """Every query's name, in file order."""
        return list(_load(self.path))


def beside(module_file: str, group: str) -> NamedQueries:
    """The queries of ``<group>.sql`` in the folder of ``module_file`` (a module's
    ``__file__``)."""
    return NamedQueries(Path(module_file).resolve().parent / f"{group}.sql")
