"""The installer: per layer, numbered migrations applied once and definitions re-applied when
they change, in the order the layer's ``order.txt`` gives (docs/operations.md, "Installing and
uninstalling").

A layer is ``sql/<layer>/``: numbered migrations ``NNN_name.sql`` hold tables, columns,
indexes, constraints and data, and run once; the files under ``functions/``, ``views/`` and
``triggers/`` hold every function, view and trigger, one file per concept, written to be run
again (``CREATE OR REPLACE``), and run again whenever their text changes. The engines
(``core``) record themselves in ``trapper.core_migrations``; the orchestrator's layers record
themselves, and every object they create, in ``trapper.orchestrator_*`` tables, which is what
lets ``uninstall`` drop exactly the orchestrator and nothing else.
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

from listener.core import sql
from listener.core.errors import MigrationError, UsageError

_SQL = sql.beside(__file__, "install")

CORE = "core"
ORCHESTRATOR = "orchestrator"
TRIGGERS = "triggers_shadow"
LAYERS = (CORE, ORCHESTRATOR, TRIGGERS)
ORCHESTRATOR_LAYERS = (ORCHESTRATOR, TRIGGERS)

NUMBERED = "numbered"
DEFINITION = "definition"
DEFINITION_FOLDERS = ("functions", "views", "triggers")
ORDER_FILE = "order.txt"
SUPERSEDED_FILE = "superseded.toml"

# Migration states. A numbered migration is applied, pending, rewritten (recorded under an
# earlier text its layer's superseded.toml lists, the file being the text that replaced it),
# edited or missing-file; a definition file is applied, pending, to re-apply (its text
# changed since) or missing-file.
APPLIED = "applied"
PENDING = "pending"
REWRITTEN = "rewritten"
EDITED = "edited"
TO_REAPPLY = "to re-apply"
MISSING_FILE = "missing-file"

# One key for every atlas-orch installer, so two installs at once take turns.
INSTALL_LOCK_KEY = 0x41544C41534F5243  # "ATLASORC"

_NUMBERED_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_DEFINITION_NAME = re.compile(rf"^({'|'.join(DEFINITION_FOLDERS)})/[a-z0-9_]+\.sql$")
_VIEW = re.compile(
    r"^\s*CREATE\s+OR\s+REPLACE\s+VIEW\s+([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\b",
    re.IGNORECASE | re.MULTILINE,
)


def sql_root() -> Path:
    """Where the migration files are: ``ATLAS_ORCH_SQL_DIR`` when set, else the copy an
    installed wheel carries (``listener/sql``), else the checkout's ``sql/``."""
    override = os.environ.get("ATLAS_ORCH_SQL_DIR", "").strip()
    if override:
        return Path(override)
    package = Path(__file__).resolve().parent.parent        # listener/
    packaged = package / "sql"
    return packaged if (packaged / CORE).is_dir() else package.parent / "sql"


def _kind_of(name: str) -> str:
    """Numbered migrations sit in the layer folder; definitions in its subfolders."""
    return DEFINITION if "/" in name else NUMBERED


@dataclass(frozen=True)
class Migration:
    """One SQL file of one layer: a numbered migration or a definition file."""

    layer: str
    name: str  # "002_queue.sql" or "functions/queue.sql"
    sql: str

    @property
    def kind(self) -> str:
        return _kind_of(self.name)

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.layer}/{self.name}"

    @property
    def views(self) -> tuple[str, ...]:
        """The views a definition file makes (``schema.name``), in file order."""
        if self.kind != DEFINITION:
            return ()
        return tuple(dict.fromkeys(v.lower() for v in _VIEW.findall(self.sql)))


@dataclass(frozen=True)
class Status:
    """A file as the database sees it (see the states above)."""

    layer: str
    name: str
    state: str
    applied_at: str | None = None

    @property
    def kind(self) -> str:
        return _kind_of(self.name)

    @property
    def label(self) -> str:
        return f"{self.layer}/{self.name}"


def load_layer(layer: str, root: Path | None = None) -> list[Migration]:
    """The layer's files in the order its order.txt gives; a badly named file, or one the
    order leaves out, is refused rather than skipped."""
    folder = (root or sql_root()) / layer
    if not folder.is_dir():
        raise MigrationError(f"migration folder {folder} does not exist")
    on_disk = _files_on_disk(folder, layer)
    order = _read_order(folder)
    _check_order(folder, order, on_disk)
    return [Migration(layer, name, on_disk[name].read_text(encoding="utf-8")) for name in order]


