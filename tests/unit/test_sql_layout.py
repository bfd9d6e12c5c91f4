"""The SQL layout (docs/operations.md, "Installing and uninstalling"): one definition per
function, view
and trigger, in a definition file that can be run again; numbered migrations hold the rest;
each layer's order.txt names every file once. No server needed."""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from listener.core.errors import MigrationError
from listener.schema import migrations
from tests.conftest import run_cli

# Dollar-quoted bodies, quoted strings and comments, found left to right so that each hides
# what the others would mistake for a statement's end.
_OPAQUE = re.compile(r"\$([A-Za-z_]\w*|)\$.*?\$\1\$|'(?:[^']|'')*'|--[^\n]*", re.DOTALL)
_DEFINES = re.compile(
    r"^(CREATE(?:\s+OR\s+REPLACE)?)\s+(FUNCTION|PROCEDURE|VIEW|MATERIALIZED\s+VIEW|TRIGGER)"
    r"\s+([\w.]+)",
    re.IGNORECASE,
)


def _statements(sql: str) -> list[str]:
    """Top-level statements, bodies and comments left out (enough for our own files)."""
    bare = _OPAQUE.sub(lambda m: "" if m.group(0).startswith("--") else "''", sql)
    return [s.strip() for s in bare.split(";") if s.strip()]


def _all_files() -> list[migrations.Migration]:
    return [m for layer in migrations.LAYERS for m in migrations.load_layer(layer)]


def test_every_function_view_and_trigger_has_exactly_one_definition() -> None:
    where: dict[tuple[str, str], list[str]] = defaultdict(list)
    for m in _all_files():
        for statement in _statements(m.sql):
            if re.match(r"ALTER\s+(FUNCTION|PROCEDURE|VIEW|TRIGGER)\b", statement, re.I):
                where[("alter", statement.split()[2])].append(m.label)
            match = _DEFINES.match(statement)
            if match:
                kind = "view" if "VIEW" in match.group(2).upper() else match.group(2).lower()
                where[(kind, match.group(3).lower())].append(m.label)
    assert len(where) > 150, "the scan found too few definitions to be reading the files"
    assert not [k for k in where if k[0] == "alter"], "a definition's options belong in it"
    twice = {f"{kind} {name}": files for (kind, name), files in where.items() if len(files) > 1}
    assert not twice
    in_numbered = sorted(f"{files[0]}: {name}" for (_, name), files in where.items()
                         if "/" not in files[0].split("/", 1)[1])
    assert not in_numbered, "functions, views and triggers go in definition files"


def test_definition_files_only_define_and_can_be_run_again() -> None:
    for m in _all_files():
        if m.kind != migrations.DEFINITION:
            continue
        for statement in _statements(m.sql):
            match = _DEFINES.match(statement)
            assert match, f"{m.label}: only functions, views and triggers: {statement[:60]}"
            assert re.fullmatch(r"CREATE\s+OR\s+REPLACE", match.group(1), re.I), (
                f"{m.label}: {match.group(3)} must be CREATE OR REPLACE, to be run again")
            folder = m.name.split("/")[0]
            if folder == "views":
                assert "VIEW" in match.group(2).upper(), f"{m.label}: views/ holds views"
            if folder == "functions":
                assert match.group(2).upper() == "FUNCTION", f"{m.label}: functions/ only"


def test_the_installer_finds_the_views_of_each_definition_file() -> None:
    for m in _all_files():
        made = [s for s in _statements(m.sql) if re.match(r"CREATE\s+OR\s+REPLACE\s+VIEW", s, re.I)]
        assert len(m.views) == len(made), m.label


def test_superseded_pins_the_current_text_of_each_rewritten_migration() -> None:
    for layer in migrations.LAYERS:
        names = {m.name: m.checksum for m in migrations.load_layer(layer)}
        for name, rewrite in migrations.superseded(layer).items():
            assert name in names, f"{layer}/superseded.toml names {name}"
            assert names[name] == rewrite.current, (
                f"{layer}/{name} changed after it was rewritten: numbered migrations never "
                "change; add a new one")
            assert names[name] not in rewrite.earlier


def test_a_rewritten_migration_edited_again_is_edited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql_dir = _copy(tmp_path, monkeypatch)
    rewrite = migrations.superseded("core")["005_identity.sql"]
    (earlier,) = rewrite.earlier
    [m] = [m for m in migrations.load_layer("core") if m.name == "005_identity.sql"]
    assert migrations._state(m, earlier, rewrite) == migrations.REWRITTEN
    (sql_dir / "core" / "005_identity.sql").write_text(m.sql + "CREATE TABLE trapper.t (x int);\n")
    [m] = [m for m in migrations.load_layer("core") if m.name == "005_identity.sql"]
    assert migrations._state(m, earlier, rewrite) == migrations.EDITED


def test_print_sql_puts_definitions_before_the_data_that_needs_them() -> None:
    result = run_cli("install", "--with-core", "--print-sql",
                     env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.index("===== core/functions/processors.sql") < out.index(
        "===== core/007_processors.sql")
    assert out.index("===== triggers_shadow/functions/capture.sql") < out.index(
        "===== triggers_shadow/005_engine_poll_default.sql")


def _copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    sql_dir = tmp_path / "sql"
    shutil.copytree(migrations.sql_root(), sql_dir)
    monkeypatch.setenv("ATLAS_ORCH_SQL_DIR", str(sql_dir))
    return sql_dir


def test_a_file_order_txt_leaves_out_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql_dir = _copy(tmp_path, monkeypatch)
    (sql_dir / "core" / "views" / "extra.sql").write_text(
        "CREATE OR REPLACE VIEW trapper.v_extra AS SELECT 1 AS one;\n")
    with pytest.raises(MigrationError, match=r"views/extra\.sql not in order\.txt"):
        migrations.load_layer("core")


def test_order_txt_naming_a_missing_file_or_out_of_number_order_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql_dir = _copy(tmp_path, monkeypatch)
    order = sql_dir / "core" / "order.txt"
    text = order.read_text()
    order.write_text(text + "functions/nowhere.sql\n")
    with pytest.raises(MigrationError, match=r"lists functions/nowhere\.sql, which is not"):
        migrations.load_layer("core")
    order.write_text(text.replace("001_staging.sql\n", "").replace(
        "002_queue.sql\n", "002_queue.sql\n001_staging.sql\n"))
    with pytest.raises(MigrationError, match="out of their number order"):
        migrations.load_layer("core")


def test_a_badly_named_definition_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql_dir = _copy(tmp_path, monkeypatch)
    (sql_dir / "core" / "procedures").mkdir()
    (sql_dir / "core" / "procedures" / "x.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"\.sql in functions/, views/, triggers/"):
        migrations.load_layer("core")


def test_no_sql_file_makes_a_temp_table() -> None:
    """A production role may lack TEMP on the database (a hardening: REVOKE TEMP ... FROM
    PUBLIC; docs/operations.md, "Roles and rights"): the functions, views and triggers, which
    the worker, the listener and the API run as their own roles, make none (rekey_places
    keeps its keys in arrays), nor do the migrations the installing role runs (core 034
    had); tests/test_roles.py installs and runs them on such a host."""
    temp = re.compile(r"\bCREATE\s+(GLOBAL\s+|LOCAL\s+)?(TEMP|TEMPORARY)\b|\bINTO\s+TEMP",
                      re.IGNORECASE)
    found = [m.label for m in _all_files()
             if temp.search(_OPAQUE.sub(lambda x: x.group(0) if x.group(0).startswith("$")
                                         else "", m.sql))]
    assert not found
