"""Per-series FIFO queues and the control channel to the gatherer (the seed's queue_manager API).

Thread-safe. A series' queue opens the first time anyone asks for that series through this
API (read, put, requestData, setGatheringRate) or subscribes to it; the gatherer fills only open
queues, so the headless default set, which nobody reads, costs no queue memory. Queues are
bounded and drop their oldest measurement when full; `drops()` counts what was dropped.
"""
from __future__ import annotations

import logging
import math
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from desktop_app.measurement import Measurement, SeriesKey, series_key, validate_measurement

log = logging.getLogger(__name__)

DEFAULT_MAXSIZE = 10_000
MIN_RATE_MS = 50


@dataclass(frozen=True)
class Request:
    """Take one measurement of `key` now."""

    key: SeriesKey


@dataclass(frozen=True)
class SetRate:
    """Gather `key` every `delay_ms` milliseconds; 0 stops it."""

    key: SeriesKey
    delay_ms: int


class _SeriesQueue:
    __slots__ = ("items", "drops", "ready")

    def __init__(self, maxsize: int, lock: threading.Lock) -> None:
        self.items: deque[Measurement] = deque(maxlen=maxsize)
        self.drops = 0
        self.ready = threading.Condition(lock)


class QueueHub:
    """All series queues plus the gatherer's control queue; one lock guards the series queues."""

    def __init__(self, maxsize: int = DEFAULT_MAXSIZE) -> None:
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._queues: dict[SeriesKey, _SeriesQueue] = {}
        self._pending: set[SeriesKey] = set()  # keys with unread items: lets a drain skip empty queues
        self._doorbells: list[tuple[set[SeriesKey], Callable[[], None]]] = []  # armed by drain(wake=...)
        self.control: queue.SimpleQueue[Request | SetRate] = queue.SimpleQueue()

    def _queue(self, key: SeriesKey) -> _SeriesQueue:
        q = self._queues.get(key)
        if q is None:
            q = self._queues[key] = _SeriesQueue(self.maxsize, self._lock)
        return q

    def open(self, key: SeriesKey) -> None:
        """Start queueing this series' measurements (if not already)."""
        with self._lock:
            self._queue(key)

    def put(self, key: SeriesKey, measurement: Measurement, open_queue: bool = True) -> None:
        """Append an already validated measurement, dropping the oldest if the queue is full.

        With open_queue=False (the gatherer) a series whose queue nobody opened is skipped."""
        with self._lock:
            q = self._queues.get(key)
            if q is None:
                if not open_queue:
                    return
                q = self._queue(key)
            if len(q.items) == self.maxsize:
                q.drops += 1
            q.items.append(measurement)
            self._pending.add(key)
            q.ready.notify()
            rung = [bell for bell in self._doorbells if key in bell[0]] if self._doorbells else []
            for bell in rung:
                self._doorbells.remove(bell)
        if rung:
            _ring(rung)

    def read(self, key: SeriesKey, blocking: bool = False, timeout: float | None = None) -> Measurement | None:
        with self._lock:
            q = self._queue(key)
            if blocking and not q.items:
                q.ready.wait_for(lambda: q.items, timeout)
            if not q.items:
                return None
            item = q.items.popleft()
            if not q.items:
                self._pending.discard(key)
            return item

    def drain(self, keys: set[SeriesKey] | None = None,
              wake: Callable[[], None] | None = None) -> dict[SeriesKey, list[Measurement]]:
        """Take every queued measurement of `keys` (all keys if None) in one locked step.

        `wake` (with `keys`): call it once, from the putting thread, at the next put of one of
        `keys`. Armed in the same locked step as the drain, so no measurement goes unannounced:
        the GUI bridge sleeps until there is something to take instead of polling.
        """
        with self._lock:
            ready = self._pending if keys is None else self._pending & keys
            out = {}
            for key in list(ready):
                items = self._queues[key].items
                out[key] = list(items)
                items.clear()
            self._pending.difference_update(out)
            if wake is not None and keys is not None:
                self._doorbells = [bell for bell in self._doorbells if bell[1] != wake]
                self._doorbells.append((keys, wake))
            return out

    def cancel_wake(self, wake: Callable[[], None]) -> None:
        """Disarm a `wake` given to drain (its consumer is going away)."""
        with self._lock:
            self._doorbells = [bell for bell in self._doorbells if bell[1] != wake]

    def drops(self, key: SeriesKey) -> int:
        with self._lock:
            q = self._queues.get(key)
            return q.drops if q else 0

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()
            self._pending.clear()
            rung, self._doorbells = self._doorbells, []
        _ring(rung)  # a running consumer drains (nothing) and arms its doorbell again
        while not self.control.empty():
            self.control.get_nowait()


def _ring(doorbells: list[tuple[set[SeriesKey], Callable[[], None]]]) -> None:
    """Call each doorbell's wake-up; outside the hub's lock, as a callback may take locks of its own."""
    for _keys, wake in doorbells:
        try:
            wake()
        except Exception:  # a consumer's doorbell must not break the producer
            log.exception("queue wake-up callback failed")


hub = QueueHub()


def readMeasurementFromQueue(component, metric, args=None, blocking=False, timeout=None) -> Measurement | None:
    """The series' next queued measurement; None if empty (or still empty after `timeout` s)."""
    return hub.read(series_key(component, metric, args), blocking, timeout)


def putMeasurementIntoQueue(component, metric, measurement, args=None) -> None:
    key = series_key(component, metric, args)
    hub.put(key, validate_measurement(measurement, key))


def requestData(component, metric, args=None) -> None:
    """Ask the gatherer for one fresh measurement as soon as it can; returns at once."""
    key = series_key(component, metric, args)
    hub.open(key)
    hub.control.put(Request(key))


def setGatheringRate(component, metric, delayms, args=None) -> None:
    """Gather the series every `delayms` ms; 0 stops it, 0 < delayms < 50 clamps to 50."""
    key = series_key(component, metric, args)
    delay = checked_delay(delayms)
    hub.open(key)
    hub.control.put(SetRate(key, delay))


def checked_delay(delayms: object) -> int:
    """Validate a gathering delay in ms: a finite number >= 0, clamped up to MIN_RATE_MS."""
    if isinstance(delayms, bool) or not isinstance(delayms, (int, float)):
        raise TypeError(f"delayms must be a number of milliseconds (0 = off, >= {MIN_RATE_MS}), "
                        f"not {type(delayms).__name__}")
    if not math.isfinite(delayms) or delayms < 0:
        raise ValueError(f"delayms must be 0 (off) or a finite delay >= {MIN_RATE_MS} ms, got {delayms!r}")
    if 0 < delayms < MIN_RATE_MS:
        log.warning("gathering delay %s ms is below the minimum; using %d ms", delayms, MIN_RATE_MS)
        return MIN_RATE_MS
    return int(delayms)


read_measurement_from_queue = readMeasurementFromQueue
put_measurement_into_queue = putMeasurementIntoQueue
request_data = requestData
set_gathering_rate = setGatheringRate