def _files_on_disk(folder: Path, layer: str) -> dict[str, Path]:
    """Every .sql file of the layer by its name relative to the layer folder."""
    files: dict[str, Path] = {}
    numbers: set[str] = set()
    for path in sorted(folder.rglob("*.sql")):
        name = path.relative_to(folder).as_posix()
        if _kind_of(name) == NUMBERED:
            match = _NUMBERED_NAME.match(name)
            if not match:
                raise MigrationError(
                    f"{path}: migration files are named NNN_lowercase_words.sql"
                )
            if match.group(1) in numbers:
                raise MigrationError(f"{path}: number {match.group(1)} is used twice in {layer}")
            numbers.add(match.group(1))
        elif not _DEFINITION_NAME.match(name):
            folders = ", ".join(f"{d}/" for d in DEFINITION_FOLDERS)
            raise MigrationError(
                f"{path}: definition files are lowercase_words.sql in {folders}"
            )
        files[name] = path
    return files


def _read_order(folder: Path) -> list[str]:
    """The names order.txt lists, blank lines and # comments left out."""
    path = folder / ORDER_FILE
    if not path.is_file():
        raise MigrationError(
            f"{path} is missing: it lists the layer's files in the order they are applied"
        )
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _check_order(folder: Path, order: list[str], on_disk: dict[str, Path]) -> None:
    """order.txt names every file once, nothing else, and numbered files in number order."""
    where = folder / ORDER_FILE
    seen: set[str] = set()
    for name in order:
        if name in seen:
            raise MigrationError(f"{where} lists {name} twice")
        if name not in on_disk:
            raise MigrationError(f"{where} lists {name}, which is not in {folder}")
        seen.add(name)
    unlisted = sorted(set(on_disk) - seen)
    if unlisted:
        raise MigrationError(
            f"{folder}: {', '.join(unlisted)} not in {ORDER_FILE}; add each where it must run"
        )
    numbered = [name for name in order if _kind_of(name) == NUMBERED]
    if numbered != sorted(numbered):
        raise MigrationError(f"{where} lists numbered migrations out of their number order")


@dataclass(frozen=True)
class Rewrite:
    """A numbered migration rewritten in place: the checksums of its earlier texts, and of
    the text that replaced them."""

    earlier: frozenset[str]
    current: str


_SHA256 = re.compile(r"[0-9a-f]{64}")


def superseded(layer: str, root: Path | None = None) -> dict[str, Rewrite]:
    """The layer's rewritten numbered migrations (its superseded.toml; none when absent)."""
    path = (root or sql_root()) / layer / SUPERSEDED_FILE
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    result: dict[str, Rewrite] = {}
    for name, entry in data.items():
        earlier = entry.get("earlier") if isinstance(entry, dict) else None
        current = entry.get("current") if isinstance(entry, dict) else None
        if (_kind_of(name) != NUMBERED or not isinstance(earlier, list)
                or not all(isinstance(c, str) and _SHA256.fullmatch(c) for c in earlier)
                or not isinstance(current, str) or not _SHA256.fullmatch(current)):
            raise MigrationError(
                f"{path}: [{name!r}] must name a numbered migration and give its earlier "
                "SHA-256 checksums (earlier = [...]) and its current one (current = \"...\")"
            )
        result[name] = Rewrite(frozenset(earlier), current)
    return result


def layers_for(mode: str) -> tuple[str, ...]:
    """Which layers an install mode applies."""
    return {
        "with-core": LAYERS,
        "core-only": (CORE,),
        "shadow": ORCHESTRATOR_LAYERS,
    }[mode]


async def installed_mode(conn: asyncpg.Connection) -> str | None:
    """The mode installed here, which an install given no mode keeps: ``with-core`` where
    atlas-orch installed the engines (their record, ``trapper.core_migrations``, exists),
    ``shadow`` where only the orchestrator's record does (it was laid onto a host's own
    engines), ``None`` on a database where atlas-orch installed nothing."""
    q = _SQL
    if await conn.fetchval(q["core_record_exists"]):
        return "with-core"
    if await conn.fetchval(q["orchestrator_record_exists"]):
        return "shadow"
    return None


