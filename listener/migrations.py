"""The installer: ordered SQL files per layer, each applied once, recorded with a checksum.

Layers live in ``sql/<layer>/NNN_name.sql``. The engines (``core``) record themselves in
``trapper.core_migrations``; the orchestrator's layers record themselves, and every object
they create, in ``trapper.orchestrator_*`` tables, which is what lets ``uninstall`` drop
exactly the orchestrator and nothing else.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from listener import queries
from listener.errors import MigrationError

CORE = "core"
ORCHESTRATOR = "orchestrator"
TRIGGERS = "triggers_shadow"
LAYERS = (CORE, ORCHESTRATOR, TRIGGERS)
ORCHESTRATOR_LAYERS = (ORCHESTRATOR, TRIGGERS)

# One key for every atlas-orch installer, so two installs at once take turns.
INSTALL_LOCK_KEY = 0x41544C41534F5243  # "ATLASORC"

_FILE_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def sql_root() -> Path:
    """Where the migration files are (``ATLAS_ORCH_SQL_DIR`` overrides, for packaging)."""
    override = os.environ.get("ATLAS_ORCH_SQL_DIR", "").strip()
    return Path(override) if override else Path(__file__).resolve().parent.parent / "sql"


@dataclass(frozen=True)
class Migration:
    """One SQL file of one layer."""

    layer: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.layer}/{self.name}"


@dataclass(frozen=True)
class Status:
    """A migration as the database sees it: applied, pending, edited, or unknown."""

    layer: str
    name: str
    state: str
    applied_at: str | None = None

    @property
    def label(self) -> str:
        return f"{self.layer}/{self.name}"


def load_layer(layer: str, root: Path | None = None) -> list[Migration]:
    """The layer's migrations in order; badly named files are refused, not skipped."""
    folder = (root or sql_root()) / layer
    if not folder.is_dir():
        raise MigrationError(f"migration folder {folder} does not exist")
    migrations: list[Migration] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(
                f"{path}: migration files are named NNN_lowercase_words.sql"
            )
        if match.group(1) in seen:
            raise MigrationError(f"{path}: number {match.group(1)} is used twice in {layer}")
        seen.add(match.group(1))
        migrations.append(Migration(layer, path.name, path.read_text(encoding="utf-8")))
    return migrations


def layers_for(mode: str) -> tuple[str, ...]:
    """Which layers an install mode applies."""
    return {
        "with-core": LAYERS,
        "core-only": (CORE,),
        "shadow": ORCHESTRATOR_LAYERS,
    }[mode]


def print_sql(mode: str) -> str:
    """All SQL an install mode would run, in order, with no connection needed."""
    out: list[str] = []
    for layer in layers_for(mode):
        for m in load_layer(layer):
            out.append(f"-- ===== {m.label} (sha256 {m.checksum[:16]}) =====\n{m.sql.rstrip()}\n")
    return "\n".join(out)


async def _applied(conn: asyncpg.Connection) -> dict[tuple[str, str], asyncpg.Record]:
    q = queries.load("install")
    rows: list[asyncpg.Record] = []
    if await conn.fetchval(q["core_record_exists"]):
        rows += await conn.fetch(q["applied_core"])
    if await conn.fetchval(q["orchestrator_record_exists"]):
        rows += await conn.fetch(q["applied_orchestrator"])
    return {(r["layer"], r["name"]): r for r in rows}


async def status(conn: asyncpg.Connection, layers: Sequence[str] = LAYERS) -> list[Status]:
    """Every migration of ``layers`` with its state, plus applied ones whose file is gone."""
    applied = await _applied(conn)
    result: list[Status] = []
    for layer in layers:
        files = load_layer(layer)
        names = {m.name for m in files}
        for m in files:
            rec = applied.get((layer, m.name))
            if rec is None:
                result.append(Status(layer, m.name, "pending"))
            else:
                state = "applied" if rec["checksum"] == m.checksum else "edited"
                result.append(Status(layer, m.name, state, rec["applied_at"].isoformat()))
        for (rec_layer, name), rec in sorted(applied.items()):
            if rec_layer == layer and name not in names:
                result.append(Status(layer, name, "missing-file", rec["applied_at"].isoformat()))
    return result


