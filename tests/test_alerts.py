"""Alerts that reach people (reports/alerts.py): conditions judged on a hand-checked queue,
e-mail through a real SMTP server on loopback (aiosmtpd), webhooks to a local receiver
that checks the HMAC signature, the quiet period, resolved messages, retries, claims
given back on failure, the CLI, the server's periodic job, and secrets never shown."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from cli_tables import cli
from conftest import free_port
from touchpoints.core.settings import Settings
from touchpoints.ingest import ingest_records
from touchpoints.reports import alerts
from touchpoints.reports.alerts import AlertsConfigError, Transport, parse_config
from touchpoints.store.base import Store


def _three_free_ports() -> tuple[int, int, int]:
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(free_port())
    return tuple(sorted(ports))  # type: ignore[return-value]


# The mail server, the webhook receiver and a port nobody listens on: chosen when the module
# loads, so that two runs on one machine never meet on a fixed port.
SMTP_PORT, HOOK_PORT, DOWN_PORT = _three_free_ports()
AT = datetime(2026, 1, 10, 12, 0)  # naive UTC: 09:00 in São Paulo
SECRET = "hook-secret-7f3a"
PASSWORD = "smtp-pass-91c2"
HOOK_PATH = "/services/T000/B000/XyZsecretpath"


def ev(eid: str, cust: str, tp: str, ts: str, **kw: Any) -> dict[str, Any]:
    return {"event_id": eid, "customer_id": cust, "touchpoint": tp, "ts": f"2026-01-10T{ts}Z", **kw}


# phone (catalog targets: TME 60 s, service level 0.8 within 60 s, abandonment 0.05):
# three contacts offered in 11:00-12:00, waits 30 and 90 s, one abandoned -> abandonment
# 1/3 (above), service level 1/3 (below), TME 60 (equal: no alert). WhatsApp: one
# answered at 10 s (all targets met), two queued and still waiting at 12:00.
EVENTS = [
    ev("p1", "c1", "phone", "11:10:00", abandoned=False, wait_seconds=30, agent="ana"),
    ev("p2", "c2", "phone", "11:20:00", abandoned=False, wait_seconds=90, agent="bia"),
    ev("p3", "c3", "phone", "11:30:00", abandoned=True, wait_seconds=40),
    ev("w1", "c6", "whatsapp", "11:40:00", abandoned=False, wait_seconds=10, agent="ana"),
    ev("w2q", "c7", "whatsapp", "11:55:00", action="queued"),
    ev("w3q", "c8", "whatsapp", "11:58:00", action="queued"),
]

CONFIG = f"""
window_minutes: 60
quiet_minutes: 30
min_contacts: 3
smtp: {{host: 127.0.0.1, port: {SMTP_PORT}, security: none, sender: "Touchpoints <alertas@pneus.example>"}}
touchpoints:
  whatsapp: {{max_waiting: 1}}
  chat: {{silent_minutes: 30, hours: "08:00-20:00", days: [mon, tue, wed, thu, fri, sat]}}
recipients:
  - id: supervisao
    role: supervisor
    lang: pt-BR
    email: [ana@pneus.example, bia@pneus.example]
  - id: cx-slack
    role: analyst
    touchpoints: [phone]
    webhook: http://127.0.0.1:{HOOK_PORT}{HOOK_PATH}
"""


def settings(**kw: Any) -> Settings:
    base = {
        "timezone": "America/Sao_Paulo",
        "locale": "pt-BR",
        "public_url": "https://cx.pneus.example",
        "alerts_webhook_secret": SECRET,
        "smtp_password": PASSWORD,
    }
    return Settings(**{**base, **kw})


def fast() -> Transport:
    return Transport(PASSWORD, SECRET, backoff=0.01)


# -- a real SMTP server and a webhook receiver on loopback --------------------------------
class Inbox:
    def __init__(self) -> None:
        self.mails: list[Any] = []
        self.envelopes: list[Any] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        self.mails.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((user, password))
        return AuthResult(success=password == PASSWORD, handled=False)


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=SMTP_PORT,
        authenticator=box.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


class Receiver:
    """A webhook endpoint answering `statuses` in turn (then 200), keeping verified bodies."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.calls: list[dict[str, Any]] = []


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            stamp = self.headers.get("X-Touchpoints-Timestamp", "")
            expected = (
                "sha256="
                + hmac.new(
                    SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256
                ).hexdigest()
            )
            signed = hmac.compare_digest(expected, self.headers.get("X-Touchpoints-Signature", ""))
            status = state.statuses.pop(0) if state.statuses else 200
            state.calls.append(
                {"path": self.path, "signed": signed, "status": status, "body": json.loads(body)}
            )
            self.send_response(status if signed else 401)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", HOOK_PORT), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def loaded(store: Store) -> Store:
    assert ingest_records(store, EVENTS, "test").stored == len(EVENTS)
    return store


