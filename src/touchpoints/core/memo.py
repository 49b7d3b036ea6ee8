"""A small bounded memo of answers, each valid for one *stamp* of the data it came from.

Some analyses are parts of others: `insights` reads `touchpoint_strength` and `moments`,
which the dashboard also asks for on their own. A server's warmer computes all of them
after every ingestion, so without a memo the same engine queries run twice per round
(about 2 s for strength at 1M events). A `Memo` held by a store (`Store.memo`, shared by
the reader stores a server opens on the same database) lets the second caller take the
first one's answer, as long as the data has not changed in between.

The memo knows nothing of stores: the caller passes the stamp (`store.derived.answer_stamp`:
ingestions, generation, events' version, catalog, change log) it read before computing,
and a function that reads it again afterwards. An answer is kept only when the stamp held
for the whole computation, so an ingestion that lands meanwhile never leaves an answer
filed under a stamp its data does not match. Entries of any other stamp are dropped when
one is kept: answers of older data are never wanted again.

Two threads asking for the same answer at the same stamp (the warmer's two lanes, a
visitor's request) compute it once: the second waits for the first. Answers are handed
out as deep copies, so a caller that edits its answer never changes another's; an
immutable answer (tuples), whose copy would cost as much as reading it again, is handed
out as it is (`copy=False`).
"""

from __future__ import annotations

import copy as _copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

MAX_ENTRIES = 32


class Memo:
    """Answers by key, each with the stamp it was computed at (see the module docstring).
    Thread-safe; `computed` and `hits` count what it saved, for tests and benchmarks."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[str, Any]] = OrderedDict()
        self._running: dict[tuple[Hashable, str], threading.Event] = {}
        self._guard = threading.Lock()
        self.computed = 0
        self.hits = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every answer (what new data does; benchmarks use it between rounds)."""
        with self._guard:
            self._entries.clear()

    def get(
        self,
        key: Hashable,
        stamp: str,
        compute: Callable[[], T],
        stamp_now: Callable[[], str | None],
        copy: bool = True,
    ) -> T:
        """The answer kept for `key` at `stamp`, else `compute()` (kept if `stamp_now()`
        still equals `stamp` once it is done). Only one thread computes a key at a stamp;
        others asking meanwhile wait for it, then take its answer or, if it was not kept,
        compute their own. `copy=False`: the kept answer itself, not a deep copy (for
        immutable answers, where a copy would cost as much as reading it again)."""
        while True:
            with self._guard:
                kept = self._entries.get(key)
                if kept is not None and kept[0] == stamp:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    answer = kept[1]
                    break
                flight = self._running.get((key, stamp))
                mine = flight is None
                if mine:
                    flight = self._running[(key, stamp)] = threading.Event()
            assert flight is not None
            if not mine:
                flight.wait()
                continue
            try:
                result = compute()
                with self._guard:
                    self.computed += 1
                if stamp_now() == stamp:
                    self._keep(key, stamp, _copy.deepcopy(result) if copy else result)
            finally:
                with self._guard:
                    del self._running[(key, stamp)]
                flight.set()
            return result
        return _copy.deepcopy(answer) if copy else answer  # type: ignore[no-any-return]

    def _keep(self, key: Hashable, stamp: str, answer: Any) -> None:
        with self._guard:
            for other in [k for k, (s, _) in self._entries.items() if s != stamp]:
                del self._entries[other]
            self._entries[key] = (stamp, answer)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
