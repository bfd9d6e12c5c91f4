"""The docs cannot drift: every repository path the README and docs/ name exists, every link
between them resolves, and every ATLAS_ORCH_* variable the code reads is documented. (No
PostgreSQL needed.)"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# the repository's own top-level names: a backticked path starting with one is checked
# (test-artifacts/ is what tests write, present only after they ran: not a path to check)
TOP = ({p.name for p in ROOT.iterdir() if not p.name.startswith(".")} | {".ci"}) \
    - {"test-artifacts"}
PLACEHOLDER = re.compile(r"[*…<>{}$~]|NNN|\bN\b")
CODE = re.compile(r"`([^`\s]+)`")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
VARIABLE = re.compile(r"ATLAS_ORCH_[A-Z0-9_]+")


def _named_paths(text: str) -> set[str]:
    found = set()
    for token in CODE.findall(text):
        token = token.rstrip(".,:;)")
        first = token.split("/")[0]
        if first in TOP and not PLACEHOLDER.search(token) and "://" not in token:
            found.add(token.split(":")[0].split("::")[0])
    return found


def test_every_path_the_docs_name_exists() -> None:
    missing = []
    for doc in DOCS:
        for path in sorted(_named_paths(doc.read_text(encoding="utf-8"))):
            if not (ROOT / path).exists():
                missing.append(f"{doc.relative_to(ROOT)}: {path}")
    assert not missing, "\n".join(missing)


def test_every_link_between_the_docs_resolves() -> None:
    broken = []
    for doc in DOCS:
        for target in LINK.findall(doc.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            if not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not broken, "\n".join(broken)


def test_every_variable_the_code_reads_is_documented() -> None:
    read = set()
    for folder in ("listener", "webhooks", "synthetic"):
        for source in (ROOT / folder).rglob("*.py"):
            read |= set(VARIABLE.findall(source.read_text(encoding="utf-8")))
    assert read, "the code reads ATLAS_ORCH_* variables; none found means this test is broken"
    documented = set()
    for doc in DOCS:
        documented |= set(VARIABLE.findall(doc.read_text(encoding="utf-8")))
    assert not read - documented, f"undocumented: {sorted(read - documented)}"