# -- conditions ----------------------------------------------------------------------------
def keys(found: list[alerts.Condition]) -> set[str]:
    return {c.key for c in found}


def test_conditions_by_hand(loaded: Store) -> None:
    config = parse_config(CONFIG)
    found = alerts.evaluate(loaded, config, AT, "America/Sao_Paulo")
    assert keys(found) == {
        "target:phone:abandonment_rate",
        "target:phone:service_level",
        "queue:whatsapp:waiting",
        "silent:chat",  # 09:00 on a Saturday in São Paulo, chat open since 08:00
    }
    queue = next(c for c in found if c.kind == "queue")
    assert (queue.value, queue.limit) == (2, 1)
    rate = next(c for c in found if c.metric == "abandonment_rate")
    assert (rate.value, rate.limit, rate.direction) == (pytest.approx(1 / 3), 0.05, "above")
    # Four contacts needed: three are too few to judge the phone's targets.
    stricter = parse_config(CONFIG.replace("min_contacts: 3", "min_contacts: 4"))
    assert keys(alerts.evaluate(loaded, stricter, AT, "America/Sao_Paulo")) == {
        "queue:whatsapp:waiting",
        "silent:chat",
    }
    # 11:20 local is 08:20: chat opened 20 minutes ago, so 30 quiet minutes are expected.
    early = AT - timedelta(minutes=40)
    assert "silent:chat" not in keys(alerts.evaluate(loaded, config, early, "America/Sao_Paulo"))
    # Sunday: chat is closed.
    sunday = AT + timedelta(days=1)
    assert "silent:chat" not in keys(alerts.evaluate(loaded, config, sunday, "America/Sao_Paulo"))


# -- e-mail: one message per change, the quiet period, the resolved message ---------------
def only_email(text: str) -> str:
    return text.split("  - id: cx-slack")[0]


