"""Peak memory and time of reading workbooks: the atlas-scale ClinicHQ XLSX exports and
hostile sheets, each in its own child process: the whole ingest of the file into a fresh
database (``ingest_file``: the readers streaming, batches staged as they are read), today's
readers alone (``read_rows``: every row held at once), and the reader before issue 15
(python-calamine's whole sheet, ``to_python``), in the same run.

    .venv/bin/python bench/ingest_memory.py [--scale atlas] [--skip-baseline]

Each child's peak resident memory comes from os.wait4 (ru_maxrss) and includes the Python
interpreter; an idle child that only imports the readers is printed first as the floor. A
child whose memory or time runs out (address space capped at 4 GiB for the baseline, 120 s)
is reported as such. Goal: no file costs ingest more than 256 MB, and none aborts. (read_rows
keeps every row: ~1.2 kB each for ClinicHQ's appointment_info, so that column is the rows.)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# bench/queue.py would shadow the standard library's queue (asyncio imports it): this folder
# goes last on the path, as bench/_db.py does
sys.path = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]
sys.path.insert(0, str(_HERE.parent))
from tests.corpus import make_files as mk  # noqa: E402

CHILD_AS_LIMIT = 4 << 30
CHILD_SECONDS = 120
MB = 1 << 20


# --- the files ------------------------------------------------------------------------------

def _world(scale: str) -> Path:
    from _db import WORLD_CACHE, atlas_world

    from synthetic.generate import generate

    if scale == "atlas":
        return atlas_world()
    folder = WORLD_CACHE / f"{scale}-seed-1"
    if not (folder / "manifest.json").exists():
        generate(folder, scale=scale, seed=1)
    return folder


def _shared_strings_copy(src: Path, dst: Path) -> None:
    """``src`` with its inline strings moved into a shared-string table, as Excel (and
    ClinicHQ's real exports) write them."""
    import re

    with zipfile.ZipFile(src) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
        parts = {n: z.read(n) for n in z.namelist() if n != "xl/worksheets/sheet1.xml"}
    table: dict[str, int] = {}

    def shared(m: re.Match[str]) -> str:
        index = table.setdefault(m.group(2), len(table))
        return f'<c r="{m.group(1)}" t="s"><v>{index}</v></c>'

    xml = re.sub(r'<c r="([A-Z]+\d+)" t="inlineStr"><is><t xml:space="preserve">([^<]*)'
                 r"</t></is></c>", shared, xml)
    strings = "".join(f"<si><t>{s}</t></si>" for s in table)   # already escaped
    parts["xl/sharedStrings.xml"] = (f'<?xml version="1.0"?><sst xmlns="{mk.NS}" '
                                     f'uniqueCount="{len(table)}">{strings}</sst>').encode()
    rels = parts["xl/_rels/workbook.xml.rels"].decode().replace(
        "</Relationships>", f'<Relationship Id="rId9" Type="{mk.REL_NS}/sharedStrings" '
                            'Target="sharedStrings.xml"/></Relationships>')
    parts["xl/_rels/workbook.xml.rels"] = rels.encode()
    parts["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, data in parts.items():
            z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data,
                       compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)


def _wide_copy(src: Path, dst: Path) -> None:
    """``src`` with every column twice: ~60 columns, the width of ClinicHQ's real exports."""
    from listener.ingest.readers import read_rows
    from synthetic.xlsx import write_xlsx

    rows = read_rows(src.read_bytes(), "xlsx")
    header = list(rows[0].payload or {})
    wide = header + [f"{h} (2)" for h in header]
    write_xlsx(dst, wide, ([*v, *v] for v in
                           ([str(x) for x in (r.payload or {}).values()] for r in rows)))


def _bomb(dst: Path, inflated: int) -> None:
    """A workbook whose sheet inflates to ``inflated`` bytes (whitespace) from ~1 MB."""
    head = mk.xlsx([("Sheet1", mk.sheet(mk.rows_xml([mk.HEADER, *mk.DATA]) + "@PAD@"))])
    with zipfile.ZipFile(io.BytesIO(head)) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    before, after = parts.pop("xl/worksheets/sheet1.xml").split(b"@PAD@")
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in parts.items():
            z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data,
                       compress_type=zipfile.ZIP_DEFLATED)
        info = zipfile.ZipInfo("xl/worksheets/sheet1.xml", (1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as out:
            out.write(before)
            block = b" " * MB
            for _ in range(inflated // MB):
                out.write(block)
            out.write(after)


def files(scale: str) -> list[tuple[str, Path]]:
    """(label, path) of every workbook measured, built once into the world's folder."""
    world = _world(scale)
    out = world / "bench-ingest-memory"
    out.mkdir(exist_ok=True)
    chq = world / "clinichq"
    built: list[tuple[str, Path]] = [
        (f"{t}.xlsx ({scale})", chq / f"{t}.xlsx")
        for t in ("appointment_info", "cat_info", "owner_info")]
    hostile = {
        "far_cell_XFD1048576.xlsx": lambda p: p.write_bytes(
            (mk.OUT / "xlsx_far_cell_XFD1048576.xlsx").read_bytes()),
        "far_cell_CV400000.xlsx": lambda p: p.write_bytes(
            (mk.OUT / "xlsx_far_cell_CV400000.xlsx").read_bytes()),
        "header_A1_cell_BH300000.xlsx": lambda p: p.write_bytes(mk.xlsx([("Sheet1", mk.sheet(
            mk.rows_xml([[f"c{i}" for i in range(60)]])
            + '<row r="300000">' + mk.cell("BH300000", "x") + "</row>"))])),
        "styled_far_cells_dimension.xlsx": lambda p: p.write_bytes(
            (mk.OUT / "xlsx_styled_empty_far_cells.xlsx").read_bytes()),
        "zip_bomb_1.1GiB.xlsx": lambda p: _bomb(p, (1 << 30) + 100 * MB),
        "shared_string_1MiB_x_2000.xlsx": lambda p: p.write_bytes(mk.xlsx(
            [("Sheet1", mk.sheet('<row r="1">' + mk.cell("A1", "ID") + "</row>" + "".join(
                f'<row r="{r}">' + mk.cell(f"A{r}", "0", "s") + "</row>"
                for r in range(2, 2002))))], shared=["x" * MB])),
    }
    variants = {
        f"appointment_info_shared_strings ({scale}).xlsx":
            lambda p: _shared_strings_copy(chq / "appointment_info.xlsx", p),
        f"appointment_info_58_columns ({scale}).xlsx":
            lambda p: _wide_copy(chq / "appointment_info.xlsx", p),
    }
    for label, make in {**variants, **hostile}.items():
        path = out / label.replace(" ", "_").replace("(", "").replace(")", "")
        if not path.exists():
            print(f"building {path.name} ...", file=sys.stderr)
            make(path)
        built.append((label, path))
    return built


# --- the children ---------------------------------------------------------------------------

def _before_issue_15(data: bytes) -> list[tuple[bytes, dict[str, str]]]:
    """The spreadsheet reader before issue 15, as it was: calamine's whole sheet, then one
    payload per row (listener/readers.py at 830b9ae)."""
    import datetime as dt

    from python_calamine import CalamineWorkbook

    def cell(value: object) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() else repr(value)
        if isinstance(value, dt.datetime):
            return value.strftime("%m/%d/%Y" if value.time() == dt.time(0)
                                  else "%m/%d/%Y %H:%M:%S")
        if isinstance(value, dt.date):
            return value.strftime("%m/%d/%Y")
        return str(value)

    cells = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python(
        skip_empty_area=False)
    headers = [str(h) for h in cells[0]]
    rows = []
    for values in cells[1:]:
        fields = [v if type(v) is str else cell(v) for v in values]
        joined = "\t".join(fields)
        if joined.strip():
            rows.append((joined.encode(), dict(zip(headers, fields, strict=False))))
    return rows


def child(reader: str, path: str) -> None:
    """Read one file and print what happened as JSON (runs in the child process)."""
    if reader == "before":  # calamine may try to allocate terabytes: let it fail, not swap
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_AS_LIMIT, CHILD_AS_LIMIT))
    from listener.ingest.readers import FileRefused, read_rows

    data = Path(path).read_bytes() if path != "-" else b""
    started = time.perf_counter()
    outcome: dict[str, object] = {}
    try:
        if reader == "ingest":
            rows = [None] * _ingest(Path(path)) if data else []
        elif reader == "today":
            rows = read_rows(data, "xlsx") if data else []
        elif reader == "before":
            rows = _before_issue_15(data)
        outcome["seconds"] = time.perf_counter() - started
        outcome["rows"] = len(rows)
        # Resident while the rows are still held: what the rows themselves cost.
        outcome["held_mb"] = int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / MB
    except FileRefused as exc:
        outcome["refused"] = str(exc)[:90]
    except MemoryError:
        outcome["failed"] = "MemoryError"
    outcome.setdefault("seconds", time.perf_counter() - started)
    print(json.dumps(outcome))


def _ingest(path: Path) -> int:
    """Ingest one file into the database ATLAS_ORCH_BENCH_INGEST_URL names, as a source table
    of its own (no row is a duplicate of another file's); returns the rows read."""
    import anyio
    import asyncpg

    from listener.ingest.readers import FileRefused
    from listener.ingest.staging import IngestFailed, ingest_file

    async def go() -> int:
        conn = await asyncpg.connect(os.environ["ATLAS_ORCH_BENCH_INGEST_URL"])
        try:
            table = "f" + str(abs(hash(str(path))) % 10**8)
            result = await ingest_file(conn, path, "bench", table, fmt="xlsx",
                                       id_fields=("Number",))
            return result.rows_read
        except IngestFailed as exc:
            raise FileRefused(str(exc)) from exc
        finally:
            await conn.close()

    return anyio.run(go)


def measure(reader: str, path: Path | None) -> dict[str, object]:
    """Run a child; its outcome with its peak RSS (MB). A child's peak starts from its
    parent's at the fork (Linux keeps it across exec), so this parent stays small: the files
    are built by another child."""
    proc = subprocess.Popen([sys.executable, __file__, "--child", reader, str(path or "-")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started = time.perf_counter()
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - started > CHILD_SECONDS:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            return {"failed": f"over {CHILD_SECONDS} s", "peak_mb": usage.ru_maxrss / 1024}
        time.sleep(0.02)
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    peak = usage.ru_maxrss / 1024
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        return {"failed": f"killed by {name}", "peak_mb": peak,
                "why": (err.strip().splitlines() or [""])[0][:60]}
    if os.WEXITSTATUS(status) != 0:
        last = (err.strip().splitlines() or [""])[-1]
        return {"failed": f"exit {os.WEXITSTATUS(status)}: {last[:60]}", "peak_mb": peak}
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    result["peak_mb"] = peak
    return result


def describe(result: dict[str, object]) -> str:
    what = (f"{result['rows']:>7,} rows (held {result['held_mb']:4.0f} MB)" if "rows" in result
            else f"refused: {str(result['refused'])[:60]}" if "refused" in result
            else f"FAILED: {result['failed']}")
    seconds = f"{result['seconds']:6.2f} s" if "seconds" in result else "      -"
    return f"{seconds} {result['peak_mb']:6.0f} MB peak  {what}"


def main(scale: str, baseline: bool) -> None:
    import anyio
    from _db import fresh_database

    built = subprocess.run([sys.executable, __file__, "--build", scale], check=True,
                           stdout=subprocess.PIPE, text=True).stdout
    todo = [(label, Path(path)) for label, path in json.loads(built.splitlines()[-1])]
    idle = measure("idle", None)
    print(f"idle child (interpreter + readers imported): {idle['peak_mb']:.0f} MB")

    async def with_database() -> None:
        async with fresh_database("core-only") as url:
            os.environ["ATLAS_ORCH_BENCH_INGEST_URL"] = url
            run_all(todo, baseline)

    anyio.run(with_database)


def run_all(todo: list[tuple[str, Path]], baseline: bool) -> None:
    print(f"{'file':46} {'size':>9}  ingest (streaming, into PostgreSQL){'':22}"
          f"| read_rows (all rows held){'':31}| before issue 15 (calamine)")
    for label, path in todo:
        streamed = measure("ingest", path)
        today = measure("today", path)
        line = (f"{label:46} {path.stat().st_size / MB:7.2f}MB  {describe(streamed)}  | "
                f"{describe(today)}")
        if baseline:
            before = measure("before", path)
            line += f"  | {describe(before)}"
            if "seconds" in before and "rows" in before and "rows" in today:
                line += (f"  | ingest/before: time "
                         f"{float(streamed['seconds']) / float(before['seconds']):.2f}x, "
                         f"memory {float(streamed['peak_mb']) / float(before['peak_mb']):.2f}x")
        print(line)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "--build":
        print(json.dumps([(label, str(path)) for label, path in files(sys.argv[2])]))
        sys.exit(0)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="atlas")
    ap.add_argument("--skip-baseline", action="store_true",
                    help="do not run the reader before issue 15 (it aborts on some files)")
    a = ap.parse_args()
    main(a.scale, not a.skip_baseline)
