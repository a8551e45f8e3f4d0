"""Per-interface traffic rates and a one-line description, from psutil's net_* calls."""
from __future__ import annotations

import socket
from typing import Any

from desktop_app.gathering.sources import Rates, Snapshot, Unavailable
from desktop_app.measurement import SeriesKey


class NetworkSource:
    serves = frozenset(("network", m) for m in ("receivepersec", "transmitpersec", "info"))

    def __init__(self, psutil: Any) -> None:
        self._ps = psutil
        self._rates = Rates()
        self._counters = Snapshot(lambda: psutil.net_io_counters(pernic=True))

    def read(self, key: SeriesKey, now: float) -> Any:
        if key.metric == "info":
            return self._info(key.args)
        counters = self._counters.get(now).get(key.args)
        if counters is None:
            raise Unavailable(f"network interface {key.args!r} is not present")
        counter = counters.bytes_recv if key.metric == "receivepersec" else counters.bytes_sent
        return self._rates.per_second(key, counter, now)

    def _info(self, nic: str) -> str:
        stats = self._ps.net_if_stats().get(nic)
        if stats is None:
            raise Unavailable(f"network interface {nic!r} is not present")
        parts = ["up" if stats.isup else "down", f"MTU {stats.mtu}"]
        if stats.speed:
            parts.append(f"{stats.speed} Mbit/s")
        addrs = self._ps.net_if_addrs().get(nic, [])
        parts += [a.address for a in addrs if a.family in (socket.AF_INET, socket.AF_INET6)]
        return ", ".join(parts)