@pytest.mark.operational
def test_email_alert_quiet_period_and_resolved_message(loaded: Store, inbox: Inbox) -> None:
    config = parse_config(only_email(CONFIG))
    answer = alerts.check(loaded, config, settings(), now=AT, transport=fast())
    assert [m["sent"] for m in answer["messages"]] == [True]
    assert len(inbox.mails) == 1
    mail = inbox.mails[0]
    assert inbox.envelopes[0].rcpt_tos == ["ana@pneus.example", "bia@pneus.example"]
    assert mail["Subject"] == "[Touchpoints] Alertas: 4 novos, 0 resolvidos"
    assert mail["Content-Language"] == "pt-BR"
    body = mail.get_content()
    # Local times (São Paulo), Brazilian numbers, the catalog's pt-BR names.
    assert (
        "• Central de atendimento: abandono 33,3% — acima da meta (meta 5,0%) (desde 10/01/2026 09:00)"
        in body
    )
    assert "• WhatsApp: 2 aguardando — acima do limite de 1 (desde 10/01/2026 09:00)" in body
    assert "• Chat do site: nenhum evento nos últimos 30 minutos (desde 10/01/2026 09:00)" in body
    assert "Atendimento ao vivo: https://cx.pneus.example/live" in body
    assert PASSWORD not in body and SECRET not in body

    # A minute later nothing changed: nothing is sent again.
    again = alerts.check(
        loaded, config, settings(), now=AT + timedelta(minutes=1), transport=fast()
    )
    assert again["messages"] == [] and len(inbox.mails) == 1

    # Three hours later the window is empty: the phone and queue alerts clear (chat is
    # still silent), and one message says so.
    later = AT + timedelta(hours=3)
    resolved = alerts.check(loaded, config, settings(), now=later, transport=fast())
    assert resolved["messages"][0]["resolved"] == [
        "queue:whatsapp:waiting",
        "target:phone:abandonment_rate",
        "target:phone:service_level",
    ] or sorted(resolved["messages"][0]["resolved"]) == [
        "queue:whatsapp:waiting",
        "target:phone:abandonment_rate",
        "target:phone:service_level",
    ]
    assert len(inbox.mails) == 2
    assert inbox.mails[1]["Subject"] == "[Touchpoints] Alertas: 0 novos, 3 resolvidos"
    assert (
        "• WhatsApp: 2 aguardando — acima do limite de 1 (de 10/01/2026 09:00 a 10/01/2026 12:00)"
        in inbox.mails[1].get_content()
    )

    # The queue fills again 5 minutes later, within the quiet period: kept quiet ...
    ingest_records(
        loaded,
        [ev(f"q{i}", f"n{i}", "whatsapp", "15:02:00", action="queued") for i in range(3)],
        "later",
    )
    flap = later + timedelta(minutes=5)
    quiet = alerts.check(loaded, config, settings(), now=flap, transport=fast())
    assert quiet["messages"] == [] and quiet["quiet"] == ["supervisao/email queue:whatsapp:waiting"]
    # ... and clearing again sends nothing (its alert never went out).
    gone = alerts.check(loaded, config, settings(), now=flap + timedelta(hours=2), transport=fast())
    assert gone["messages"] == [] and len(inbox.mails) == 2
    # Still over the limit once the quiet period is over: sent then, once.
    ingest_records(
        loaded,
        [ev(f"r{i}", f"m{i}", "whatsapp", "17:10:00", action="queued") for i in range(2)],
        "again",
    )
    after = datetime(2026, 1, 10, 17, 15)
    sent = alerts.check(loaded, config, settings(), now=after, transport=fast())
    assert [m["opened"] for m in sent["messages"]] == [["queue:whatsapp:waiting"]]
    assert inbox.mails[-1]["Subject"] == (
        "[Touchpoints] Alerta: WhatsApp: 2 aguardando — acima do limite de 1"
    )
    assert alerts.check(loaded, config, settings(), now=after, transport=fast())["messages"] == []


@pytest.mark.operational
def test_smtp_login_uses_the_password_setting(loaded: Store, inbox: Inbox) -> None:
    text = only_email(CONFIG).replace("security: none,", "security: none, username: alertas,")
    config = parse_config(text)
    answer = alerts.check(loaded, config, settings(), now=AT, transport=fast())
    assert inbox.logins == [("alertas", PASSWORD)] and answer["messages"][0]["sent"]
    # A wrong password: the delivery fails, says so without the password, and is retried
    # by the next check (the claim was given back).
    store_config = parse_config(text.replace("supervisao", "noite"))
    failed = alerts.check(
        loaded, store_config, settings(), now=AT, transport=Transport("wrong", SECRET)
    )
    message = failed["messages"][0]
    assert message["sent"] is False
    assert message["error"] == f"127.0.0.1:{SMTP_PORT}: SMTPAuthenticationError 535"
    assert "wrong" not in json.dumps(failed)
    retried = alerts.check(
        loaded, store_config, settings(), now=AT + timedelta(minutes=1), transport=fast()
    )
    assert retried["messages"][0]["sent"] is True
    assert len(retried["messages"][0]["opened"]) == 4


@pytest.mark.operational
def test_english_recipient_reads_english(loaded: Store, inbox: Inbox) -> None:
    config = parse_config(only_email(CONFIG).replace("lang: pt-BR", "lang: en"))
    alerts.check(loaded, config, settings(), now=AT, transport=fast())
    body = inbox.mails[0].get_content()
    assert inbox.mails[0]["Subject"] == "[Touchpoints] Alerts: 4 new, 0 resolved"
    assert (
        "• Phone call centre: abandonment 33.3% — above target (target 5.0%) (since 1/10/2026 09:00)"
        in body
    )