def print_sql(mode: str) -> str:
    """All SQL an install mode would run on an empty database, in order, with no
    connection needed."""
    out: list[str] = []
    for layer in layers_for(mode):
        for m in load_layer(layer):
            out.append(f"-- ===== {m.label} (sha256 {m.checksum[:16]}) =====\n{m.sql.rstrip()}\n")
    return "\n".join(out)


async def _applied(conn: asyncpg.Connection) -> dict[tuple[str, str], asyncpg.Record]:
    q = _SQL
    rows: list[asyncpg.Record] = []
    if await conn.fetchval(q["core_record_exists"]):
        rows += await conn.fetch(q["applied_core"])
    if await conn.fetchval(q["orchestrator_record_exists"]):
        rows += await conn.fetch(q["applied_orchestrator"])
    return {(r["layer"], r["name"]): r for r in rows}


def _state(m: Migration, recorded: str | None, rewrite: Rewrite | None) -> str:
    """A file's state from the checksum the database recorded for it (None: never)."""
    if recorded is None:
        return PENDING
    if recorded == m.checksum:
        return APPLIED
    if m.kind == DEFINITION:
        return TO_REAPPLY
    if rewrite and recorded in rewrite.earlier and m.checksum == rewrite.current:
        return REWRITTEN
    return EDITED


async def status(conn: asyncpg.Connection, layers: Sequence[str] = LAYERS) -> list[Status]:
    """Every file of ``layers`` with its state, plus recorded ones whose file is gone."""
    applied = await _applied(conn)
    result: list[Status] = []
    for layer in layers:
        files = load_layer(layer)
        rewrites = superseded(layer)
        names = {m.name for m in files}
        for m in files:
            rec = applied.get((layer, m.name))
            if rec is None:
                result.append(Status(layer, m.name, PENDING))
                continue
            state = _state(m, rec["checksum"], rewrites.get(m.name))
            result.append(Status(layer, m.name, state, rec["applied_at"].isoformat()))
        for (rec_layer, name), rec in sorted(applied.items()):
            if rec_layer == layer and name not in names:
                result.append(Status(layer, name, MISSING_FILE, rec["applied_at"].isoformat()))
    return result


async def behind(conn: asyncpg.Connection) -> list[str]:
    """The files of the mode installed here that this release would apply (pending, to
    re-apply, rewritten): a database an earlier release installed and no ``install`` has
    brought up to this one yet. Empty where nothing of the orchestrator is installed (the
    commands' own errors say to install) and where the database is this release's."""
    if not await conn.fetchval(_SQL["orchestrator_record_exists"]):
        return []
    mode = await installed_mode(conn)
    states = await status(conn, layers_for(mode or "shadow"))
    return [s.label for s in states if s.state in (PENDING, TO_REAPPLY, REWRITTEN)]


def _requirements(root: Path | None = None) -> dict[str, dict[str, list[str]]]:
    path = (root or sql_root()) / ORCHESTRATOR / "requires.toml"
    with path.open("rb") as fh:
        data: dict[str, dict[str, list[str]]] = tomllib.load(fh)
    return data


async def missing_requirements(conn: asyncpg.Connection) -> list[str]:
    """What the orchestrator reads from the host and cannot find, one line each."""
    q = _SQL
    req = _requirements()
    missing: list[str] = []
    types = req.get("types", {})
    for table, columns in req.get("tables", {}).items():
        present = {r["attname"]: r["type"]
                   for r in await conn.fetch(q["relation_columns"], table)}
        if not present:
            missing.append(f"table {table}")
            continue
        for c in columns:
            if c not in present:
                missing.append(f"column {table}.{c}")
            elif present[c] not in types.get(f"{table}.{c}", [present[c]]):
                # an id read as another type: installs, then fails at the first event
                wanted = " or ".join(types[f"{table}.{c}"])
                missing.append(f"column {table}.{c} of type {wanted} (it is {present[c]})")
    for table in req.get("shadowed", {}):
        kind = await conn.fetchval(q["relation_kind"], table)
        if kind not in (None, "table"):   # None: named missing above
            missing.append(f"table {table} (it is a {kind}; the shadow triggers need a table)")
    for function in req.get("functions", {}):
        schema, _, name = function.partition(".")
        if not await conn.fetchval(q["function_exists"], schema, name):
            missing.append(f"function {function}()")
    return missing


