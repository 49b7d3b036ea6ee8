"""The 24/7 attendant: the matcher's time per message, and reply latency in a real
`touchpoints serve` from the WhatsApp webhook to the Cloud API send request.

    .venv/bin/python bench/attendant.py                  # 300 sequential + 300 with 4 clients
    .venv/bin/python bench/attendant.py --messages 100

    .venv/bin/python bench/attendant.py --accuracy       # the labelled cases of every domain only

The Cloud API is a stand-in HTTP server in this process; the latency of one message runs
from the moment its signed webhook POST is written to the moment the stand-in receives the
reply for that customer (same clock). The server stores the webhook's events, decides and
records the reply, answers the webhook, then sends.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from common import write_section
from touchpoints.server.loadgen import ServerProcess, percentile

SECRET = "bench-app-secret"
PHONE_ID = "106540352242922"
SERVER_PORT, API_PORT = 8260, 8261
TEXTS = (
    "aceita pix?",
    "qual o horário de sábado",
    "onde fica a loja do centro",
    "qto custa pneu 175/70 r14",
    "vcs fazem alinhamento?",
)


def matcher_times(rounds: int = 3) -> dict[str, float]:
    """Seconds to train on the default file, and per message over the labelled cases."""
    import yaml

    from touchpoints.attendant.config import default_config
    from touchpoints.attendant.understand import Matcher

    cases = yaml.safe_load(
        (Path(__file__).parents[1] / "tests/fixtures/attendant/tyres_cases.yaml").read_text(
            encoding="utf-8"
        )
    )
    Matcher(default_config())  # imports scikit-learn
    start = time.perf_counter()
    matcher = Matcher(default_config())
    train = time.perf_counter() - start
    times = []
    for _ in range(rounds):
        for case in cases:
            t = time.perf_counter()
            matcher.read(case["text"])
            times.append(time.perf_counter() - t)
    return {
        "train_s": train,
        "messages": len(times),
        "p50_ms": 1000 * statistics.median(times),
        "p95_ms": 1000 * percentile(times, 0.95),
        "mean_ms": 1000 * statistics.fmean(times),
    }


FIXTURES = Path(__file__).parents[1] / "tests/fixtures/attendant"
# Each domain's labelled cases, and how they relate to the matcher's current settings:
# "tuned" — chosen while looking at them from the start; "seen" — written as held-out
# checks of an earlier round, then looked at while the current settings were chosen (the
# gym and the pet shop, the internet provider, the salon); "held out" — written by someone
# else from the file format alone, copied in after the matcher was frozen (commit 244d315)
# and run once, with no change to the matcher afterwards (the driving school, the laundry).
DOMAINS = (
    ("tyres", "tuned"),
    ("clinic", "tuned"),
    ("pizzeria", "tuned"),
    ("gym", "seen"),
    ("petshop", "seen"),
    ("isp", "seen"),
    ("salon", "seen"),
    ("autoescola", "held out"),
    ("lavanderia", "held out"),
)


def accuracy(domains: tuple[tuple[str, str], ...] = DOMAINS) -> list[dict[str, object]]:
    """The issue's four goals on each domain's labelled cases (`attendant eval`); every
    domain unless told (bench/attendant_models.py tunes on the tuned ones alone)."""
    from datetime import UTC, datetime

    from touchpoints.attendant.config import default_config, load_config
    from touchpoints.attendant.evaluate import evaluate, load_cases

    monday_morning = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)  # the stores are open
    rows = []
    for name, status in domains:
        config = default_config() if name == "tyres" else load_config(FIXTURES / f"{name}.yaml")
        result = evaluate(config, load_cases(FIXTURES / f"{name}_cases.yaml"), at=monday_morning)
        cases = result["cases"]
        others = [c for c in cases if c["expected"] is None]
        asks = [c for c in cases if c["expected"] == "human"]
        rows.append(
            {
                "domain": name,
                "status": status,
                "cases": len(cases),
                "intents": len(config.intents),
                "accuracy": result["accuracy"],
                "wrong": result["wrong_answer_rate"],
                "others_unanswered": sum(c["intent"] is None for c in others) / len(others),
                "asks_handed_off": sum(c["handoff"] for c in asks) / len(asks),
            }
        )
    return rows


def meets(row: dict[str, object]) -> bool:
    """The issue's four goals, all held by one domain's row of `accuracy()`."""
    return (
        row["accuracy"] >= 0.90
        and row["wrong"] <= 0.03
        and row["others_unanswered"] >= 0.80
        and row["asks_handed_off"] == 1.0
    )


def accuracy_lines(rows: list[dict[str, object]], matcher: dict[str, float]) -> list[str]:
    """The accuracy table, between its own markers so that `--accuracy --write` replaces it
    alone inside the attendant section."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = os.getloadavg()[0]
    lines = [
        "<!-- attendant-accuracy:start -->",
        "### Understanding, on labelled cases (`bench/attendant.py --accuracy`)",
        "",
        f"- Date: {stamp}; 2 cores shared with other work (load average {load:.1f}). Goals:",
        "  accuracy ≥ 0.90 in scope, wrong answers ≤ 3 % of all, ≥ 80 % of other subjects",
        "  unanswered, every explicit ask for a person handed off.",
        "",
        "| domain | status | intents | cases | accuracy | wrong answers | others unanswered | asks handed off | goals |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = meets(r)
        lines.append(
            f"| {r['domain']} | {'**held out**' if r['status'] == 'held out' else r['status']} | {r['intents']} "
            f"| {r['cases']} | {r['accuracy']:.3f} | {100 * r['wrong']:.1f} % "
            f"| {100 * r['others_unanswered']:.0f} % | {100 * r['asks_handed_off']:.0f} % "
            f"| {'**met**' if met else '**missed**'} |"
        )
    lines += [
        "",
        f"Matcher on the default file: training {matcher['train_s']:.2f} s; per message p50 "
        f"{matcher['p50_ms']:.2f} ms, p95 {matcher['p95_ms']:.2f} ms over {matcher['messages']} "
        "messages (the 213 labelled cases × 3).",
        "<!-- attendant-accuracy:end -->",
    ]
    return lines


def ports(server: int, api: int) -> None:
    """Use these ports (several benchmarks on one machine each need their own)."""
    global SERVER_PORT, API_PORT
    SERVER_PORT, API_PORT = server, api


class CloudApiStandIn:
    """Receives the sends; records when each customer's reply arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                now = time.perf_counter()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if body.get("type"):
                    outer.arrived.setdefault(body["to"], now)
                data = b'{"messaging_product":"whatsapp","messages":[{"id":"wamid.OUT"}]}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", API_PORT), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def webhook(customer: str, wamid: str, text: str) -> bytes:
    message = {
        "from": customer,
        "id": wamid,
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": text},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "5531300000000", "phone_number_id": PHONE_ID},
        "contacts": [{"profile": {"name": "C"}, "wa_id": customer}],
        "messages": [message],
    }
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
        }
    ).encode()


def run_clients(api: CloudApiStandIn, count: int, clients: int, tag: str) -> list[float]:
    """`clients` threads post `count` webhooks in all; each message's latency (s)."""
    posted: dict[str, float] = {}
    lock = threading.Lock()

    def client(c: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", SERVER_PORT, timeout=30)
        for i in range(c, count, clients):
            customer = f"55{tag}{i:08d}"
            body = webhook(customer, f"wamid.{tag}.{i}", TEXTS[i % len(TEXTS)])
            signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            with lock:
                posted[customer] = time.perf_counter()
            conn.request(
                "POST",
                "/webhooks/whatsapp",
                body,
                {"Content-Type": "application/json", "X-Hub-Signature-256": signature},
            )
            answer = conn.getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f"HTTP {answer.status}")
        conn.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.perf_counter() + 10
    while len([c for c in posted if c in api.arrived]) < count and time.perf_counter() < deadline:
        time.sleep(0.05)
    return [api.arrived[c] - t for c, t in posted.items() if c in api.arrived]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--write", action="store_true", help="Write bench/RESULTS.md's section.")
    parser.add_argument("--port", type=int, default=SERVER_PORT, help="The server's port.")
    parser.add_argument("--api-port", type=int, default=API_PORT, help="The stand-in's port.")
    parser.add_argument(
        "--accuracy", action="store_true", help="Only the labelled cases and the matcher's time."
    )
    args = parser.parse_args()
    ports(args.port, args.api_port)
    matcher = matcher_times()
    print("matcher", json.dumps(matcher))
    domains = accuracy()
    for row in domains:
        print("accuracy", json.dumps(row))
    if args.accuracy:
        if args.write:
            block = accuracy_lines(domains, matcher)
            write_section("attendant-accuracy", block[1:-1])
        sys.exit(0)
    api = CloudApiStandIn()
    folder = Path(tempfile.mkdtemp(prefix="attendant-bench-"))
    os.environ.update(
        TOUCHPOINTS_ATTENDANT=str(
            Path(__file__).parents[1] / "src/touchpoints/data/attendant.yaml"
        ),
        TOUCHPOINTS_WHATSAPP_APP_SECRET=SECRET,
        TOUCHPOINTS_WHATSAPP_TOKEN="bench-token",
        TOUCHPOINTS_WHATSAPP_API_BASE=f"http://127.0.0.1:{API_PORT}",
    )
    server = ServerProcess(str(folder / "bench.duckdb"), port=SERVER_PORT).start(timeout=120)
    try:
        run_clients(api, 20, 1, "00")  # warm-up: trains the bot, opens connections
        rows = {}
        for clients, tag in ((1, "01"), (4, "04")):
            cpu = server.cpu_seconds()
            lat = run_clients(api, args.messages, clients, tag)
            rows[clients] = {
                "cpu_ms": 1000 * (server.cpu_seconds() - cpu) / args.messages,
                "received": len(lat),
                "p50_ms": 1000 * statistics.median(lat),
                "p95_ms": 1000 * percentile(lat, 0.95),
                "max_ms": 1000 * max(lat),
            }
            print(clients, "clients", json.dumps(rows[clients]))
    finally:
        server.stop()
    load = os.getloadavg()[0]
    if args.write:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        lines = [
            "## The 24/7 attendant (`bench/attendant.py`)",
            "",
            f"- Date: {stamp}; 2 cores shared with other work (load average {load:.1f}); a real",
            "  `touchpoints serve` on DuckDB with `TOUCHPOINTS_ATTENDANT` = the default file, the",
            "  Cloud API a stand-in HTTP server in the benchmark's process. Latency: from writing",
            "  the signed webhook POST to the stand-in receiving that customer's reply.",
            "",
            "| test | p50 | p95 | max | server CPU per message | goal |",
            "|---|---|---|---|---|---|",
        ]
        for clients, r in rows.items():
            goal = "p95 < 50 ms: **met**" if r["p95_ms"] < 50 else "p95 < 50 ms: **missed**"
            lines.append(
                f"| webhook → send request, {clients} client{'s' if clients > 1 else ''}, {r['received']} messages "
                f"| {r['p50_ms']:.1f} ms | {r['p95_ms']:.1f} ms | {r['max_ms']:.1f} ms | {r['cpu_ms']:.1f} ms | {goal} |"
            )
        lines.append(
            f"| matcher alone, {matcher['messages']} messages (the 213 labelled cases × 3) "
            f"| {matcher['p50_ms']:.2f} ms | {matcher['p95_ms']:.2f} ms | | mean {matcher['mean_ms']:.2f} ms | |"
        )
        lines += [
            "",
            f"Training on the default file (11 intents, 246 examples + other subjects): {matcher['train_s']:.2f} s.",
            "",
            *accuracy_lines(domains, matcher),
        ]
        write_section("attendant", lines)
    sys.exit(0)


if __name__ == "__main__":
    main()
