"""Sources (SPEC §5): exports as other tools write them, read through the ready-made
sources of docs/sources/ on files shaped like the real exports — zero rejected rows and
KPIs computed by hand — and every value a source cannot read quarantined with its row,
column and reason. Every engine."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import run
from touchpoints.core.errors import InputFileError, UsageError
from touchpoints.ingest import ingest_files
from touchpoints.ingest.sources import load_source, options_source, parse_source
from touchpoints.store.base import Store

SOURCES = Path(__file__).resolve().parents[1] / "docs" / "sources"
TOUCHPOINTS_BIN = str(Path(sys.executable).with_name("touchpoints"))


def by_touchpoint(store: Store) -> dict[str, dict[str, Any]]:
    return {r["group"]: r for r in run(store, "kpis", by="touchpoint")["rows"]}


def write(path: Path, header: list[str], rows: list[list[Any]], **kw: Any) -> Path:
    encoding = kw.pop("encoding", "utf-8")
    with path.open("w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh, **kw)
        w.writerow(header)
        w.writerows(rows)
    return path


# -- Chatwoot: the "all metrics" CSV, one row per conversation (pull request #13364) --------
# Headers from config/locales/en.yml `reports.conversation_details_csv` and the column order
# of app/views/api/v2/accounts/reports/all_conversation_metrics.csv.erb (chatwoot/chatwoot,
# commit 221714cc): every cell quoted, the CSV after an empty line (the template's), one
# operator/duration pair per agent of the busiest conversation, durations as
# Reports::TimeFormatPresenter writes them ("--" for zero, empty for none).
CHATWOOT_HEADER = [
    "conversation ID", "Start date", "Inbox", "Team", "Contact email", "Operator name 1",
    "Agent chat duration 1", "Chat Resolution", "First Response Time", "AVG Response Time",
    "Agent chat duration", "Conv Score (CSAT)", "Feedback", "Category 1", "Contact name",
]  # fmt: skip
CHATWOOT_ROWS = [
    ["1040", "2026-01-05 13:00:00", "WhatsApp", "Vendas", "ana@example.com", "Carla",
     "5 minutes", "1 hour 2 minutes", "3 minutes 12 seconds", "1 minute", "5 minutes", "5",
     "Ótimo atendimento", "pneus", "Ana"],
    ["1041", "2026-01-05 14:00:00", "Website", "Suporte", "bia@example.com", "Davi",
     "1 hour 2 minutes", "1 day 3 hours", "40 seconds", "30 seconds", "1 hour 2 minutes",
     "3", "", "", "Bia"],
    ["1042", "2026-01-06 09:30:00", "WhatsApp", "Vendas", "caio@example.com", "", "", "",
     "", "", "", "", "", "", "Caio"],
    ["1043", "2026-01-06 10:00:00", "WhatsApp", "", "duda@example.com", "Carla", "--", "--",
     "--", "--", "--", "", "", "", "Duda"],
]  # fmt: skip


def chatwoot_export(path: Path) -> Path:
    """The file as the template writes it: an empty line, then the quoted CSV, rows ending
    in a line feed."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        fh.write("\n")
        w = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\n")  # Ruby's CSV
        w.writerow(CHATWOOT_HEADER)
        w.writerows(CHATWOOT_ROWS)
        fh.write("\n")
    return path


