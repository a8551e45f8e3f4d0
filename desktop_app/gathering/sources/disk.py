"""Disk I/O rates and busy time per device, and space per mounted partition, from psutil."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from desktop_app.gathering.sources import Rates, Snapshot, Unavailable
from desktop_app.measurement import SeriesKey

# Block devices that are not disks a user owns: loop mounts of snaps and images, RAM disks.
VIRTUAL_DISK_PREFIXES = ("loop", "ram", "zram", "fd")


class DiskSource:
    serves = frozenset(("disk", m) for m in ("readpersec", "writepersec", "usage", "temperature", "status"))

    def __init__(self, psutil: Any, sys_block: Path = Path("/sys/block")) -> None:
        self._ps = psutil
        self._sys_block = sys_block
        self._rates = Rates()
        self._counters = Snapshot(lambda: psutil.disk_io_counters(perdisk=True) or {})

    def read(self, key: SeriesKey, now: float) -> Any:
        counters = self._counters.get(now).get(key.args)
        if counters is None:
            raise Unavailable(f"disk {key.args!r} is not present")
        if key.metric == "readpersec":
            return self._rates.per_second(key, counters.read_bytes, now)
        if key.metric == "writepersec":
            return self._rates.per_second(key, counters.write_bytes, now)
        if key.metric == "usage":
            busy_ms = getattr(counters, "busy_time", None)  # Linux and FreeBSD only
            if busy_ms is None:
                return None
            return min(100.0, self._rates.per_second(key, busy_ms, now) / 10.0)  # ms busy per s -> %
        if key.metric == "status":
            state = self._sys_block / key.args / "device" / "state"
            try:
                return state.read_text().strip()
            except OSError:
                return "present"  # virtual disks have no device state file
        return None  # temperature: needs SMART or drivetemp, which psutil does not read


class PartitionSource:
    serves = frozenset(("partition", m) for m in ("total", "free", "used", "usage"))

    def __init__(self, psutil: Any) -> None:
        self._ps = psutil

    def read(self, key: SeriesKey, now: float) -> float:
        # An unmounted path still answers disk_usage() with its parent's numbers: check first.
        if not os.path.ismount(key.args):
            raise Unavailable(f"nothing is mounted at {key.args!r}")
        try:
            usage = self._ps.disk_usage(key.args)
        except (FileNotFoundError, PermissionError) as exc:
            raise Unavailable(f"partition {key.args!r} cannot be read: {exc.strerror}") from exc
        return float({"total": usage.total, "free": usage.free, "used": usage.used,
                      "usage": usage.percent}[key.metric])
