"""Temperature sensors, fans and the battery, from psutil's sensors_* calls (absent in most VMs).

A sensor is named "<chip>/<label>" ("coretemp/Core 0"): the chip psutil groups it under, then its
label, or "#n" (its place in the chip, from 1) where the label is empty or repeated, as acpitz's are.
"""
from __future__ import annotations

from typing import Any

from desktop_app.gathering.sources import Snapshot, Unavailable
from desktop_app.measurement import SeriesKey


def sensor_names(entries: list[Any]) -> list[str]:
    """A unique name within its chip for each of a chip's entries, in psutil's order."""
    labels = [(e.label or "").strip() for e in entries]
    return [label if label and labels.count(label) == 1 else f"{label} #{i + 1}".strip()
            for i, label in enumerate(labels)]


def split_sensor(args: str) -> tuple[str, str]:
    """("coretemp", "Core 0") from "coretemp/Core 0"; a chip name holds no slash, a label may."""
    chip, _, name = args.partition("/")
    return chip, name


def battery_status(battery: Any) -> str:
    """"charging", "plugged in, full", "on battery, 1 h 05 min left"... from psutil's sensors_battery()."""
    if battery.power_plugged:
        return "plugged in, full" if battery.percent >= 100 else "charging"
    if battery.power_plugged is None:
        return "unknown power source"
    left = battery.secsleft  # POWER_TIME_UNKNOWN (-1) and POWER_TIME_UNLIMITED (-2) are no estimate
    if left is None or left < 0:
        return "on battery"
    hours, minutes = divmod(int(left) // 60, 60)
    return f"on battery, {hours} h {minutes:02d} min left"


class SensorsSource:
    """Serves the sensor components and the `system` lists that name them, from shared readings."""

    serves = frozenset({("thermal", "temperature"), ("fan", "speed"), ("battery", "charge"), ("battery", "status"),
                        ("system", "thermals"), ("system", "fans"), ("system", "batteries")})

    def __init__(self, psutil: Any) -> None:
        self._ps = psutil
        # A list and its sensors are read in the same instant: one call serves them all (it walks /sys).
        self._temps = Snapshot(lambda: self._call("sensors_temperatures") or {}, max_age=0.5)
        self._fans = Snapshot(lambda: self._call("sensors_fans") or {}, max_age=0.5)
        self._battery = Snapshot(lambda: self._call("sensors_battery"), max_age=0.5)

    def _call(self, name: str) -> Any:
        reader = getattr(self._ps, name, None)  # macOS has no temperatures, some platforms no fans
        return reader() if reader is not None else None

    def read(self, key: SeriesKey, now: float) -> Any:
        if key.component == "system":
            if key.metric == "batteries":
                return ["0"] if self._battery.get(now) is not None else []
            chips = (self._temps if key.metric == "thermals" else self._fans).get(now)
            return [f"{chip}/{name}" for chip, entries in chips.items() for name in sensor_names(entries)]
        if key.component == "battery":
            battery = self._battery.get(now)
            if battery is None or key.args != "0":
                raise Unavailable(f"no battery {key.args!r} on this machine")
            return float(battery.percent) if key.metric == "charge" else battery_status(battery)
        what = "temperature sensor" if key.component == "thermal" else "fan"
        chip, name = split_sensor(key.args)
        entries = (self._temps if key.component == "thermal" else self._fans).get(now).get(chip) or []
        for entry_name, entry in zip(sensor_names(entries), entries):
            if entry_name == name:
                return float(entry.current)
        raise Unavailable(f"{what} {key.args!r} is not present")