def test_chatwoot_conversations(store: Store, tmp_path: Path) -> None:
    path = chatwoot_export(tmp_path / "conversations.csv")
    result = ingest_files(store, path, source=load_source(SOURCES / "chatwoot-conversations.yaml"))
    assert (result.ingested, result.rejected) == (4, 0), result.quarantine
    assert result.warnings == []
    kpis = by_touchpoint(store)
    wa, chat = kpis["whatsapp"], kpis["chat"]
    # 1040 answered after 192 s, handled 300 s; 1042 nobody answered (empty first response:
    # abandoned); 1043 answered at once ("--" = 0 s), handled 0 s.
    assert (wa["offered"], wa["answered"], wa["abandoned"]) == (3, 2, 1)
    assert (wa["tme_seconds"], wa["tma_seconds"], wa["csat"]) == (96, 150, 100)
    # 1041: 40 s to answer, "1 hour 2 minutes" = 3720 s handled, a 3 (not satisfied).
    assert (chat["offered"], chat["tme_seconds"], chat["tma_seconds"], chat["csat"]) == (
        1, 40, 3720, 0,
    )  # fmt: skip
    rows = store.query("SELECT event_id, ts, comment, abandoned FROM events ORDER BY event_id")
    assert rows[0] == {
        "event_id": "chatwoot:1040",
        "ts": datetime(2026, 1, 5, 13, 0),
        "comment": "Ótimo atendimento",
        "abandoned": False,
    }
    assert [r["abandoned"] for r in rows] == [False, False, True, False]


# -- Zendesk: Support's CSV export of tickets ----------------------------------------------------
# Columns as Zendesk's article "Exporting data to a JSON, CSV, or XML file" lists them
# (support.zendesk.com/hc/en-us/articles/4408886165402), with the "Summation column" first
# and a custom list field last, as exports carry them.
ZENDESK_HEADER = [
    "Summation column", "Id", "Requester", "Requester id", "Requester external id",
    "Requester email", "Requester domain", "Submitter", "Assignee", "Group", "Subject", "Tags",
    "Status", "Priority", "Via", "Ticket type", "Created at", "Updated at", "Assigned at",
    "Organization", "Due date", "Initially assigned at", "Solved at", "Resolution time",
    "Satisfaction Score", "Group stations", "Assignee stations", "Reopens", "Replies",
    "First reply time in minutes", "First reply time in minutes within business hours",
    "First resolution time in minutes", "First resolution time in minutes within business hours",
    "Full resolution time in minutes", "Full resolution time in minutes within business hours",
    "Agent wait time in minutes", "Agent wait time in minutes within business hours",
    "Requester wait time in minutes", "Requester wait time in minutes within business hours",
    "On hold time in minutes", "On hold time in minutes within business hours",
    "Motivo do Contato [list]",
]  # fmt: skip
ZENDESK_ROWS = [
    ["1", "1040", "Ana", "11", "", "ana@example.com", "example.com", "Ana", "Carla", "Suporte",
     "Pneu furou", "pneu", "Solved", "Normal", "Mail", "Incident", "2026-01-05 10:00",
     "2026-01-05 12:00", "2026-01-05 10:05", "", "", "2026-01-05 10:05", "2026-01-05 12:00",
     "2", "Good", "1", "1", "0", "2", "30", "30", "120", "120", "120", "120", "12", "12",
     "108", "108", "0", "0", "Pneu"],
    ["1", "1041", "Zé", "12", "", "ze@example.com", "example.com", "Zé", "Davi", "Frota",
     "Troca", "", "Closed", "High", "Phone call (incoming)", "Question", "2026-01-05 11:00:00",
     "2026-01-05 11:30", "2026-01-05 11:00", "", "", "2026-01-05 11:00", "2026-01-05 11:30",
     "1", "Bad", "1", "1", "0", "1", "2", "2", "30", "30", "30", "30", "8", "8", "22", "22",
     "0", "0", "Troca"],
    ["1", "1042", "Lu", "13", "", "lu@example.com", "example.com", "Lu", "", "Suporte",
     "Dúvida", "", "Open", "Normal", "Web form", "Question", "2026-01-06 08:00",
     "2026-01-06 08:00", "", "", "", "", "", "", "Offered", "1", "0", "0", "0", "", "", "", "",
     "", "", "0", "0", "10", "10", "0", "0", ""],
]  # fmt: skip


