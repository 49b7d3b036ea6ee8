"""Reading exports through a source (issue 17): the same events as a UTF-8 CSV of SPEC §2
columns (plain `ingest`), as a Windows-1252 `;` CSV with decimal commas, dd/mm/yyyy times
and hh:mm:ss durations read with a source, and as an .xlsx sheet read with a source. Each
ingested into a fresh DuckDB store in its own process; plus the spreadsheet readers alone
(fastexcel into Arrow vs python-calamine into Python lists).

    python bench/sources.py --rows 1000000
    python bench/sources.py --rows 10000000 --no-xlsx --section sources_10m --repeat 3

With `--repeat N` the inputs are ingested in turn N times (alternating, so a change of load
meets all of them) and the table gives each one's median. The machine's load average
(1, 5, 15 min) is recorded before and after the runs.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from common import DATA, in_child, write_section

TOUCHPOINTS = ["whatsapp", "chat", "phone", "email", "store"]
SEGMENTS = ["Pós-venda", "Vendas", "Frota", "Atacado"]
SOURCE = """
format: {fmt}
{dialect}
timezone: UTC
columns:
  event_id: {{from: id}}
  customer_id: {{from: cliente}}
  touchpoint: {{from: canal}}
  ts: {{from: data, format: "%d/%m/%Y %H:%M:%S"}}
  value: {{from: valor, decimalChar: ",", groupChar: "."}}
  wait_seconds: {{from: espera, format: "hh:mm:ss"}}
  abandoned: {{from: abandonou, trueValues: [sim], falseValues: ["não"]}}
  segment: {{from: segmento}}
"""
INGEST = """
import json, sys, time
from touchpoints.ingest import ingest_files
from touchpoints.ingest.sources import load_source
from touchpoints.store import open_store
db, path, source = sys.argv[1], sys.argv[2], sys.argv[3]
t = time.perf_counter()
with open_store(db) as store:
    result = ingest_files(store, [path], source=load_source(source) if source != "-" else None)
print(json.dumps({"seconds": time.perf_counter() - t, "stored": result.ingested,
                  "rejected": result.rejected}))
