"""The last measurement of every series gathered in this run (the seed's data_manager API).

Thread-safe: the gatherer thread writes, any thread reads.
"""
from __future__ import annotations

import threading

from desktop_app.measurement import Measurement, SeriesKey, series_key, validate_measurement


class DataStore:
    """Last value per series; owned by no thread, guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[SeriesKey, Measurement] = {}

    def get(self, key: SeriesKey) -> Measurement | None:
        with self._lock:
            found = self._last.get(key)
        return dict(found) if found is not None else None

    def set(self, key: SeriesKey, measurement: Measurement) -> None:
        """Store an already validated measurement (the gatherer's fast path)."""
        with self._lock:
            self._last[key] = measurement

    def items(self) -> list[tuple[SeriesKey, Measurement]]:
        """A snapshot of every series' last measurement (for exporters)."""
        with self._lock:
            return list(self._last.items())

    def clear(self) -> None:
        with self._lock:
            self._last.clear()


store = DataStore()


def getMeasurement(component, metric, args=None) -> Measurement | None:
    """The last measurement of the series, or None if it was not gathered in this run."""
    return store.get(series_key(component, metric, args))


def setMeasurement(component, metric, value, args=None) -> None:
    """Record `value`, a {"timestamp", "value"} dict, as the series' last measurement."""
    key = series_key(component, metric, args)
    store.set(key, validate_measurement(value, key))


get_measurement = getMeasurement
set_measurement = setMeasurement
