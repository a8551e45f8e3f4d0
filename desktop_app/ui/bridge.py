"""The bridge: in the GUI thread, drains the series queues into ring buffers when rung.

It sleeps until the queue hub rings (a subscribed series got a measurement), then waits a few
ms for the rest of that burst and takes every queued measurement of the subscribed series in
one locked step; at most ~30 drains a second. It appends numbers to per-series buffers, hands
text and lists to their subscribers, then asks each touched subscriber to redraw once.
A fixed 30 Hz poll would cost ~0.4 % of a core on its wake-ups alone, with nothing to draw.
It never calls psutil, never touches SQLite, never blocks.
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np
import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal

from desktop_app import queue_manager
from desktop_app.measurement import Measurement, SeriesKey, now_ms
from desktop_app.storage.history import HistoryReader
from desktop_app.ui.series_buffer import SeriesBuffer

TICK_MS = 33  # at most ~30 drains a second
GATHER_MS = 10  # after the first measurement of a burst, wait this long for the rest of it
PREFILL_S = 3600  # a restart continues the last hour of curves from the history


class Subscriber(Protocol):
    def on_measurements(self, key: SeriesKey, items: list[Measurement]) -> None: ...
    def redraw(self) -> None: ...


class Bridge(QObject):
    """Owns the per-series buffers and the drain; lives in the GUI thread."""

    _rung = Signal()  # from the putting thread: a subscribed series has a measurement; queued
    _prefilled = Signal(object, object, object)  # key, t, v: from the loader thread, queued
    _condensed = Signal(object, object, object)  # widget, key, buckets: from the loader thread, queued

    def __init__(self, history_path: Path | None = None, hub: queue_manager.QueueHub = queue_manager.hub,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._hub = hub
        self._subscribers: dict[SeriesKey, list[Subscriber]] = defaultdict(list)
        self._keys: set[SeriesKey] = set()  # the hub's doorbell holds this set: changed in place
        self.buffers: dict[SeriesKey, SeriesBuffer] = {}
        self._history = HistoryReader(history_path) if history_path else None
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opserv-history-reader")
        self._stopped = False
        self._running = False
        self._last_drain = 0.0
        self._ring = self._rung.emit  # one object, so the hub can tell this bridge's doorbell apart
        self._rung.connect(self._schedule_drain)
        self._prefilled.connect(self._on_prefilled)
        self._condensed.connect(self._on_condensed)
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self.drain)

    def start(self) -> None:
        self._running = True
        self.drain()  # takes what is already queued and arms the doorbell

    def stop(self) -> None:
        self._running = False
        self._hub.cancel_wake(self._ring)
        self._timer.stop()
        self._stopped = True
        self._loader.shutdown(wait=True, cancel_futures=True)

    def _schedule_drain(self) -> None:
        if self._running and not self._timer.isActive():
            since_ms = (time.monotonic() - self._last_drain) * 1000
            self._timer.start(int(max(GATHER_MS, TICK_MS - since_ms)))

    def subscribe(self, subscriber: Subscriber, keys: Iterable[SeriesKey]) -> None:
        for key in keys:
            self._subscribers[key].append(subscriber)
            self._keys.add(key)
            self._hub.open(key)
            if key.spec.is_numeric and key not in self.buffers:
                self.buffers[key] = SeriesBuffer()
                if self._history is not None and not self._stopped:
                    self._loader.submit(self._load_history, key)
        self._schedule_drain()  # they may have measurements queued already

    def unsubscribe(self, subscriber: Subscriber, drop_buffers: bool = False) -> None:
        """Stop feeding `subscriber`. A series nobody else follows is no longer drained; with
        `drop_buffers` its buffer is freed as well (a process's series: 640 KB each, never shown again)."""
        for key, subscribers in list(self._subscribers.items()):
            if subscriber in subscribers:
                subscribers.remove(subscriber)
                if not subscribers:
                    del self._subscribers[key]
                    self._keys.discard(key)
                    if drop_buffers:
                        self.buffers.pop(key, None)

    def drain(self) -> None:
        self._last_drain = time.monotonic()
        batch = self._hub.drain(self._keys, wake=self._ring if self._running else None)
        if not batch:
            return
        touched: dict[int, Subscriber] = {}
        for key, items in batch.items():
            buffer = self.buffers.get(key)
            if buffer is not None:
                buffer.extend([m["timestamp"] / 1000.0 for m in items], [m["value"] for m in items])
            for sub in self._subscribers.get(key, ()):
                sub.on_measurements(key, items)
                touched[id(sub)] = sub
        for sub in touched.values():
            sub.redraw()

    # -- history prefill, off the GUI thread ----------------------------------------------
    def _load_history(self, key: SeriesKey) -> None:
        try:
            rows = self._history.raw(key, now_ms() - PREFILL_S * 1000)
        except Exception:  # no history yet, or unreadable: the live curve starts empty
            return
        if rows:
            t, v = zip(*rows)
            self._prefilled.emit(key, np.asarray(t) / 1000.0, np.asarray(v, dtype=float))

    def load_history(self, widget, keys: Iterable[SeriesKey], start_ms: int, end_ms: int, buckets: int) -> None:
        """Condensed history of `keys` for a zoomed-out widget, read off the GUI thread."""
        if self._history is None or self._stopped:
            return
        for key in keys:
            if key.spec.is_numeric:
                self._loader.submit(self._load_condensed, widget, key, start_ms, end_ms, buckets)

    def _load_condensed(self, widget, key: SeriesKey, start_ms: int, end_ms: int, buckets: int) -> None:
        if start_ms <= 0:  # "All": from the oldest measurement of this series
            start_ms = self._history.first_ts([key]) or end_ms
        try:
            rows = self._history.condensed(key, start_ms, end_ms, buckets) if start_ms < end_ms else []
        except Exception:  # unreadable history: the widget keeps its live data only
            rows = []
        self._condensed.emit(widget, key, rows)

    def _on_condensed(self, widget, key: SeriesKey, rows: list) -> None:
        if shiboken6.isValid(widget):  # it may have been replaced while the query ran
            widget.show_history(key, rows)

    def _on_prefilled(self, key: SeriesKey, t: np.ndarray, v: np.ndarray) -> None:
        buffer = self.buffers.get(key)
        if buffer is None:  # dropped while the history was read
            return
        buffer.merge_older(t, v)
        for sub in self._subscribers.get(key, ()):
            sub.redraw()