# -- webhooks: signed, retried, Slack/Teams JSON -------------------------------------------
def hook_only(text: str, fmt: str = "slack") -> str:
    head, tail = text.split("recipients:\n")
    return (
        head
        + "recipients:\n  - id: cx-slack\n"
        + tail.split("  - id: cx-slack\n")[1]
        .replace("webhook:", f"format: {fmt}\n    webhook:")
        .replace("    role: analyst\n", "    role: analyst\n    lang: pt-BR\n")
    )


@pytest.mark.operational
def test_webhook_is_signed_and_retried(loaded: Store, receiver: Receiver) -> None:
    receiver.statuses = [503, 500]  # two failures, then accepted
    config = parse_config(hook_only(CONFIG))
    answer = alerts.check(loaded, config, settings(), now=AT, transport=fast())
    assert [c["status"] for c in receiver.calls] == [503, 500, 200]
    assert all(c["signed"] and c["path"] == HOOK_PATH for c in receiver.calls)
    # An analyst following the phone gets its two missed targets, nothing else.
    assert answer["messages"][0]["opened"] == [
        "target:phone:abandonment_rate",
        "target:phone:service_level",
    ]
    text = receiver.calls[-1]["body"]["text"]
    assert text.startswith("*[Touchpoints] Alertas: 2 novos, 0 resolvidos*")
    assert "Central de atendimento: nível de serviço 33,3% — abaixo da meta (meta 80,0%)" in text
    # The URL's secret path is never shown.
    assert answer["messages"][0]["to"] == f"http://127.0.0.1:{HOOK_PORT}/…"
    assert "secretpath" not in json.dumps(answer)


@pytest.mark.operational
def test_webhook_failure_is_given_back_and_a_4xx_is_not_retried(
    loaded: Store, receiver: Receiver
) -> None:
    receiver.statuses = [404]
    config = parse_config(hook_only(CONFIG, "teams"))
    failed = alerts.check(loaded, config, settings(), now=AT, transport=fast())
    assert len(receiver.calls) == 1  # a 404 will not get better by retrying
    assert failed["messages"][0]["error"] == (
        f"http://127.0.0.1:{HOOK_PORT}/…: HTTP 404 after 1 attempt(s)"
    )
    ok = alerts.check(loaded, config, settings(), now=AT + timedelta(minutes=1), transport=fast())
    assert ok["messages"][0]["sent"] is True and len(receiver.calls) == 2
    card = receiver.calls[-1]["body"]
    assert card["@type"] == "MessageCard" and card["themeColor"] == "B42318"
    assert card["title"] == "[Touchpoints] Alertas: 2 novos, 0 resolvidos"
    # Nobody listening: three attempts, then a clear error.
    down = parse_config(
        hook_only(CONFIG).replace(str(HOOK_PORT), str(DOWN_PORT)).replace("cx-slack", "x")
    )
    gone = alerts.check(loaded, down, settings(), now=AT, transport=fast())
    assert gone["messages"][0]["error"] == (
        f"http://127.0.0.1:{DOWN_PORT}/…: network error (URLError) after 3 attempt(s)"
    )


@pytest.mark.operational
def test_webhook_json_format_and_unsigned_without_secret(loaded: Store, receiver: Receiver) -> None:
    config = parse_config(hook_only(CONFIG, "json"))
    alerts.check(loaded, config, settings(), now=AT, transport=Transport(None, None, backoff=0.01))
    call = receiver.calls[0]
    assert call["signed"] is False  # no secret set: no signature, and this receiver refuses
    answer = alerts.check(loaded, config, settings(), now=AT, send=False)
    assert answer["messages"][0]["opened"] == [
        "target:phone:abandonment_rate",
        "target:phone:service_level",
    ]  # the refused delivery was given back: the next check sends it again
    alerts.check(loaded, config, settings(), now=AT, transport=fast())
    body = receiver.calls[-1]["body"]
    assert receiver.calls[-1]["signed"] and set(body) == {"subject", "text", "opened", "resolved"}
    assert body["opened"] == [
        "Central de atendimento: abandono 33,3% — acima da meta (meta 5,0%) (desde 10/01/2026 09:00)",
        "Central de atendimento: nível de serviço 33,3% — abaixo da meta (meta 80,0%) (desde 10/01/2026 09:00)",
    ]
    assert body["resolved"] == []