def _requirements(root: Path | None = None) -> dict[str, dict[str, list[str]]]:
    path = (root or sql_root()) / ORCHESTRATOR / "requires.toml"
    with path.open("rb") as fh:
        data: dict[str, dict[str, list[str]]] = tomllib.load(fh)
    return data


async def missing_requirements(conn: asyncpg.Connection) -> list[str]:
    """What the orchestrator reads from the host and cannot find, one line each."""
    q = queries.load("install")
    req = _requirements()
    missing: list[str] = []
    for table, columns in req.get("tables", {}).items():
        present = {r["attname"] for r in await conn.fetch(q["relation_columns"], table)}
        if not present:
            missing.append(f"table {table}")
            continue
        missing += [f"column {table}.{c}" for c in columns if c not in present]
    for function in req.get("functions", {}):
        schema, _, name = function.partition(".")
        if not await conn.fetchval(q["function_exists"], schema, name):
            missing.append(f"function {function}()")
    return missing


async def _catalog(conn: asyncpg.Connection) -> dict[tuple[str, str], asyncpg.Record]:
    rows = await conn.fetch(queries.get("install", "catalog_objects"))
    return {(r["object_type"], r["object_identity"]): r for r in rows}


async def _apply_one(
    conn: asyncpg.Connection, m: Migration, own: set[tuple[str, str]]
) -> None:
    """Apply one migration and its record in one transaction.

    Orchestrator layers also record every object they create, and are refused if they
    altered an object that is not already theirs (``own``): the additive contract.
    """
    q = queries.load("install")
    async with conn.transaction():
        before = await _catalog(conn) if m.layer != CORE else {}
        try:
            await conn.execute(m.sql)
        except asyncpg.PostgresError as exc:
            detail = f" ({exc.detail})" if getattr(exc, "detail", None) else ""
            raise MigrationError(f"migration {m.label} failed: {exc}{detail}") from exc
        if m.layer == CORE:
            await conn.execute(q["record_core"], m.name, m.checksum)
            return
        after = await _catalog(conn)
        altered = sorted(
            f"{kind} {ident}"
            for (kind, ident), rec in before.items()
            if (kind, ident) not in own
            and (kind, ident) in after
            and after[(kind, ident)]["fingerprint"] != rec["fingerprint"]
        )
        if altered:
            raise MigrationError(
                f"migration {m.label} altered objects it does not own, which the additive "
                f"contract forbids: {', '.join(altered)}"
            )
        await conn.execute(q["record_orchestrator"], m.layer, m.name, m.checksum)
        for key, rec in after.items():  # catalog order: oid order, i.e. creation order
            if key in before:
                continue
            await conn.execute(
                q["record_object"], m.layer, m.name,
                rec["object_type"], rec["object_identity"], rec["drop_sql"],
            )
            own.add(key)


async def install(
    conn: asyncpg.Connection, mode: str, *, progress: bool = True
) -> list[Migration]:
    """Apply what is pending for ``mode``; returns the migrations applied now.

    Runs under a session advisory lock, so a second installer waits and then finds nothing
    to do. Refuses an edited migration, and in shadow mode a host that lacks what the
    orchestrator reads.
    """
    q = queries.load("install")
    layers = layers_for(mode)
    await conn.execute("SELECT pg_advisory_lock($1)", INSTALL_LOCK_KEY)
    try:
        if CORE in layers:
            await _refuse_foreign_engines(conn)
            await conn.execute(q["create_core_record"])
        else:
            missing = await missing_requirements(conn)
            if missing:
                raise MigrationError(
                    "this database lacks what the orchestrator reads; install the engines "
                    "first (or use --with-core). Missing: " + "; ".join(missing)
                )
        if any(layer in ORCHESTRATOR_LAYERS for layer in layers):
            await conn.execute(q["create_orchestrator_record"])
        states = await status(conn, layers)
        bad = [s for s in states if s.state in ("edited", "missing-file")]
        if bad:
            raise MigrationError(_describe_bad(bad))
        pending = {(s.layer, s.name) for s in states if s.state == "pending"}
        done: list[Migration] = []
        own = {(r["object_type"], r["object_identity"]) for r in await _recorded(conn)}
        for layer in layers:
            for m in load_layer(layer):
                if (layer, m.name) not in pending:
                    continue
                if progress:
                    print(f"atlas-orch: applying {m.label}", file=sys.stderr)
                await _apply_one(conn, m, own)
                done.append(m)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", INSTALL_LOCK_KEY)


