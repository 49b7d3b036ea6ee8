"""`touchpoints report`: hand-checked numbers in both languages, self-containment, PDF
output and option errors, on a week of a small fixture (and the week before it)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from touchpoints.cli import app
from touchpoints.core import format
from touchpoints.core.errors import UsageError
from touchpoints.ingest import ingest_records
from touchpoints.reports import svg
from touchpoints.reports.report import build_report, period_scopes, report_data
from touchpoints.store.base import Store


def ev(eid: str, cust: str, tp: str, ts: str, **kw: Any) -> dict[str, Any]:
    return {"event_id": eid, "customer_id": cust, "touchpoint": tp, "ts": ts, **kw}


# Period 2026-01-05..11. Phone (targets: ASA 60 s, SL 80 %, abandonment 5 %): four
# contacts, answered after 30, 10 and 14 s (handled 120, 101, 110 s), one abandoned.
# ASA = 54/3 = 18.0 s; AHT = 331/3 = 110.3 s; abandonment 1/4; SL (<= 20 s) 2/4.
# NPS answers 10, 9, 3: (2 - 1)/3 = 33.3; margin 196·sqrt((1 - 1/9)/3) = 106.7.
# The week before: one phone contact answered after 40 s.
FIXTURE = [
    ev("w1", "c1", "website", "2026-01-05T09:00:00Z"),
    ev(
        "p1",
        "c1",
        "phone",
        "2026-01-05T10:00:00Z",
        abandoned=False,
        wait_seconds=30,
        handle_seconds=120,
        agent="ana",
    ),
    ev("b1", "c1", "store", "2026-01-05T11:00:00Z", action="purchase", value=1000.5),
    ev(
        "p2",
        "c2",
        "phone",
        "2026-01-06T10:00:00Z",
        abandoned=False,
        wait_seconds=10,
        handle_seconds=101,
        agent="ana",
    ),
    ev(
        "p3",
        "c3",
        "phone",
        "2026-01-07T10:00:00Z",
        abandoned=False,
        wait_seconds=14,
        handle_seconds=110,
        agent="bia",
    ),
    ev("p4", "c4", "phone", "2026-01-07T11:00:00Z", abandoned=True, wait_seconds=50),
    ev(
        "n1",
        "c1",
        "nps_survey",
        "2026-01-08T10:00:00Z",
        action="feedback",
        nps=10,
        comment="Ótimo atendimento",
    ),
    ev("n2", "c2", "nps_survey", "2026-01-08T11:00:00Z", action="feedback", nps=9),
    ev(
        "n3",
        "c3",
        "nps_survey",
        "2026-01-08T12:00:00Z",
        action="feedback",
        nps=3,
        comment="Demorou demais",
    ),
    ev(
        "q1",
        "c5",
        "phone",
        "2026-01-01T10:00:00Z",
        abandoned=False,
        wait_seconds=40,
        handle_seconds=90,
        agent="bia",
    ),
]


@pytest.fixture
def loaded(store: Store) -> Store:
    assert ingest_records(store, FIXTURE, "test").stored == len(FIXTURE)
    return store


def inflated(pdf: bytes) -> bytes:
    """The PDF with every compressed stream inflated after it (WeasyPrint packs objects
    into compressed object streams), to search without pypdf."""
    import zlib

    body = pdf
    for raw in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        try:
            body += zlib.decompress(raw)
        except zlib.error:
            continue
    return body


def pdf_pages(pdf: bytes) -> int:
    """Pages of a PDF: the /Type /Page dictionaries."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", inflated(pdf)))