@pytest.mark.postgres
def test_one_worker_checks_at_a_time(loaded: Store, inbox: Inbox) -> None:
    """On PostgreSQL a second worker finds the advisory lock taken and sends nothing."""
    if loaded.engine != "postgres":
        pytest.skip("workers share a store on PostgreSQL only")
    from touchpoints.store import open_store

    config = parse_config(only_email(CONFIG))
    alerts.ensure_table(loaded)
    other = open_store(loaded.target)
    try:
        with other.transaction():
            other.query("SELECT pg_advisory_xact_lock($k) AS ok", {"k": alerts.LOCK_KEY})
            busy = alerts.check(loaded, config, settings(), now=AT, transport=fast())
        assert busy["busy"] is True and busy["messages"] == [] and inbox.mails == []
        assert alerts.summary(busy) == "another worker is checking"
    finally:
        other.close()
    done = alerts.check(loaded, config, settings(), now=AT, transport=fast())
    assert done["busy"] is False and len(inbox.mails) == 1


# -- dry run, CLI, server job --------------------------------------------------------------
@pytest.mark.operational
def test_dry_run_sends_and_records_nothing(loaded: Store, inbox: Inbox) -> None:
    config = parse_config(only_email(CONFIG))
    dry = alerts.check(loaded, config, settings(), now=AT, send=False)
    assert [m["sent"] for m in dry["messages"]] == [None] and inbox.mails == []
    assert alerts.open_alerts(loaded) == []
    real = alerts.check(loaded, config, settings(), now=AT, transport=fast())
    assert len(real["messages"][0]["opened"]) == 4 and len(inbox.mails) == 1
    assert {a["condition"] for a in alerts.open_alerts(loaded)} == {
        "target:phone:abandonment_rate",
        "target:phone:service_level",
        "queue:whatsapp:waiting",
        "silent:chat",
    }


def test_cli_check_list_and_test(
    tmp_path: Path, inbox: Inbox, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "a.duckdb")
    from touchpoints.store import open_store

    with open_store(db) as store:
        ingest_records(store, EVENTS, "test")
    path = tmp_path / "alerts.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("TOUCHPOINTS_ALERTS_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("TOUCHPOINTS_SMTP_PASSWORD", PASSWORD)
    from touchpoints.core.settings import get_settings

    get_settings.cache_clear()
    try:
        listed = cli(["alerts", "list", "--config", str(path), "--db", db], monkeypatch)
        assert listed.exit_code == 0, listed.output
        assert (
            f"cx-slack (analyst): target at phone -> http://127.0.0.1:{HOOK_PORT}/… (slack)"
            in listed.output
        )
        assert "supervisao (supervisor): target, queue, silent at *" in listed.output
        checked = cli(
            [
                "alerts",
                "check",
                "--config",
                str(path),
                "--db",
                db,
                "--at",
                "2026-01-10T12:00:00",
                "--json",
            ],
            monkeypatch,
        )
        assert checked.exit_code == 0, checked.output
        answer = json.loads(checked.output)
        assert [(m["recipient"], m["channel"], m["sent"]) for m in answer["messages"]] == [
            ("supervisao", "email", True),
            ("cx-slack", "webhook", True),
        ]
        assert len(inbox.mails) == 1 and receiver.calls[0]["signed"]
        listed = cli(["alerts", "list", "--config", str(path), "--db", db], monkeypatch)
        assert (
            "open: cx-slack/webhook target:phone:service_level since 2026-01-10T12:00:00Z (sent)"
            in listed.output
        )
        tested = cli(
            ["alerts", "test", "--config", str(path), "--recipient", "cx-slack"], monkeypatch
        )
        assert (
            tested.exit_code == 0
            and f"sent: cx-slack by webhook to http://127.0.0.1:{HOOK_PORT}/…" in tested.output
        )
        assert receiver.calls[-1]["body"]["text"].endswith("os alertas de cx-slack chegarão aqui.")
        for result in (listed, checked, tested):
            assert SECRET not in result.output and PASSWORD not in result.output
            assert "secretpath" not in result.output
        unknown = cli(
            ["alerts", "test", "--config", str(path), "--recipient", "nobody"], monkeypatch
        )
        assert unknown.exit_code != 0
    finally:
        get_settings.cache_clear()