"""
READERS = """
import json, sys, time
path = sys.argv[1]
t = time.perf_counter()
import fastexcel
table = fastexcel.read_excel(path).load_sheet(0, schema_sample_rows=None).to_arrow()
fast = time.perf_counter() - t
t = time.perf_counter()
from python_calamine import CalamineWorkbook
rows = CalamineWorkbook.from_path(path).get_sheet_by_index(0).to_python()
calamine = time.perf_counter() - t
print(json.dumps({"fastexcel": fast, "calamine": calamine, "rows": table.num_rows}))
"""


def rows(n: int, seed: int = 7):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    start = datetime(2026, 1, 1)
    for i in range(n):
        ts = start + timedelta(seconds=rng.randrange(0, 300 * 86400))
        cents = rng.randrange(0, 500000)
        wait = rng.randrange(0, 3600)
        yield (f"e{i}", f"c{rng.randrange(n // 5 + 1)}", rng.choice(TOUCHPOINTS), ts, cents,
               wait, rng.random() < 0.1, rng.choice(SEGMENTS))  # fmt: skip


def write_files(n: int, folder: Path, xlsx: bool) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    plain, local = folder / f"plain_{n}.csv", folder / f"local_{n}.csv"
    with (
        plain.open("w", newline="", encoding="utf-8") as a,
        local.open("w", newline="", encoding="cp1252") as b,
    ):
        wa, wb = csv.writer(a), csv.writer(b, delimiter=";")
        wa.writerow(["event_id", "customer_id", "touchpoint", "ts", "value", "wait_seconds",
                     "abandoned", "segment"])  # fmt: skip
        wb.writerow(["id", "cliente", "canal", "data", "valor", "espera", "abandonou",
                     "segmento"])  # fmt: skip
        for eid, cust, tp, ts, cents, wait, gone, seg in rows(n):
            wa.writerow([eid, cust, tp, ts.isoformat(), f"{cents / 100:.2f}", wait,
                         "true" if gone else "false", seg])  # fmt: skip
            whole, frac = divmod(cents, 100)
            wb.writerow([eid, cust, tp, ts.strftime("%d/%m/%Y %H:%M:%S"),
                         f"{whole:,}".replace(",", ".") + f",{frac:02d}",
                         f"{wait // 3600:02d}:{wait // 60 % 60:02d}:{wait % 60:02d}",
                         "sim" if gone else "não", seg])  # fmt: skip
    files = {"plain": plain, "local": local}
    (folder / "local.yaml").write_text(
        SOURCE.format(fmt="csv", dialect='dialect: {delimiter: ";", encoding: cp1252}'),
        encoding="utf-8",
    )
    if xlsx:
        import xlsxwriter

        path = folder / f"sheet_{n}.xlsx"
        book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        sheet = book.add_worksheet("Eventos")
        when = book.add_format({"num_format": "dd/mm/yyyy hh:mm:ss"})
        sheet.write_row(0, 0, ["id", "cliente", "canal", "data", "valor", "espera",
                               "abandonou", "segmento"])  # fmt: skip
        for r, (eid, cust, tp, ts, cents, wait, gone, seg) in enumerate(rows(n), start=1):
            sheet.write_string(r, 0, eid)
            sheet.write_string(r, 1, cust)
            sheet.write_string(r, 2, tp)
            sheet.write_datetime(r, 3, ts, when)
            sheet.write_number(r, 4, cents / 100)
            sheet.write_string(r, 5, f"{wait // 3600:02d}:{wait // 60 % 60:02d}:{wait % 60:02d}")
            sheet.write_string(r, 6, "sim" if gone else "não")
            sheet.write_string(r, 7, seg)
        book.close()
        files["xlsx"] = path
        (folder / "sheet.yaml").write_text(SOURCE.format(fmt="xlsx", dialect=""), encoding="utf-8")
    return files


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-xlsx", action="store_true")
    parser.add_argument("--section", default="sources", help="RESULTS.md section to write")
    parser.add_argument("--repeat", type=int, default=1, help="runs per input (median)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    n = args.rows
    folder = DATA / "sources"
    t = time.perf_counter()
    files = write_files(n, folder, not args.no_xlsx)
    print(f"wrote files in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    cases = [("UTF-8 CSV, SPEC §2 columns (plain ingest)", files["plain"], "-"),
             ("cp1252 `;` CSV, decimal commas, dd/mm/yyyy, hh:mm:ss (source)", files["local"],
              str(folder / "local.yaml"))]  # fmt: skip
    if "xlsx" in files:
        cases.append(("xlsx, date and number cells (source)", files["xlsx"],
                      str(folder / "sheet.yaml")))  # fmt: skip
    runs: dict[str, list[dict]] = {label: [] for label, _, _ in cases}
    for _ in range(args.repeat):
        for label, path, source in cases:
            db = folder / "store.duckdb"
            db.unlink(missing_ok=True)
            out = in_child(INGEST, str(db), str(path), source)
            print(label, out, file=sys.stderr)
            runs[label].append(out)
    results = []
    for label, path, _ in cases:
        median = statistics.median(r["seconds"] for r in runs[label])
        results.append((label, path, {**runs[label][0], "seconds": median}))
    base = results[0][2]["seconds"]
    load_after = os.getloadavg()
    command = " ".join(["python bench/sources.py", *sys.argv[1:]])
    lines = [
        f"- Date: {datetime.now():%Y-%m-%d %H:%M} UTC; {n:,} rows; `{command}`; "
        + ("one run each" if args.repeat == 1 else f"median of {args.repeat} alternating runs")
        + ", fresh DuckDB store, ingestion in its own process.",
        f"- Load average (1/5/15 min) on {os.cpu_count()} cores: "
        f"{'/'.join(f'{x:.1f}' for x in load_before)} before the runs, "
        f"{'/'.join(f'{x:.1f}' for x in load_after)} after.",
        "",
        "| input | size | seconds | rows/s | vs UTF-8 CSV | rejected |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, path, out in results:
        size = path.stat().st_size / 2**20
        lines.append(
            f"| {label} | {size:,.0f} MiB | {out['seconds']:.2f} | {n / out['seconds']:,.0f} | "
            f"{out['seconds'] / base:.2f}× | {out['rejected']} |"
        )
    if "xlsx" in files:
        readers = in_child(READERS, str(files["xlsx"]))
        lines += [
            "",
            f"Reading the sheet alone ({readers['rows']:,} rows): fastexcel into Arrow "
            f"{readers['fastexcel']:.2f} s, python-calamine into Python lists "
            f"{readers['calamine']:.2f} s.",
        ]
    if args.repeat > 1:
        lines.append("")
        for label, _, _ in cases:
            each = ", ".join(f"{r['seconds']:.1f}" for r in runs[label])
            lines.append(f"- {label}: {each} s")
    lines += ["", "Goal: a source within 2× the time of the same data as UTF-8 CSV."]
    title = "## Sources: exports read through a source file"
    if args.section != "sources":
        title += f" ({n:,} rows)"
    write_section(args.section, [title, "", *lines])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