async def _recorded(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    q = queries.load("install")
    if not await conn.fetchval(q["orchestrator_record_exists"]):
        return []
    return list(await conn.fetch(q["recorded_objects"]))


async def _refuse_foreign_engines(conn: asyncpg.Connection) -> None:
    """The core layer must not be laid over engines that someone else installed."""
    q = queries.load("install")
    if await conn.fetchval(q["core_record_exists"]):
        return
    exists = await conn.fetchval("SELECT to_regclass('trapper.staged_records') IS NOT NULL")
    if exists:
        raise MigrationError(
            "this database already has the engines (trapper.staged_records exists) but they "
            "were not installed by atlas-orch; use `atlas-orch install` (shadow mode) instead"
        )


def _describe_bad(bad: list[Status]) -> str:
    lines = []
    for s in bad:
        if s.state == "edited":
            lines.append(
                f"{s.label} was edited after it was applied (at {s.applied_at}); "
                "applied migrations are never changed: restore the file and add a new one"
            )
        else:
            lines.append(f"{s.label} is recorded as applied but its file is gone")
    return "; ".join(lines)


async def uninstall(conn: asyncpg.Connection) -> list[str]:
    """Drop every object the orchestrator's migrations created, and its records; nothing
    else. One transaction: it either all goes or nothing does. Returns what was dropped."""
    q = queries.load("install")
    await conn.execute("SELECT pg_advisory_lock($1)", INSTALL_LOCK_KEY)
    try:
        if not await conn.fetchval(q["orchestrator_record_exists"]):
            return []
        recorded = await _recorded(conn)
        # Triggers first (they sit on host tables), then everything else newest first, so
        # an object always goes before what it was built on.
        ordered = sorted(
            recorded, key=lambda r: (r["object_type"] != "trigger", -r["seq"])
        )
        dropped: list[str] = []
        async with conn.transaction():
            # Rows the orchestrator put into host tables (its router's processor entries)
            # go first, while the function that removes them still exists.
            if await conn.fetchval(
                "SELECT to_regprocedure('trapper.orchestrator_before_uninstall()') IS NOT NULL"
            ):
                await conn.fetchval("SELECT trapper.orchestrator_before_uninstall()")
            for rec in ordered:
                try:
                    await conn.execute(rec["drop_sql"])
                except asyncpg.DependentObjectsStillExistError as exc:
                    raise MigrationError(
                        f"cannot drop {rec['object_type']} {rec['object_identity']}: other "
                        f"objects depend on it ({exc.detail or exc}); "
                        "nothing was dropped"
                    ) from exc
                dropped.append(f"{rec['object_type']} {rec['object_identity']}")
            await conn.execute("DROP TABLE trapper.orchestrator_objects")
            await conn.execute("DROP TABLE trapper.orchestrator_migrations")
        return dropped
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", INSTALL_LOCK_KEY)


async def verify(conn: asyncpg.Connection) -> list[str]:
    """Every difference between the database and the files; empty means they agree."""
    q = queries.load("install")
    layers: list[str] = []
    if await conn.fetchval(q["core_record_exists"]):
        layers.append(CORE)
    has_orchestrator = await conn.fetchval(q["orchestrator_record_exists"])
    if has_orchestrator:
        layers += ORCHESTRATOR_LAYERS
    if not layers:
        return ["nothing is installed in this database"]
    problems = [
        f"{s.label}: {s.state}" for s in await status(conn, layers) if s.state != "applied"
    ]
    if has_orchestrator:
        catalog = await _catalog(conn)
        recorded = await _recorded(conn)
        known = {(r["object_type"], r["object_identity"]) for r in recorded}
        problems += [
            f"{r['object_type']} {r['object_identity']}: created by "
            f"{r['layer']}/{r['migration']} but no longer in the database"
            for r in recorded
            if (r["object_type"], r["object_identity"]) not in catalog
        ]
        problems += [
            f"{kind} {ident}: named like the orchestrator's but not created by its migrations"
            for kind, ident in sorted(catalog)
            if (kind, ident) not in known and _looks_orchestrator(ident)
        ]
    return problems


def _looks_orchestrator(identity: str) -> bool:
    name = identity.split(" on ")[0].rsplit(".", 1)[-1]
    return name.startswith("orchestrator_") and name not in (
        "orchestrator_objects",
        "orchestrator_migrations",
    )
