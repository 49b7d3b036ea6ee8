"""Prometheus metrics in the text exposition format, kept in-process.

prometheus_client is not a dependency, and the server needs only counters and one
histogram, so they are kept here. Each worker process counts its own requests (label
`pid` is not added: scrape each worker, or run one process on DuckDB as it must anyway).
"""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(**labels: str) -> str:
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels.items()
    )
    return "{" + inner + "}"


class Metrics:
    """Event counters per ingestion kind, request counts and latency per route."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: dict[tuple[str, str], int] = defaultdict(int)
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.buckets: dict[tuple[str, str], list[int]] = {}
        self.sums: dict[tuple[str, str], float] = defaultdict(float)

    def count_events(self, kind: str, stored: int, duplicates: int, rejected: int) -> None:
        with self._lock:
            self.events[(kind, "stored")] += stored
            self.events[(kind, "duplicate")] += duplicates
            self.events[(kind, "rejected")] += rejected

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, str(status))] += 1
            key = (method, route)
            counts = self.buckets.setdefault(key, [0] * (len(BUCKETS) + 1))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
                    break
            else:
                counts[-1] += 1
            self.sums[key] += seconds

    def render(self) -> str:
        """The text format (version 0.0.4)."""
        out = [
            "# HELP touchpoints_events_total Events received, by ingestion kind and outcome.",
            "# TYPE touchpoints_events_total counter",
        ]
        with self._lock:
            for (kind, status), n in sorted(self.events.items()):
                out.append(f"touchpoints_events_total{_labels(kind=kind, status=status)} {n}")
            out += [
                "# HELP touchpoints_http_requests_total HTTP requests, by route and status.",
                "# TYPE touchpoints_http_requests_total counter",
            ]
            for (method, route, status), n in sorted(self.requests.items()):
                labels = _labels(method=method, route=route, status=status)
                out.append(f"touchpoints_http_requests_total{labels} {n}")
            out += [
                "# HELP touchpoints_http_request_duration_seconds Request latency by route.",
                "# TYPE touchpoints_http_request_duration_seconds histogram",
            ]
            name = "touchpoints_http_request_duration_seconds"
            for (method, route), counts in sorted(self.buckets.items()):
                running = 0
                for bound, n in zip((*BUCKETS, float("inf")), counts, strict=True):
                    running += n
                    le = "+Inf" if bound == float("inf") else f"{bound:g}"
                    out.append(
                        f"{name}_bucket{_labels(method=method, route=route, le=le)} {running}"
                    )
                base = _labels(method=method, route=route)
                out.append(f"{name}_sum{base} {self.sums[(method, route)]:.6f}")
                out.append(f"{name}_count{base} {running}")
        return "\n".join(out) + "\n"