def test_zendesk_tickets_beside_chatwoot_ids(store: Store, tmp_path: Path) -> None:
    chatwoot = chatwoot_export(tmp_path / "cw.csv")
    ingest_files(store, chatwoot, source=load_source(SOURCES / "chatwoot-conversations.yaml"))
    path = write(tmp_path / "tickets.csv", ZENDESK_HEADER, ZENDESK_ROWS)
    result = ingest_files(store, path, source=load_source(SOURCES / "zendesk-tickets.yaml"))
    # Ids 1040 and 1041 are Chatwoot's too: the prefixes keep both tools' rows.
    assert (result.ingested, result.duplicates, result.rejected) == (3, 0, 0), result.quarantine
    assert result.warnings == []
    assert store.count() == 7
    kpis = by_touchpoint(store)
    email, phone, web = kpis["email"], kpis["phone"], kpis["website"]
    # First replies after 30 and 2 minutes; no handle time in the export ("Agent wait time"
    # is time in Pending, not handling); Good = 5, Bad = 1; Solved and Closed are resolved.
    assert (email["tme_seconds"], email["tma_seconds"], email["csat"], email["fcr"]) == (
        1800, None, 100, 1.0,
    )  # fmt: skip
    assert (phone["tme_seconds"], phone["csat"], phone["fcr"]) == (120, 0, 1.0)
    # 1042: open, no reply yet, satisfaction offered but not answered: not counted as offered.
    assert (web["events"], web["offered"], web["fcr"], web["csat"]) == (1, 0, 0.0, None)
    (ts,) = store.query("SELECT ts FROM events WHERE event_id = 'zendesk:1040'")
    assert ts["ts"] == datetime(2026, 1, 5, 13, 0)  # 10:00 in São Paulo
    segments = {r["group"] for r in run(store, "kpis", by="segment", touchpoint="phone")["rows"]}
    assert segments == {"Frota"}


# -- A WhatsApp attendance report: cp1252, ";" -------------------------------------------------
WA_HEADER = ["Protocolo", "Telefone", "Data de Abertura", "Fila", "Atendente",
             "Tempo de Espera", "Tempo de Atendimento", "Status", "Resolvido", "Nota"]  # fmt: skip
WA_ROWS = [
    ["20260105001", "5511999990001", "05/01/2026 09:15:00", "Vendas", "Joana", "00:00:45",
     "00:08:30", "Finalizado", "Sim", "5"],
    ["20260105002", "5511999990002", "05/01/2026 09:20:00", "Pós-venda", "Márcio", "00:03:12",
     "00:12:00", "Finalizado", "Não", "2"],
    ["20260105003", "5511999990003", "05/01/2026 09:40:00", "Vendas", "", "00:05:00",
     "00:00:00", "Abandonado", "", ""],
]  # fmt: skip


def test_whatsapp_report_in_cp1252(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "relatorio.csv", WA_HEADER, WA_ROWS, delimiter=";",
                 encoding="cp1252")  # fmt: skip
    result = ingest_files(store, path, source=load_source(SOURCES / "whatsapp-report.yaml"))
    assert (result.ingested, result.rejected) == (3, 0), result.quarantine
    wa = by_touchpoint(store)["whatsapp"]
    assert (wa["offered"], wa["answered"], wa["abandoned"]) == (3, 2, 1)
    assert (wa["tme_seconds"], wa["tma_seconds"], wa["fcr"], wa["csat"]) == (118.5, 615, 0.5, 50)
    segments = {r["group"] for r in run(store, "kpis", by="segment")["rows"]}
    assert segments == {"Vendas", "Pós-venda"}