async def _catalog(conn: asyncpg.Connection) -> dict[tuple[str, str], asyncpg.Record]:
    rows = await conn.fetch(_SQL["catalog_objects"])
    return {(r["object_type"], r["object_identity"]): r for r in rows}


def _record_query(layer: str, action: str) -> str:
    """The engines' record or the orchestrator's, for one action on it."""
    return _SQL[f"{action}_{'core' if layer == CORE else 'orchestrator'}"]


def _name_args(layer: str, name: str) -> tuple[str, ...]:
    """A file's key in its record: the engines' has no layer column."""
    return (name,) if layer == CORE else (layer, name)


def _record_args(m: Migration) -> tuple[str, ...]:
    return (*_name_args(m.layer, m.name), m.checksum)


def _has_statements(sql: str) -> bool:
    """False for a file of comments alone (a numbered migration whose definitions all moved
    out), which asyncpg cannot send: PostgreSQL answers it with no command tag."""
    return any(line.strip() and not line.strip().startswith("--") for line in sql.splitlines())


async def _execute(conn: asyncpg.Connection, m: Migration) -> None:
    """Run one file's SQL; a failure names the file."""
    if not _has_statements(m.sql):
        return
    try:
        await conn.execute(m.sql)
    except asyncpg.PostgresError as exc:
        raise _failed(m, exc) from exc


def _failed(m: Migration, exc: asyncpg.PostgresError) -> MigrationError:
    """A file's failure with PostgreSQL's detail and hint (a function whose result type
    changed: "Use DROP FUNCTION … first", which docs/operations.md "Where a change goes"
    explains)."""
    message = exc.args[0] if exc.args else str(exc)  # str() adds DETAIL and HINT lines
    extra = "".join(f" ({part})" for part in (getattr(exc, "detail", None),
                                               getattr(exc, "hint", None)) if part)
    if isinstance(exc, asyncpg.InsufficientPrivilegeError):
        extra += f" ({_privilege_advice()})"
    return MigrationError(f"migration {m.label} failed: {message}{extra}")


@dataclass
class _Walk:
    """One install: the files of the layers it applies, in order, what state each is in
    (updated as they run), and the objects the orchestrator owns."""

    plan: dict[str, list[Migration]]
    state: dict[tuple[str, str], str]
    own: set[tuple[str, str]]
    progress: bool

    def comes_after(self, f: Migration, m: Migration) -> bool:
        """Whether ``f``'s layer is ``m``'s or one this install applies after it."""
        layers = list(self.plan)
        return layers.index(f.layer) >= layers.index(m.layer)


async def _execute_definitions(
    conn: asyncpg.Connection, walk: _Walk, m: Migration
) -> list[Migration]:
    """Run a definition file; returns the files run (it, and the files of views it made
    drop). ``CREATE OR REPLACE VIEW`` cannot drop, rename or retype a view's columns: then
    the views reading the file's views are dropped with them and made again from their
    files."""
    if not _has_statements(m.sql):
        return [m]
    try:
        async with conn.transaction():  # a savepoint, so that the fallback can follow
            await conn.execute(m.sql)
        return [m]
    except asyncpg.InvalidTableDefinitionError as exc:
        if not m.views:
            raise _failed(m, exc) from exc
    except asyncpg.PostgresError as exc:
        raise _failed(m, exc) from exc
    return await _remake_views(conn, walk, m)


