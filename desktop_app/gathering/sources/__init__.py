"""Sources: the only code that knows psutil, NVML or /sys.

Every source has the same shape: `serves`, the (component, metric) pairs it measures; and
`read(key, now)`, which returns the value, or None when this machine does not expose it. It
raises `Priming` when a rate or percentage needs a second reading, `Unavailable` when the thing
is missing now (it may come back), and `Gone` when it never will (a process that exited).
Each source receives its psutil module, so a test can hand it one that fails.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Protocol

from desktop_app.measurement import SeriesKey


class Unavailable(Exception):
    """This measurement cannot be taken now (vanished interface, AccessDenied); it may come back."""


class Gone(Unavailable):
    """The measured thing is gone for good (an exited process): its rate should stop."""


class Priming(Exception):
    """First reading of a counter or percentage: state stored, a value needs one more reading."""


class Source(Protocol):
    serves: frozenset[tuple[str, str]]

    def read(self, key: SeriesKey, now: float) -> Any: ...


class Rates:
    """Per-series counter state: turns cumulative counters into per-second rates.

    Keyed per series so reading one series never disturbs another's interval. `now` is
    time.monotonic() of the reading: the measured interval, not the nominal one.
    """

    def __init__(self) -> None:
        self._last: dict[Any, tuple[float, float]] = {}

    def per_second(self, key: Any, counter: float, now: float) -> float:
        """Counter growth per second since this key's previous reading; the first raises Priming."""
        prev = self._last.get(key)
        self._last[key] = (counter, now)
        if prev is None or now <= prev[1] or counter < prev[0]:  # first, or counter reset / wrapped
            raise Priming(key)
        return (counter - prev[0]) / (now - prev[1])

    def ratio(self, key: Any, part: float, whole: float) -> float:
        """Growth of `part` over growth of `whole` since the key's previous reading, as a %."""
        prev = self._last.get(key)
        self._last[key] = (part, whole)
        if prev is None or whole <= prev[1] or part < prev[0]:
            raise Priming(key)
        return min(100.0, max(0.0, 100.0 * (part - prev[0]) / (whole - prev[1])))


class Snapshot:
    """Shares one costly call between metrics read in the same instant (rx and tx, read and write)."""

    def __init__(self, call: Callable[[], Any], max_age: float = 0.02) -> None:
        self._call, self._max_age = call, max_age
        self._taken, self._value = -1e18, None

    def get(self, now: float | None = None) -> Any:
        now = time.monotonic() if now is None else now
        if now - self._taken > self._max_age:
            self._value, self._taken = self._call(), now
        return self._value


def default_sources() -> list[Source]:
    """Every source that can run on this machine, psutil ones first."""
    import psutil

    from desktop_app.gathering.sources import cpu, disk, gpu, memory, network, process, process_table, sensors, system

    found: list[Source] = [
        cpu.CpuSource(psutil),
        memory.MemorySource(psutil),
        disk.DiskSource(psutil),
        disk.PartitionSource(psutil),
        network.NetworkSource(psutil),
        process.ProcessSource(psutil),
        process_table.ProcessTableSource(psutil),
        sensors.SensorsSource(psutil),
    ]
    gpus = gpu.NvmlSource.open()
    found.append(gpus)
    found.append(system.SystemSource(psutil, gpus))
    return found