# -- An orders sheet (.xlsx) --------------------------------------------------------------------
def orders_sheet(path: Path) -> Path:
    xlsxwriter = pytest.importorskip("xlsxwriter")
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Pedidos")
    when = book.add_format({"num_format": "dd/mm/yyyy hh:mm"})
    sheet.write_row(0, 0, ["Pedido", "Data", "CPF/E-mail", "Canal", "Total", "Vendedor"])
    sheet.write(1, 0, "P-1001")
    sheet.write_datetime(1, 1, datetime(2026, 1, 5, 10, 30), when)
    sheet.write_row(1, 2, ["ana@example.com", "Loja física", "R$ 1.234,56", "Carla"])
    sheet.write(2, 0, "P-1002")
    sheet.write_datetime(2, 1, datetime(2026, 1, 6, 15, 0), when)
    sheet.write_row(2, 2, ["ze@example.com", "Site"])
    sheet.write_number(2, 4, 899.9)  # a number cell among text cells
    sheet.write_row(3, 0, ["P-1003", "07/01/2026 11:15", "lu@example.com", "WhatsApp",
                           "R$ 45,00", "Joana"])  # fmt: skip
    book.close()
    return path


def test_orders_sheet(store: Store, tmp_path: Path) -> None:
    path = orders_sheet(tmp_path / "pedidos.xlsx")
    result = ingest_files(store, path, source=load_source(SOURCES / "orders-sheet.yaml"))
    assert (result.ingested, result.rejected) == (3, 0), result.quarantine
    assert result.warnings == []
    kpis = by_touchpoint(store)
    assert {k: (v["conversions"], v["revenue"]) for k, v in kpis.items()} == {
        "store": (1, 1234.56),
        "website": (1, 899.9),
        "whatsapp": (1, 45.0),
    }
    rows = store.query("SELECT event_id, ts FROM events ORDER BY event_id")
    assert [r["ts"] for r in rows] == [
        datetime(2026, 1, 5, 13, 30),
        datetime(2026, 1, 6, 18, 0),
        datetime(2026, 1, 7, 14, 15),
    ]


# -- value maps ------------------------------------------------------------------------------
def test_a_values_key_of_empty_text_names_an_empty_or_missing_cell(
    store: Store, tmp_path: Path
) -> None:
    """`values: {"": ...}` maps an empty cell, whether the reader kept it as "" (quoted)
    or as missing (unquoted, or listed in missingValues); other cells follow `otherwise`."""
    path = tmp_path / "cells.csv"
    path.write_text(
        "id,cliente,canal,data,resposta\n"
        'a,c1,phone,2026-01-05 10:00:00,""\n'
        "b,c1,phone,2026-01-05 11:00:00,\n"
        "c,c1,phone,2026-01-05 12:00:00,NA\n"
        "d,c1,phone,2026-01-05 13:00:00,12\n",
        encoding="utf-8",
    )
    source = parse_source(
        {
            "missingValues": ["", "NA"],
            "columns": {
                "event_id": {"from": "id"},
                "customer_id": {"from": "cliente"},
                "touchpoint": {"from": "canal"},
                "ts": {"from": "data"},
                "abandoned": {"from": "resposta", "values": {"": True}, "otherwise": False},
            },
        }
    )
    result = ingest_files(store, path, source=source)
    assert (result.ingested, result.rejected) == (4, 0), result.quarantine
    rows = store.query("SELECT event_id, abandoned FROM events ORDER BY event_id")
    assert [(r["event_id"], r["abandoned"]) for r in rows] == [
        ("a", True), ("b", True), ("c", True), ("d", False),
    ]  # fmt: skip