def text_of(html: str) -> str:
    """Visible text, whitespace collapsed (numbers are split over template lines)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_numbers_in_portuguese(loaded: Store) -> None:
    html = build_report(loaded, "2026-01-05", "2026-01-11", "pt-BR", timezone="UTC").decode()
    text = text_of(html)
    assert '<html lang="pt-BR">' in html
    assert "Período: 05/01/2026 – 11/01/2026" in text
    assert "(comparado com 29/12/2025 – 04/01/2026)" in text
    # Within each touchpoint's own answer_within (the phone's 60 s): 3 of 4 offered.
    assert "esperaram em média 18 s (TME); 25,0% desistiram e 75,0% foram" in text
    assert "O NPS foi 33,3 (± 106,7)" in text
    assert "compras geraram R$\u00a01.000,50 de receita" in html  # money, never split
    assert "TME 18 s 40 s \u221222 s" in text  # summary row: now, before, signed change
    assert "Abandono 25,0% 0,0% +25,0 p.p." in text  # a share moves in points
    assert "especificação" not in text and "§" not in text  # no internal references
    phone = re.search(r'<tr data-touchpoint="phone">(.*?)</tr>', html, re.S).group(1)
    phone_text = text_of(phone)
    assert "Central de atendimento 4 1 min 50 s" in phone_text  # events, TMA (110.3 s)
    assert "18 s [1 min] ✓ dentro da meta" in phone_text
    assert "75,0% [80,0%] ✗ fora da meta" in phone_text
    assert "25,0% [5,0%] ✗ fora da meta" in phone_text
    # Nothing in the English style: no 25.0%, no 1,000.50, no "sec".
    assert not re.search(r"\d\.\d%|\d,\d{3}\.\d|\bsec\b|\bASA\b|\bAHT\b", text)
    assert "“Demorou demais” — Pesquisa de satisfação, NPS 3" in text


def test_numbers_in_english(loaded: Store) -> None:
    html = build_report(loaded, "2026-01-05", "2026-01-11", "en", timezone="UTC").decode()
    text = text_of(html)
    assert "waited 18 sec on average (ASA); 25.0% gave up and 75.0% were" in text
    assert "NPS was 33.3 (± 106.7)" in text
    assert "brought R$1,000.50 in revenue" in text
    assert "ASA 18 sec 40 sec \u221222 sec" in text
    assert "Abandonment 25.0% 0.0% +25.0 pp" in text
    assert "AHT" in text and "TME" not in text and "TMA" not in text
    assert "Period: 1/5/2026 – 1/11/2026" in text
    phone = text_of(re.search(r'<tr data-touchpoint="phone">(.*?)</tr>', html, re.S).group(1))
    assert "Phone call centre 4 1 min 50 sec" in phone
    assert "75.0% [80.0%] ✗ misses target" in phone
    assert not re.search(r"\d,\d%|R\$\s|\d\.\d{3},\d", text)  # nothing in the pt-BR style


def test_self_contained(loaded: Store) -> None:
    html = build_report(loaded, "2026-01-05", "2026-01-11", "en", timezone="UTC").decode()
    assert not re.search(r"https?://|<script|<link|\ssrc=|url\(", html)
    assert html.count("<svg") == 5 and html.count("<title>") >= 6  # page title + one per chart


def test_pdf_bytes(loaded: Store, tmp_path: Path) -> None:
    pdf = build_report(loaded, "2026-01-05", "2026-01-11", "pt-BR", "pdf", "UTC")
    assert pdf.startswith(b"%PDF-")
    assert pdf_pages(pdf) >= 1
    assert b"%%EOF" in pdf[-64:]
    # Tagged (PDF/UA): a structure tree, marked content, the document's language.
    body = inflated(pdf)
    assert b"/StructTreeRoot" in body and b"/MarkInfo" in body
    assert b"/Lang (pt-BR)" in body or b"/Lang(pt-BR)" in body


def test_report_data_matches_kpis(loaded: Store) -> None:
    data = report_data(loaded, "2026-01-05", "2026-01-11", "en", "UTC")
    assert data["total"]["tme_seconds"] == 18.0
    assert data["previous"]["tme_seconds"] == 40.0
    assert data["previous"]["events"] == 1
    assert [(v["path"], v["count"], v["conversions"]) for v in data["variants"]] == [
        (["phone"], 3, 0),
        (["website", "phone", "store"], 1, 1),
    ]


def test_the_previous_period_is_of_the_same_kind() -> None:
    """A month is compared with the month before (February for March, not 29 Jan-28 Feb),
    any other span with as many days just before; days are local."""
    current, previous = period_scopes("2026-03-01", "2026-03-31")
    assert (str(previous.date_from), str(previous.date_to)) == (
        "2026-02-01 00:00:00",
        "2026-02-28 23:59:59.999999",
    )
    current, previous = period_scopes("2026-03-01", "2026-05-31")
    assert str(previous.date_from) == "2025-12-01 00:00:00"
    current, previous = period_scopes("2026-01-05", "2026-01-11")
    assert previous.date_to is not None and current.date_from is not None
    assert str(previous.date_from) == "2025-12-29 00:00:00"
    assert (current.date_to - current.date_from) == (previous.date_to - previous.date_from)
    current, previous = period_scopes("2026-03-01", "2026-03-31", "America/Sao_Paulo")
    assert str(previous.date_from) == "2026-02-01 03:00:00"  # local midnight, in UTC


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-13-01", "--to", "2026-01-31"], "--from '2026-13-01': use a date"),
        (["--from", "2026-02-01", "--to", "2026-01-31"], "--from is after --to"),
        (["--to", "2026-01-31"], "--from and --to are required together"),
        (["--from", "2026-01-01", "--to", "2026-01-31", "--format", "docx"], "--format 'docx'"),
    ],
)
def test_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    res = CliRunner().invoke(
        app, ["report", *args, "--out", str(tmp_path / "r.html"), "--db", str(tmp_path / "x")]
    )
    assert isinstance(res.exception, UsageError)
    assert message in str(res.exception)
    assert not (tmp_path / "r.html").exists()


def test_cli_writes_the_file(tmp_path: Path) -> None:
    from touchpoints.store import open_store

    db = tmp_path / "s.duckdb"
    with open_store(str(db)) as s:
        ingest_records(s, FIXTURE, "test")
    out = tmp_path / "out" / "week.pdf"
    res = CliRunner().invoke(
        app,
        [
            "report",
            "--from",
            "2026-01-05",
            "--to",
            "2026-01-11",
            "--out",
            str(out),
            "--db",
            str(db),
        ],
    )
    assert res.exit_code == 0, res.output
    assert out.read_bytes().startswith(b"%PDF")


def test_svg_helpers_are_accessible() -> None:
    bars = svg.bar_chart([("a", 2.0), ("b", None)], "Volume <x>")
    assert "<title>Volume &lt;x&gt;</title>" in bars and "b: –" in bars
    heat = svg.heatmap(["Mon"], ["0h", "1h"], [[1.0, None]], "Heat")
    assert heat.count("<rect") == 2 and "#eeeeee" in heat
    line = svg.line_chart(["w1", "w2", "w3"], [("NPS", [1.0, None, 3.0])], "Trend")
    assert "<polyline" not in line  # a gap leaves no run of two points
    assert format.number(1234567.891, "pt-BR", 2) == "1.234.567,89"
    assert format.number(1234567.891, "en", 2) == "1,234,567.89"


def test_previous_week_is_monday_to_sunday() -> None:
    from datetime import date

    from touchpoints.reports.schedule import previous_week

    assert previous_week(date(2026, 1, 12)) == (date(2026, 1, 5), date(2026, 1, 11))  # a Monday
    assert previous_week(date(2026, 1, 18)) == (date(2026, 1, 5), date(2026, 1, 11))  # a Sunday


def test_weekly_report_is_due_from_its_hour_and_written_once(loaded: Store, tmp_path: Path) -> None:
    """Due Monday 07:00 São Paulo (10:00Z) for the week before; earlier it is last week's
    turn; once written, nothing is due until the next week."""
    from datetime import UTC, datetime

    from touchpoints.core.settings import Settings
    from touchpoints.reports.schedule import due_report, write_due_report

    settings = Settings(report_dir=str(tmp_path / "reports"), report_format="html")
    before = due_report(settings, datetime(2026, 1, 12, 9, 59, tzinfo=UTC))
    assert before is not None
    assert before.name == "touchpoints-2025-12-29_2026-01-04.pt-BR.html"
    written = write_due_report(loaded, settings, datetime(2026, 1, 12, 10, 0, tzinfo=UTC))
    assert written == tmp_path / "reports" / "touchpoints-2026-01-05_2026-01-11.pt-BR.html"
    text = text_of(written.read_text(encoding="utf-8"))
    assert "TME 18 s 40 s" in text  # the week's TME, as in test_numbers_in_portuguese
    assert write_due_report(loaded, settings, datetime(2026, 1, 14, 10, 0, tzinfo=UTC)) is None
    assert due_report(Settings(), datetime(2026, 1, 12, 10, 0, tzinfo=UTC)) is None
    assert [p.name for p in (tmp_path / "reports").iterdir()] == [written.name]


def test_paper_readers_get_model_names_and_a_colour_scale_in_their_language(
    loaded: Store,
) -> None:
    """On paper nothing opens on hover: the heatmap says which colour is the lowest and
    which the highest value, and attribution models are named for the reader."""
    html = build_report(loaded, "2026-01-05", "2026-01-11", "pt-BR", timezone="UTC").decode()
    header = re.search(r'<section id="attribution">.*?<thead><tr>(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r'<th scope="col">([^<]*)</th>', header)[1:] == [
        "Primeiro toque",
        "Último toque",
        "Linear",
        "Markov",
    ]
    heat = svg.heatmap(
        ["seg."], ["0h", "1h"], [[20.0, 95.0]], "TME", lambda v: format.duration(v, "pt-BR")
    )
    assert ">20 s</text>" in heat and ">1 min 35 s</text>" in heat
    assert heat.count("<rect") == 2  # the scale is drawn with strokes, not as more cells


def test_without_a_period_the_report_covers_the_last_complete_month(tmp_path: Path) -> None:
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from touchpoints.reports.schedule import last_complete_month
    from touchpoints.store import open_store

    assert last_complete_month(date(2026, 11, 30)) == (date(2026, 10, 1), date(2026, 10, 31))
    assert last_complete_month(date(2026, 3, 1)) == (date(2026, 2, 1), date(2026, 2, 28))
    assert last_complete_month(date(2026, 1, 15)) == (date(2025, 12, 1), date(2025, 12, 31))
    db = tmp_path / "s.duckdb"
    with open_store(str(db)) as s:
        ingest_records(s, FIXTURE, "test")
    out = tmp_path / "month.html"
    res = CliRunner().invoke(
        app,
        ["report", "--out", str(out), "--db", str(db), "--timezone", "America/Sao_Paulo"]
        + ["--lang", "en"],
    )
    assert res.exit_code == 0, res.output
    start, end = last_complete_month(datetime.now(ZoneInfo("America/Sao_Paulo")).date())
    said = f"no --from/--to: the last complete month, {start} to {end} (America/Sao_Paulo)"
    assert said in " ".join(res.stderr.split())
    from touchpoints.core import format

    html = out.read_text(encoding="utf-8")
    assert format.date(start, "en") in html and format.date(end, "en") in html


def test_time_zone_and_currency_default_to_the_company_settings(
    loaded: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from touchpoints.core.settings import get_settings

    monkeypatch.setenv("TOUCHPOINTS_TIMEZONE", "Asia/Tokyo")
    monkeypatch.setenv("TOUCHPOINTS_CURRENCY", "USD")
    get_settings.cache_clear()
    try:
        data = report_data(loaded, "2026-01-05", "2026-01-11", "en")
        assert (data["timezone"], data["currency"]) == ("Asia/Tokyo", "USD")
        html = text_of(build_report(loaded, "2026-01-05", "2026-01-11", "en").decode())
        assert "$1,000.50" in html and "R$" not in html
        # Given explicitly, they win over the settings.
        given = report_data(loaded, "2026-01-05", "2026-01-11", "pt-BR", "UTC", "BRL")
        assert (given["timezone"], given["currency"]) == ("UTC", "BRL")
        pt = text_of(build_report(loaded, "2026-01-05", "2026-01-11", "pt-BR", "html", "UTC", "BRL").decode())  # fmt: skip
        assert "R$ 1.000,50" in pt.replace("\xa0", " ")
    finally:
        get_settings.cache_clear()
