"""A trickle of live service contacts, for `touchpoints demo-serve` and bench/live.py: the
Live page of a demo store shows queues, waits and alerts that move."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

from touchpoints.demo.story import ROSTER, TP


class Trickle:
    """Feeds a store a few realistic service contacts per second, as connectors would.

    Each new contact first sends its `queued` row (the customer joined the queue), then,
    after a wait drawn per channel, the end-of-contact row: answered by one of the demo
    roster's agents with a handle time and sometimes a CSAT answer, or abandoned — more
    often the longer the wait. Website visits fill the rest. Waits follow the demo story
    (WhatsApp slower than chat), so the Live page shows queues, waits and alerts that move.
    """

    MEAN_WAIT = {"whatsapp": 90.0, "phone": 50.0, "chat": 25.0}
    MEAN_HANDLE = {"whatsapp": 420.0, "phone": 300.0, "chat": 240.0}

    def __init__(self, service: Any, rate: float = 2.0, seed: int | None = None) -> None:
        self.service = service
        self.rate = rate
        self.rng = random.Random(seed)
        self.agents = {
            tp: list(
                ROSTER.names[ROSTER.first[TP[tp]] : ROSTER.first[TP[tp]] + ROSTER.size[TP[tp]]]
            )
            or [ROSTER.names[-1]]
            for tp in self.MEAN_WAIT
        }
        self.pending: list[tuple[float, dict[str, Any]]] = []  # (ends at, queued row)
        self.count = 0

    def _now(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)

    def _new_contact(self, now: datetime, rows: list[dict[str, Any]]) -> None:
        self.count += 1
        customer = f"live-{now:%Y%m%d}-{self.count:06d}-{self.rng.randrange(10**6):06d}"
        if self.rng.random() < 0.35:
            rows.append(
                {
                    "customer_id": customer,
                    "touchpoint": "website",
                    "ts": now.isoformat(),
                    "segment": "retail",
                }
            )
            return
        tp = self.rng.choices(list(self.MEAN_WAIT), weights=(5, 3, 2))[0]
        queued = {
            "customer_id": customer,
            "touchpoint": tp,
            "ts": now.isoformat(),
            "action": "queued",
            "segment": "retail",
        }
        rows.append(queued)
        wait = self.rng.expovariate(1 / self.MEAN_WAIT[tp])
        self.pending.append((time.monotonic() + min(wait, 600.0), {**queued, "_wait": wait}))

    def _finish(self, queued: dict[str, Any]) -> dict[str, Any]:
        tp, wait = queued["touchpoint"], queued["_wait"]
        row = {k: v for k, v in queued.items() if not k.startswith("_")}
        row.update(action="interaction", wait_seconds=round(wait, 1))
        if self.rng.random() < min(0.02 + wait / 900.0, 0.6):
            row["abandoned"] = True
            return row
        row.update(
            abandoned=False,
            agent=self.rng.choice(self.agents[tp]),
            handle_seconds=round(self.rng.expovariate(1 / self.MEAN_HANDLE[tp]), 1),
            resolved=self.rng.random() < 0.8,
        )
        if self.rng.random() < 0.3:
            row["csat"] = 5 if wait < 60 and self.rng.random() < 0.7 else self.rng.randint(1, 4)
        return row

    def tick(self) -> list[dict[str, Any]]:
        """Rows for one second: new arrivals, and the contacts whose wait is over."""
        now = self._now()
        rows: list[dict[str, Any]] = []
        # Poisson arrivals: two rows per contact on average, so rate/2 contacts a second.
        arrivals = 0
        budget = self.rng.expovariate(1.0)
        while budget < self.rate / 2:
            arrivals += 1
            budget += self.rng.expovariate(1.0)
        for _ in range(arrivals):
            self._new_contact(now, rows)
        due = time.monotonic()
        rows.extend(self._finish(q) for end, q in self.pending if end <= due)
        self.pending = [(end, q) for end, q in self.pending if end > due]
        return rows

    def run(self, stop: threading.Event) -> None:
        """Ingest one tick per second until `stop` is set."""
        while not stop.wait(1.0):
            rows = self.tick()
            if rows and not stop.is_set():
                self.service.ingest(rows, "demo-live")