async def _remake_views(conn: asyncpg.Connection, walk: _Walk, m: Migration) -> list[Migration]:
    """Drop ``m``'s views and every view that reads them, then make them again: the files
    of this layer at once, in order, in this transaction; those of a later layer of this
    install when the walk reaches them (their record goes now, so that a failure in
    between leaves them pending, not missing).

    A view defined by no file of this install, or by an earlier layer's (a host's report,
    the engines' views in shadow mode), is never dropped: it stops the install."""
    q = _SQL
    defined_by = {v: f for files in walk.plan.values() for f in files for v in f.views}
    readers = [r["view"] for r in await conn.fetch(q["dependent_views"], list(m.views))]
    foreign = [v for v in readers
               if v not in defined_by or not walk.comes_after(defined_by[v], m)]
    if foreign:
        raise MigrationError(
            f"{m.label} changes the columns of {', '.join(m.views)}, which "
            f"{', '.join(foreign)} read; atlas-orch would not make those again, so it does "
            "not drop them: drop them, install, then make them again"
        )
    reading = {defined_by[v] for v in readers}
    drop = await conn.fetchval(q["drop_views"], list(m.views) + readers)
    if drop:
        await conn.execute(drop)
    now = [m] + [f for f in walk.plan[m.layer] if f is not m and f in reading]
    for f in now:
        await _execute(conn, f)
    for f in reading - set(now):
        await conn.execute(_record_query(f.layer, "forget"), *_name_args(f.layer, f.name))
        walk.state[(f.layer, f.name)] = PENDING
    return now


async def _restore_trigger_states(conn: asyncpg.Connection, before: list[asyncpg.Record]) -> None:
    """Put back what ``CREATE OR REPLACE TRIGGER`` resets: a trigger disabled on purpose
    (the shadow layer's poll capture, docs/events.md "Events and the listener") stays disabled."""
    q = _SQL
    statements = await conn.fetch(
        q["restore_trigger_states"],
        [r["relid"] for r in before], [r["name"] for r in before], [r["enabled"] for r in before],
    )
    for row in statements:
        await conn.execute(row["stmt"])


async def _apply_one(conn: asyncpg.Connection, walk: _Walk, m: Migration) -> list[Migration]:
    """Apply one file and its record in one transaction; returns the files applied.

    Orchestrator layers also record every object they create, and are refused if they
    altered an object that is not already theirs (``walk.own``): the additive contract.
    """
    q = _SQL
    async with conn.transaction():
        before = await _catalog(conn) if m.layer != CORE else {}
        if m.kind == NUMBERED:
            await _execute(conn, m)
            applied = [m]
            await conn.execute(_record_query(m.layer, "record"), *_record_args(m))
        else:
            triggers = await conn.fetch(q["trigger_states"])
            applied = await _execute_definitions(conn, walk, m)
            await _restore_trigger_states(conn, triggers)
            for f in applied:
                await conn.execute(_record_query(f.layer, "record_definition"), *_record_args(f))
        if m.layer == CORE:
            return applied
        after = await _catalog(conn)
        altered = sorted(
            f"{kind} {ident}"
            for (kind, ident), rec in before.items()
            if (kind, ident) not in walk.own
            and (kind, ident) in after
            and after[(kind, ident)]["fingerprint"] != rec["fingerprint"]
        )
        if altered:
            raise MigrationError(
                f"migration {m.label} altered objects it does not own, which the additive "
                f"contract forbids: {', '.join(altered)}"
            )
        for key, rec in after.items():  # catalog order: oid order, i.e. creation order
            if key in before:
                continue
            await conn.execute(
                q["record_object"], m.layer, m.name,
                rec["object_type"], rec["object_identity"], rec["drop_sql"],
            )
            walk.own.add(key)
    return applied


async def install(
    conn: asyncpg.Connection, mode: str, *, progress: bool = True
) -> list[Migration]:
    """Bring the database to the files for ``mode``; returns the files applied now.

    Walks each layer's order once: a numbered migration runs if it never ran, a definition
    file if its text is new or changed; a numbered migration recorded under an earlier text
    its layer's superseded.toml lists is re-recorded. All of it is one transaction: a file
    that fails (a right the role lacks, a host object in the way) leaves the database as it
    was, and running the install again starts from the same place. Runs under a session
    advisory lock, so a second installer waits and then finds nothing to do. Refuses an
    edited numbered migration, in shadow mode a host that lacks what the orchestrator reads,
    a host object that takes a name the orchestrator reserves (``trapper.orchestrator_*``),
    and core-only where the orchestrator is installed (``UsageError``).
    """
    layers = layers_for(mode)
    await _wait_for_install_lock(conn)
    try:
        if mode == "core-only":
            await _refuse_core_only_under_orchestrator(conn)
        async with conn.transaction():
            return await _install_all(conn, layers, progress)
    except asyncpg.InsufficientPrivilegeError as exc:
        # outside a file: making the records, or reading the engines' record
        raise MigrationError(f"install failed: {_first_line(exc)} ({_privilege_advice()}"
                             f"{await _installer_named(conn)}); {UNCHANGED}") from exc
    except MigrationError as exc:
        # the files that ran before this one said "applying": say that they are undone
        named = (await _installer_named(conn)
                 if isinstance(exc.__cause__, asyncpg.InsufficientPrivilegeError) else "")
        raise MigrationError(f"{exc}{named}; {UNCHANGED}") from (exc.__cause__ or exc)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", INSTALL_LOCK_KEY)


