"""The `system` lists: which cpus, cores, GPUs, partitions, processes, interfaces and disks exist now."""
from __future__ import annotations

from typing import Any

from desktop_app.gathering.sources.disk import VIRTUAL_DISK_PREFIXES
from desktop_app.gathering.sources.gpu import NvmlSource
from desktop_app.measurement import SeriesKey

# Partitions a user does not think of as disks (squashfs of snaps, pseudo filesystems).
_SKIP_FSTYPES = ("squashfs", "tmpfs", "devtmpfs", "overlay", "proc", "sysfs")


def _is_loopback(nic: str, stats: Any) -> bool:
    return "loopback" in getattr(stats, "flags", "").split(",") or nic == "lo" or nic.lower().startswith("loopback")


class SystemSource:
    serves = frozenset(
        ("system", m)
        for m in ("cpus", "cpucores", "gpus", "partitions", "processes", "networks", "activenetworks", "disks")
    )

    def __init__(self, psutil: Any, gpus: NvmlSource) -> None:
        self._ps = psutil
        self._gpus = gpus

    def read(self, key: SeriesKey, now: float) -> list[str]:
        ps = self._ps
        if key.metric == "cpus":
            return ["0"]
        if key.metric == "cpucores":
            return [str(i) for i in range(ps.cpu_count() or 0)]
        if key.metric == "gpus":
            return self._gpus.indices()
        if key.metric == "partitions":
            return [p.mountpoint for p in ps.disk_partitions() if p.fstype not in _SKIP_FSTYPES]
        if key.metric == "processes":
            return [str(pid) for pid in ps.pids()]
        if key.metric == "networks":
            return sorted(ps.net_io_counters(pernic=True))
        if key.metric == "activenetworks":  # what the Overview shows: not the down or the loopback ones
            counted = ps.net_io_counters(pernic=True)
            try:
                stats = ps.net_if_stats()
            except (OSError, ps.Error):  # the window waits for every list: show them all rather than none
                return sorted(counted)
            return sorted(nic for nic, s in stats.items() if nic in counted and s.isup and not _is_loopback(nic, s))
        disks = ps.disk_io_counters(perdisk=True) or {}
        return sorted(d for d in disks if not d.startswith(VIRTUAL_DISK_PREFIXES))
