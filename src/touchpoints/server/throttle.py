"""Login throttling: exponential backoff per account and per client address.

Each failed sign-in counts against the account and the address. After a few free failures
the next attempt must wait `2 ** (failures - free)` seconds after the last failure, up to
a cap; an attempt during the wait is answered 429 with `Retry-After` and is not even
checked (so the right password does not get in either) nor counted. A success clears the
account's count; a quiet quarter of an hour clears any count.

The caps are what keep an attacker from locking a real user out: hammering an account
from many addresses makes its owner wait at most `ACCOUNT_CAP_SECONDS` after the last
failure, while a single address guessing many accounts is slowed to one try per
`ADDRESS_CAP_SECONDS`. Counts are per server process (a worker on PostgreSQL throttles
the requests it receives).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

ACCOUNT_FREE, ACCOUNT_CAP_SECONDS = 5, 30.0
ADDRESS_FREE, ADDRESS_CAP_SECONDS = 20, 300.0
FORGET_SECONDS = 15 * 60
MAX_KEYS = 10_000


@dataclass
class _Count:
    failures: int
    last: float


class LoginThrottle:
    """Failure counts by key (`user:<name>`, `addr:<ip>`), in memory, bounded."""

    def __init__(self, clock: object = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, _Count] = {}

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    @staticmethod
    def _rules(key: str) -> tuple[int, float]:
        return (
            (ACCOUNT_FREE, ACCOUNT_CAP_SECONDS)
            if key.startswith("user:")
            else (
                ADDRESS_FREE,
                ADDRESS_CAP_SECONDS,
            )
        )

    def wait(self, username: str, address: str) -> int:
        """Seconds to wait before this attempt may be checked (0: go ahead)."""
        now = self._now()
        longest = 0.0
        with self._lock:
            for key in self._keys(username, address):
                count = self._counts.get(key)
                if count is None:
                    continue
                if now - count.last > FORGET_SECONDS:
                    del self._counts[key]
                    continue
                free, cap = self._rules(key)
                if count.failures >= free:
                    delay = min(cap, 2.0 ** (count.failures - free))
                    longest = max(longest, count.last + delay - now)
        return math.ceil(longest) if longest > 0 else 0

    def failed(self, username: str, address: str) -> None:
        now = self._now()
        with self._lock:
            if len(self._counts) >= MAX_KEYS:
                self._forget_oldest()
            for key in self._keys(username, address):
                count = self._counts.setdefault(key, _Count(0, now))
                count.failures += 1
                count.last = now

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._counts.pop(f"user:{username.strip().lower()}", None)

    def _forget_oldest(self) -> None:
        for key, _ in sorted(self._counts.items(), key=lambda kv: kv[1].last)[: MAX_KEYS // 10]:
            del self._counts[key]

    @staticmethod
    def _keys(username: str, address: str) -> tuple[str, str]:
        return f"user:{username.strip().lower()[:64]}", f"addr:{address}"