async def _wait_for_install_lock(conn: asyncpg.Connection) -> None:
    """Take the installers' advisory lock, waiting as long as another install holds it.

    The host's lock_timeout and statement_timeout (ALTER DATABASE/ROLE ... SET) guard its
    tables; applied to this wait they stopped a second install after a second with
    "canceling statement due to lock timeout" where it was to wait and then find nothing to
    do. Both apply again to the install itself (its DDL on the engines' tables)."""
    saved = await conn.fetchrow("SELECT current_setting('lock_timeout') AS lock, "
                                "current_setting('statement_timeout') AS statement")
    assert saved is not None
    await conn.execute("SET lock_timeout = 0; SET statement_timeout = 0")
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", INSTALL_LOCK_KEY)
    finally:
        await conn.execute("SELECT set_config('lock_timeout', $1, false), "
                           "set_config('statement_timeout', $2, false)",
                           saved["lock"], saved["statement"])


async def _refuse_core_only_under_orchestrator(conn: asyncpg.Connection) -> None:
    """core-only where the orchestrator is installed would bring the engines to new files
    and leave the orchestrator on the old ones, which may read what the engines no longer
    have: a wrong command line (exit 2), refused before anything runs."""
    if await conn.fetchval(_SQL["orchestrator_record_exists"]):
        mode = await installed_mode(conn)
        raise UsageError(
            f"the orchestrator is installed here ({mode} mode): --core-only would upgrade "
            "the engines and leave the orchestrator behind; run `atlas-orch install` with "
            f"no mode option, which keeps the mode installed ({mode}); nothing was changed"
        )


async def _install_all(
    conn: asyncpg.Connection, layers: tuple[str, ...], progress: bool
) -> list[Migration]:
    """install's work, inside its transaction."""
    q = _SQL
    await _refuse_database_text(conn)
    if CORE in layers:
        await _refuse_foreign_engines(conn)
        if not await conn.fetchval(q["core_record_exists"]):
            await conn.execute(q["create_core_record"])
    else:
        missing = await missing_requirements(conn)
        if missing:
            raise MigrationError(
                "this database lacks what the orchestrator reads; install the engines "
                "first (or use --with-core). Missing: " + "; ".join(missing)
            )
    if any(layer in ORCHESTRATOR_LAYERS for layer in layers):
        taken = _reserved_names_taken(await _catalog(conn), await _recorded(conn))
        if taken:
            raise MigrationError(
                f"the host's {'; '.join(taken)} "
                f"{'takes a name' if len(taken) == 1 else 'take names'} the orchestrator "
                f"reserves ({RESERVED_SCHEMA}.orchestrator_*); rename or move "
                f"{'it' if len(taken) == 1 else 'them'}, then install again"
            )
        if not await conn.fetchval(q["orchestrator_records_exist"]):
            await conn.execute(q["create_orchestrator_record"])
    states = await status(conn, layers)
    bad = [s for s in states
           if s.state == EDITED or (s.state == MISSING_FILE and s.kind == NUMBERED)]
    if bad:
        raise MigrationError(_describe_bad(bad))
    walk = _Walk(
        plan={layer: load_layer(layer) for layer in layers},
        state={(s.layer, s.name): s.state for s in states},
        own={(r["object_type"], r["object_identity"]) for r in await _recorded(conn)},
        progress=progress,
    )
    done: list[Migration] = []
    for layer in layers:
        done += await _install_layer(conn, walk, layer)
    return done


UNCHANGED = "the install changed nothing"


