"""Per-process CPU, memory and name, keeping one psutil.Process per pid."""
from __future__ import annotations

from typing import Any

from desktop_app.gathering.sources import Gone, Priming, Unavailable
from desktop_app.measurement import SeriesKey


def ended_message(pid: str) -> str:
    """What a series of an exited process reports (the UI tells "ended" from "not available" by it)."""
    return f"process {pid} has ended"


class ProcessSource:
    serves = frozenset(("process", m) for m in ("cpuusage", "memusage", "name"))

    def __init__(self, psutil: Any) -> None:
        self._ps = psutil
        # psutil.Process keeps cpu_percent() state per object, and checks pid reuse by create time.
        self._procs: dict[tuple[str, str], Any] = {}

    def read(self, key: SeriesKey, now: float) -> Any:
        ps = self._ps
        if not key.args.isdigit():
            raise Gone(f"pid must be a whole number, got {key.args!r}")
        slot = (key.args, key.metric)  # one object per series: series do not share cpu_percent state
        try:
            proc = self._procs.get(slot)
            if proc is None:
                proc = self._procs[slot] = ps.Process(int(key.args))
                if key.metric == "cpuusage":
                    proc.cpu_percent(interval=None)  # the first call always answers 0.0
                    raise Priming(key)
            if not proc.is_running():  # exited, or its pid reused by another program
                raise ps.NoSuchProcess(proc.pid)
            if key.metric == "cpuusage":
                return proc.cpu_percent(interval=None)
            if key.metric == "memusage":
                return float(proc.memory_info().rss)
            return proc.name()
        except ps.NoSuchProcess as exc:
            self._procs.pop(slot, None)
            raise Gone(ended_message(key.args)) from exc
        except ps.AccessDenied as exc:
            raise Unavailable(f"access to process {key.args} is denied") from exc