# -- what a source cannot read -----------------------------------------------------------------
def test_unreadable_values_are_quarantined_with_row_column_reason(
    store: Store, tmp_path: Path
) -> None:
    source = parse_source(
        {
            "dialect": {"delimiter": ";"},
            "columns": {
                "customer_id": {"from": "Cliente"},
                "touchpoint": {"value": "store"},
                "ts": {"from": "Data", "format": "%d/%m/%Y"},
                "action": {"value": "purchase"},
                "value": {"from": "Total", "decimalChar": ",", "groupChar": "."},
                "wait_seconds": {"from": "Espera", "format": "hh:mm:ss"},
                "handle_seconds": {"from": "Min", "unit": "minutes"},
                "abandoned": {"from": "Sit", "trueValues": ["sim"], "falseValues": ["não"]},
            },
        }
    )
    path = write(tmp_path / "x.csv", ["Cliente", "Data", "Total", "Espera", "Min", "Sit"], [
        ["c1", "05/01/2026", "1.234,5", "00:01:00", "2.5", "não"],
        ["c2", "31/02/2026", "12.5", "1 min", "x", "talvez"],
    ], delimiter=";")  # fmt: skip
    result = ingest_files(store, path, source=source)
    assert (result.ingested, result.rejected) == (1, 1)
    assert [(q["row"], q["column"], q["reason"]) for q in result.quarantine] == [
        (2, "abandoned", "not one of the trueValues/falseValues (sim, não): 'talvez'"),
        (2, "handle_seconds", "not a number: 'x'"),
        (2, "ts", "does not match the format %d/%m/%Y: '31/02/2026'"),
        (2, "value", "not a number (decimalChar ',', groupChar '.'): '12.5'"),
        (2, "wait_seconds", "not a duration hh:mm:ss: '1 min'"),
    ]
    (row,) = store.query("SELECT value, wait_seconds, handle_seconds, abandoned FROM events")
    assert row == {"value": 1234.5, "wait_seconds": 60.0, "handle_seconds": 150.0,
                   "abandoned": False}  # fmt: skip
    (raw,) = store.query('SELECT raw FROM quarantine WHERE "column" = $c', {"c": "ts"})
    assert json.loads(raw["raw"])["Data"] == "31/02/2026"  # the cell as the file has it


def test_unix_times_declared(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", ["c", "t", "ms"], [["c1", "1767261600", "1767261600000"]])
    for column, fmt in (("t", "unix_s"), ("ms", "unix_ms")):
        source = parse_source({"columns": {"customer_id": {"from": "c"},
                               "touchpoint": {"value": "phone"},
                               "ts": {"from": column, "format": fmt}}})  # fmt: skip
        assert ingest_files(store, path, source=source).rejected == 0
    assert store.query("SELECT DISTINCT ts FROM events") == [{"ts": datetime(2026, 1, 1, 10, 0)}]


def test_bad_source_files_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"columns: Value error, 'when' is not an event column"):
        parse_source({"columns": {"when": {"from": "x"}}}, "s.yaml")
    with pytest.raises(UsageError, match=r"dialect.encoding: Value error, unknown encoding"):
        parse_source({"dialect": {"encoding": "klingon"}}, "s.yaml")
    with pytest.raises(UsageError, match=r"columns.ts.formt: Extra inputs are not permitted"):
        parse_source({"columns": {"ts": {"from": "a", "formt": "x"}}}, "s.yaml")
    assert options_source() is None


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TOUCHPOINTS_")}


def test_ingest_options_detect_cp1252_and_read_decimal_commas(tmp_path: Path) -> None:
    path = write(tmp_path / "vendas.csv", ["customer_id", "touchpoint", "ts", "value", "action",
                                          "segment"],
                 [["c1", "store", "05/01/2026 10:30", "12,5", "purchase", "Pós-venda"]],
                 delimiter=";", encoding="cp1252")  # fmt: skip
    db = str(tmp_path / "s.duckdb")
    proc = subprocess.run(
        [TOUCHPOINTS_BIN, "ingest", str(path), "--delimiter", ";", "--decimal", ",",
         "--date-format", "%d/%m/%Y %H:%M", "--db", db, "--json"],
        capture_output=True, text=True, env=env(), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["ingested"], out["rejected"]) == (1, 0)
    assert [w["encoding"] for w in out["warnings"]] == ["cp1252"]


