"""Physical memory totals and usage from psutil.virtual_memory()."""
from __future__ import annotations

from typing import Any

from desktop_app.gathering.sources import Snapshot
from desktop_app.measurement import SeriesKey


class MemorySource:
    serves = frozenset(("memory", m) for m in ("total", "free", "used", "usage"))

    def __init__(self, psutil: Any) -> None:
        self._vm = Snapshot(psutil.virtual_memory)

    def read(self, key: SeriesKey, now: float) -> float:
        vm = self._vm.get(now)
        # "free" is what a program can still get (psutil's `available`), not the kernel's idle pages.
        field = {"total": "total", "free": "available", "used": "used", "usage": "percent"}[key.metric]
        return float(getattr(vm, field))
