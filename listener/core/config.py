"""Where settings come from: the environment, with documented defaults."""

from __future__ import annotations

import os
from pathlib import Path

DATABASE_URL_VARS = ("ATLAS_ORCH_DATABASE_URL", "DATABASE_URL")


def database_url_from_env() -> str | None:
    """The server named by ``ATLAS_ORCH_DATABASE_URL`` or, failing that, ``DATABASE_URL``."""
    for var in DATABASE_URL_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            return value
    return None


def data_home() -> Path:
    """The folder for the embedded server and other local state (``XDG_DATA_HOME`` aware)."""
    override = os.environ.get("ATLAS_ORCH_DATA_DIR", "").strip()
    if override:
        return Path(override)
    base = os.environ.get("XDG_DATA_HOME", "").strip()
    root = Path(base) if base else Path.home() / ".local" / "share"
    return root / "atlas-orchestrator"