async def _refuse_database_text(conn: asyncpg.Connection) -> None:
    """Refuse, before anything runs, a database whose text the engines cannot read as they
    are written to: an encoding other than UTF8 (SQL_ASCII stopped the install half-way with
    "conversion between UTF8 and SQL_ASCII is not supported", LATIN1 on the first '…', and
    names in other scripts could not be stored), or a default collation whose case mapping
    of ASCII letters is not the usual one (tr-TR's lower('I') is 'ı': addresses keyed
    otherwise, 15 more people of the small world, and uninstall's DROP FUNCTİON refused).
    Both are fixed when the database is made; no session setting changes them."""
    shape = await conn.fetchrow(_SQL["database_text"])
    assert shape is not None
    if shape["encoding"] != "UTF8":
        raise MigrationError(
            f"the database's encoding is {shape['encoding']}; atlas-orch needs UTF8 (names "
            "and addresses in any script): make the database with ENCODING 'UTF8' "
            "(createdb -E UTF8 -T template0 ...) and install there")
    if not shape["ascii_case"]:
        raise MigrationError(
            f"the database's default collation ({shape['ctype']}) does not map the letters "
            "A-Z to a-z as lower() and upper() usually do (Turkish locales map I to ı); "
            "make the database with another locale (createdb --locale=C.UTF-8 or "
            "--icu-locale=en-US -T template0 ...) and install there")

# The schema the orchestrator installs into; its objects there are all named orchestrator_*.
RESERVED_SCHEMA = "trapper"


def _reserved_names_taken(catalog: dict[tuple[str, str], asyncpg.Record],
                          recorded: list[asyncpg.Record]) -> list[str]:
    """The objects in the orchestrator's schema named like its own that its record does not
    list: a host's, or left over by hand. Any of them could be the name a migration is
    about to create (or a file's ``to_regclass`` probe would take it for the orchestrator's)."""
    known = {(r["object_type"], r["object_identity"]) for r in recorded}
    return [f"{kind} {ident}" for (kind, ident), rec in sorted(catalog.items())
            if (kind, ident) not in known and rec["object_schema"] == RESERVED_SCHEMA
            and _looks_orchestrator(ident)]


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


async def _installer_named(conn: asyncpg.Connection) -> str:
    """Who installed the orchestrator here, when it is not this session's role: the role
    (or a member of it) that install and uninstall are to run as."""
    q = _SQL
    if not await conn.fetchval(q["orchestrator_record_exists"]):
        return ""
    try:
        by = await conn.fetchval(q["installed_by"])
        me = await conn.fetchval("SELECT current_user")
    except asyncpg.InsufficientPrivilegeError:
        return ""
    return f"; the orchestrator here was installed by {by}" if by and by != me else ""


def _privilege_advice() -> str:
    return ("the installing role lacks a right: install as the role that owns the trapper "
            "schema and the engines' tables, or a member of it (on a new database, its owner); "
            "no superuser is needed; docs/operations.md, \"Roles and rights\"")


async def _install_layer(conn: asyncpg.Connection, walk: _Walk, layer: str) -> list[Migration]:
    """One layer's walk (see install)."""
    done: list[Migration] = []
    for m in walk.plan[layer]:
        current = walk.state[(layer, m.name)]
        if current == APPLIED:
            continue
        if current == REWRITTEN:
            _say(walk.progress, f"re-recording {m.label} (rewritten; nothing to run)")
            await conn.execute(_record_query(layer, "rerecord"), *_record_args(m))
            continue
        _say(walk.progress,
             f"{'re-applying' if current == TO_REAPPLY else 'applying'} {m.label}")
        for f in await _apply_one(conn, walk, m):
            walk.state[(layer, f.name)] = APPLIED
            done.append(f)
    gone = [name for (lay, name), s in walk.state.items()
            if lay == layer and s == MISSING_FILE and _kind_of(name) == DEFINITION]
    for name in gone:
        # a definition file renamed or merged into another: its objects are made by the
        # file that holds them now, so only its record goes
        _say(walk.progress, f"forgetting {layer}/{name} (its file is gone)")
        await conn.execute(_record_query(layer, "forget"), *_name_args(layer, name))
    return done


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"atlas-orch: {message}", file=sys.stderr)


