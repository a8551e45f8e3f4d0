"""CPU and per-core usage, frequency, temperature and model, from psutil and /proc/cpuinfo."""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from desktop_app.gathering.sources import Rates, Snapshot, Unavailable
from desktop_app.measurement import SeriesKey

# psutil's sensors_temperatures() names the package sensor differently per vendor/driver.
_PACKAGE_LABELS = ("Package id 0", "Tctl", "Tdie", "CPU")
_TEMP_CHIPS = ("coretemp", "k10temp", "zenpower", "cpu_thermal", "acpitz")


def busy_and_total(times: Any) -> tuple[float, float]:
    """Busy and total CPU seconds from a psutil cpu_times tuple (idle and iowait are not busy).

    Busy is summed from the busy fields, not taken as total - idle: that subtraction's rounding
    lets an idle core's busy time step back by ~1e-13 s, which would read as a counter reset.
    """
    busy = sum(v for name, v in zip(times._fields, times) if name not in ("idle", "iowait"))
    return busy, sum(times)


class CpuSource:
    """cpu "0" is the whole processor (all logical cores); cpucore "N" is logical core N."""

    serves = frozenset(
        (c, m) for c in ("cpu", "cpucore") for m in ("usage", "frequency", "temperature", "info")
    )

    def __init__(self, psutil: Any, cpuinfo: Path = Path("/proc/cpuinfo")) -> None:
        self._ps = psutil
        self._cpuinfo = cpuinfo
        self._rates = Rates()
        self._per_core_times = Snapshot(lambda: psutil.cpu_times(percpu=True))
        self._temps = Snapshot(self._read_temperatures, max_age=0.5)
        self._model: str | None = None

    def read(self, key: SeriesKey, now: float) -> Any:
        core = self._core(key)
        if key.metric == "usage":
            if core is None:
                times = self._ps.cpu_times()
            else:
                times = self._per_core_times.get(now)[core]
            # cpu_percent() keeps one global state per thread and returns 0.0 first: per-series deltas instead.
            return self._rates.ratio(key, *busy_and_total(times))
        if key.metric == "frequency":
            freq = self._ps.cpu_freq(percpu=core is not None) if hasattr(self._ps, "cpu_freq") else None
            if isinstance(freq, list):
                freq = freq[core] if core is not None and core < len(freq) else None
            return float(freq.current) if freq else None
        if key.metric == "temperature":
            return self._temperature(core)
        return self._model_name() if core is None else f"{self._model_name()} (core {core})"

    def _core(self, key: SeriesKey) -> int | None:
        """The logical core index of a cpucore key; None for the whole cpu."""
        if key.component == "cpu":
            if key.args != "0":
                raise Unavailable(f"no cpu {key.args!r}; psutil sees the processor as cpu 0")
            return None
        count = self._ps.cpu_count() or 0
        if not key.args.isdigit() or int(key.args) >= count:
            raise Unavailable(f"no core {key.args!r}; this machine has cores 0..{count - 1}")
        return int(key.args)

    def _read_temperatures(self) -> dict:
        reader = getattr(self._ps, "sensors_temperatures", None)
        return reader() if reader else {}

    def _temperature(self, core: int | None) -> float | None:
        temps = self._temps.get()
        for chip in _TEMP_CHIPS:
            entries = temps.get(chip)
            if not entries:
                continue
            if core is None:
                labelled = [e for e in entries if e.label in _PACKAGE_LABELS] or entries
                return float(labelled[0].current)
            for entry in entries:
                if entry.label == f"Core {core}":
                    return float(entry.current)
        return None

    def _model_name(self) -> str:
        if self._model is None:
            model = ""
            try:
                for line in self._cpuinfo.read_text().splitlines():
                    if line.startswith("model name"):
                        model = line.split(":", 1)[1].strip()
                        break
            except OSError:
                pass
            self._model = model or platform.processor() or platform.machine()
        return self._model