def test_the_server_checks_on_its_own(tmp_path: Path, inbox: Inbox) -> None:
    from touchpoints.server.app import _housekeeping
    from touchpoints.server.service import Service
    from touchpoints.store import open_store

    db = str(tmp_path / "s.duckdb")
    with open_store(db) as store:
        ingest_records(
            store, [ev("x", "c", "whatsapp", "00:00:00", abandoned=False, wait_seconds=5)], "t"
        )
    path = tmp_path / "alerts.yaml"
    path.write_text(
        only_email(CONFIG)
        .replace("whatsapp: {max_waiting: 1}", "whatsapp: {silent_minutes: 15}")
        .replace(
            '  chat: {silent_minutes: 30, hours: "08:00-20:00", days: [mon, tue, wed, thu, fri, sat]}\n',
            "",
        ),
        encoding="utf-8",
    )
    service = Service(settings(alerts=str(path), db=db))
    try:
        jobs = {name: (every, job) for name, every, job in _housekeeping(service)}
        every, job = jobs["alerts"]
        assert every == 60
        # WhatsApp's last event was long ago: silent now.
        assert job() == "1 condition(s) hold, 1 message(s) sent, 0 failed, 0 kept quiet"
        assert inbox.mails[0]["Subject"] == (
            "[Touchpoints] Alerta: WhatsApp: nenhum evento nos últimos 15 minutos"
        )
        assert job() == "1 condition(s) hold, 0 message(s) sent, 0 failed, 0 kept quiet"
        # A typo in the file stops the server at start, not silently at every check.
        path.write_text(path.read_text(encoding="utf-8").replace("whatsapp:", "whatsap:"))
        with pytest.raises(AlertsConfigError, match="touchpoint 'whatsap' is not in the catalog"):
            _housekeeping(service)
    finally:
        service.close()


# -- the file's rules, each with its exact error ------------------------------------------
@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            ("    email: [ana@pneus.example, bia@pneus.example]\n", ""),
            "alerts: recipients[0] (id 'supervisao'): field 'entry': needs an 'email' list or a 'webhook' URL",
        ),
        (
            ("ana@pneus.example,", "ana-at-pneus,"),
            "alerts: recipients[0] (id 'supervisao'): field 'email': 'ana-at-pneus' is not an e-mail address",
        ),
        (
            ('hours: "08:00-20:00"', 'hours: "20:00-08:00"'),
            "alerts: field 'touchpoints.chat.hours': must be 'HH:MM-HH:MM' with the start before the end",
        ),
        (
            ("webhook: http://", "webhook: ftp://"),
            "alerts: recipients[1] (id 'cx-slack'): field 'webhook': must be an http:// or https:// URL",
        ),
        (
            ("id: cx-slack", "id: supervisao"),
            "alerts: field 'entry': recipient id 'supervisao' is used twice",
        ),
    ],
)
def test_bad_files_say_where(change: tuple[str, str], error: str) -> None:
    old, new = change
    assert old in CONFIG
    with pytest.raises(AlertsConfigError) as exc:
        parse_config(CONFIG.replace(old, new, 1))
    assert str(exc.value) == error


def test_email_needs_smtp_and_touchpoints_must_exist(loaded: Store) -> None:
    no_smtp = "\n".join(line for line in CONFIG.splitlines() if not line.startswith("smtp:"))
    with pytest.raises(
        AlertsConfigError, match="recipient 'supervisao' has e-mail addresses but no 'smtp' is set"
    ):
        parse_config(no_smtp)
    typo = parse_config(CONFIG.replace("touchpoints: [phone]", "touchpoints: [fone]"))
    with pytest.raises(
        AlertsConfigError, match="^alerts: touchpoint 'fone' is not in the catalog$"
    ):
        alerts.check(loaded, typo, settings(), now=AT, send=False)