async def _recorded(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    q = _SQL
    if not await conn.fetchval(q["orchestrator_record_exists"]):
        return []
    return list(await conn.fetch(q["recorded_objects"]))


async def _refuse_foreign_engines(conn: asyncpg.Connection) -> None:
    """The core layer must not be laid over engines that someone else installed."""
    q = _SQL
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
        if s.state == EDITED:
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
    q = _SQL
    await _wait_for_install_lock(conn)
    try:
        if not await conn.fetchval(q["orchestrator_record_exists"]):
            return []
        try:
            recorded = await _recorded(conn)
            async with conn.transaction():
                # Rows the orchestrator put into host tables (its router's processor
                # entries) go first, while the function that removes them still exists.
                if await conn.fetchval(
                    "SELECT to_regprocedure('trapper.orchestrator_before_uninstall()') "
                    "IS NOT NULL"
                ):
                    await conn.fetchval("SELECT trapper.orchestrator_before_uninstall()")
                dropped = await _drop_recorded(conn, recorded)
                await conn.execute("DROP TABLE trapper.orchestrator_objects")
                await conn.execute("DROP TABLE trapper.orchestrator_migrations")
        except asyncpg.InsufficientPrivilegeError as exc:
            raise MigrationError(
                f"uninstall failed: {_first_line(exc)} (uninstall as the role that installed "
                f"the orchestrator, or a member of it{await _installer_named(conn)}; nothing "
                "was dropped; docs/operations.md, \"Roles and rights\")"
            ) from exc
        return dropped
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", INSTALL_LOCK_KEY)


async def _drop_recorded(conn: asyncpg.Connection, recorded: list[asyncpg.Record]) -> list[str]:
    """Drop the recorded objects: triggers first (they sit on host tables), then newest
    first. A view re-made later can read an object recorded after it, so an object that
    one of ours still needs waits for the next pass; one that only a host object needs
    stops the whole uninstall (the caller's transaction rolls back)."""
    remaining = sorted(recorded, key=lambda r: (r["object_type"] != "trigger", -r["seq"]))
    dropped: list[str] = []
    while remaining:
        blocked: list[tuple[asyncpg.Record, asyncpg.PostgresError]] = []
        for rec in remaining:
            try:
                async with conn.transaction():
                    await conn.execute(rec["drop_sql"])
            except asyncpg.DependentObjectsStillExistError as exc:
                blocked.append((rec, exc))
                continue
            dropped.append(f"{rec['object_type']} {rec['object_identity']}")
        if len(blocked) == len(remaining):
            first, error = blocked[0]
            raise MigrationError(
                f"cannot drop {first['object_type']} {first['object_identity']}: other "
                f"objects depend on it ({getattr(error, 'detail', None) or error}); "
                "nothing was dropped"
            ) from error
        remaining = [rec for rec, _ in blocked]
    return dropped


async def verify(conn: asyncpg.Connection) -> list[str]:
    """Every difference between the database and the files; empty means they agree."""
    q = _SQL
    layers: list[str] = []
    if await conn.fetchval(q["core_record_exists"]):
        layers.append(CORE)
    has_orchestrator = await conn.fetchval(q["orchestrator_record_exists"])
    if has_orchestrator:
        layers += ORCHESTRATOR_LAYERS
    if not layers:
        return ["nothing is installed in this database"]
    problems = [
        f"{s.label}: {s.state}" for s in await status(conn, layers) if s.state != APPLIED
    ]
    if has_orchestrator:
        catalog = await _catalog(conn)
        recorded = await _recorded(conn)
        problems += [
            f"{r['object_type']} {r['object_identity']}: created by "
            f"{r['layer']}/{r['migration']} but no longer in the database"
            for r in recorded
            if (r["object_type"], r["object_identity"]) not in catalog
        ]
        problems += [
            f"{name}: named like the orchestrator's but not created by its migrations"
            for name in _reserved_names_taken(catalog, recorded)
        ]
    return problems


def _looks_orchestrator(identity: str) -> bool:
    # a function's identity qualifies its argument types ("...(pg_catalog.date)")
    name = identity.split(" on ")[0].split("(")[0].rsplit(".", 1)[-1]
    return name.startswith("orchestrator_") and name not in (
        "orchestrator_objects",
        "orchestrator_migrations",
    )
