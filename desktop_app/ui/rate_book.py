"""Which widget asked for which rate: a series is gathered at the fastest rate any widget wants.

Qt-free, so it is tested without a window. Each owner (a widget) sets a rate for its series;
a series' effective rate is the smallest non-zero one, or 0 (off) when every owner is off.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from desktop_app.measurement import SeriesKey


class RateBook:
    def __init__(self, apply: Callable[[SeriesKey, int], None]) -> None:
        self._apply = apply  # called with (key, delay_ms) when a series' effective rate changes
        self._wanted: dict[SeriesKey, dict[str, int]] = defaultdict(dict)
        self._effective: dict[SeriesKey, int] = {}

    def set(self, owner: str, keys: Iterable[SeriesKey], delay_ms: int) -> None:
        for key in keys:
            self._wanted[key][owner] = delay_ms
            self._update(key)

    def release(self, owner: str) -> None:
        """Forget an owner that went away (a widget removed)."""
        for key, owners in self._wanted.items():
            if owners.pop(owner, None) is not None:
                self._update(key)

    def effective(self, key: SeriesKey) -> int:
        return self._effective.get(key, 0)

    def gathered(self) -> int:
        """How many series are gathered at some rate."""
        return sum(1 for delay in self._effective.values() if delay)

    def _update(self, key: SeriesKey) -> None:
        wanted = [d for d in self._wanted[key].values() if d > 0]
        delay = min(wanted) if wanted else 0
        if self._effective.get(key, 0) != delay:
            self._effective[key] = delay
            self._apply(key, delay)