def test_source_check_previews_and_stores_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "relatorio.csv", WA_HEADER, [*WA_ROWS, ["x", "1", "ontem"]],
                 delimiter=";", encoding="cp1252")  # fmt: skip
    proc = subprocess.run(
        [TOUCHPOINTS_BIN, "source", "check", str(SOURCES / "whatsapp-report.yaml"), str(path),
         "--json"],
        capture_output=True, text=True, env=env(), timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["rows_read"], out["good"], out["rejected"]) == (4, 3, 1)
    assert out["preview"][1]["segment"] == "Pós-venda"
    assert out["preview"][0]["wait_seconds"] == 45
    assert [p["row"] for p in out["problems"]] == [4]  # a short line: not even columns
    assert not list(tmp_path.glob("*.duckdb"))


def ods(path: Path, sheet: str, rows: list[list[Any]]) -> Path:
    """A minimal OpenDocument spreadsheet: text, float and date cells."""
    import zipfile
    from xml.sax.saxutils import escape

    def cell(v: Any) -> str:
        if isinstance(v, datetime):
            return (f'<table:table-cell office:value-type="date" '
                    f'office:date-value="{v.isoformat()}"><text:p>{v}</text:p></table:table-cell>')  # fmt: skip
        if isinstance(v, float):
            return (f'<table:table-cell office:value-type="float" office:value="{v!r}">'
                    f"<text:p>{v}</text:p></table:table-cell>")  # fmt: skip
        return f'<table:table-cell office:value-type="string"><text:p>{escape(str(v))}</text:p></table:table-cell>'

    body = "".join("<table:table-row>" + "".join(map(cell, r)) + "</table:table-row>" for r in rows)
    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')  # fmt: skip
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} '
               f'office:version="1.2"><office:body><office:spreadsheet>'
               f'<table:table table:name="{sheet}">{body}</table:table>'
               "</office:spreadsheet></office:body></office:document-content>")  # fmt: skip
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
                'manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
                'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                "</manifest:manifest>")  # fmt: skip
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", content)
        z.writestr("META-INF/manifest.xml", manifest)
    return path


def test_orders_as_ods_with_a_named_sheet(store: Store, tmp_path: Path) -> None:
    path = ods(tmp_path / "pedidos.ods", "Pedidos", [
        ["Pedido", "Data", "CPF/E-mail", "Canal", "Total", "Vendedor"],
        ["P-1", datetime(2026, 1, 5, 10, 30), "ana@example.com", "Site", 1234.56, "Carla"],
        ["P-2", datetime(2026, 1, 6, 9, 0), "ze@example.com", "Loja física", 10.0, "Davi"],
    ])  # fmt: skip
    data = yaml.safe_load((SOURCES / "orders-sheet.yaml").read_text(encoding="utf-8"))
    result = ingest_files(store, path, source=parse_source({**data, "format": "ods"}))
    assert (result.ingested, result.rejected) == (2, 0), result.quarantine
    assert run(store, "kpis")["rows"][0]["revenue"] == 1244.56
    wrong = parse_source({**data, "format": "ods", "sheet": "Vendas"})
    with pytest.raises(InputFileError, match=r"no sheet 'Vendas' \(sheets: Pedidos\)"):
        ingest_files(store, path, source=wrong)


def test_a_sheet_of_event_columns_needs_no_source(store: Store, tmp_path: Path) -> None:
    xlsxwriter = pytest.importorskip("xlsxwriter")
    path = tmp_path / "events.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["event_id", "customer_id", "touchpoint", "ts", "value", "action"])
    sheet.write_row(1, 0, ["e1", "c1", "store"])
    sheet.write_datetime(
        1, 3, datetime(2026, 1, 5, 10, 30), book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    )
    sheet.write_row(1, 4, [99.5, "purchase"])
    book.close()
    result = ingest_files(store, path)
    assert (result.ingested, result.rejected) == (1, 0)
    assert store.query("SELECT ts, value FROM events") == [
        {"ts": datetime(2026, 1, 5, 10, 30), "value": 99.5}
    ]
