"""The gatherer: a plain loop that serves requests and rates and measures each series when due.

It runs on one thread (a QThread in the app, a plain thread headless) and blocks on the
control queue until the next measurement is due or a message arrives: no busy wait, no tick.
With `isolate_sources`, each source reads on a thread of its own, so a source that hangs (a
dead network mount, a process stuck in the kernel) delays only its own series.
"""
from __future__ import annotations

import heapq
import logging
import math
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from desktop_app import catalog, data_manager, queue_manager
from desktop_app.gathering.sources import Gone, Priming, Source, Unavailable
from desktop_app.measurement import SeriesKey, now_ms
from desktop_app.queue_manager import Request, SetRate

log = logging.getLogger(__name__)

PRIME_DELAY_S = 0.1  # a counter's first reading yields no rate: read it again this much later
HUNG_S = 2.0  # a read running this long is reported, and its series skipped until it returns
PRIMING, GONE = "priming", "gone"  # outcomes of a read that change the schedule


class Stop:
    """Control message: leave the loop."""


@dataclass(frozen=True)
class Outcome:
    """Control message from a source thread: a read primed a counter, or found its thing gone."""

    key: SeriesKey
    outcome: str


class SourceWorker:
    """A thread that reads one source's series, so a hanging read stalls nothing else."""

    def __init__(self, name: str, read: Callable[[SeriesKey], str | None], control: queue.SimpleQueue) -> None:
        self._read, self._control = read, control
        self._jobs: queue.SimpleQueue[SeriesKey | None] = queue.SimpleQueue()
        self.started: dict[SeriesKey, float] = {}  # reads under way and when each started
        self._thread = threading.Thread(target=self._run, name=f"opserv-source-{name}", daemon=True)
        self._thread.start()

    def submit(self, key: SeriesKey, now: float) -> bool:
        """Queue a read unless one of this series is still under way; False if it is."""
        if key in self.started:
            return False
        self.started[key] = now
        self._jobs.put(key)
        return True

    def stop(self, timeout: float) -> None:
        self._jobs.put(None)
        self._thread.join(timeout)  # a read hung in the kernel cannot be interrupted: left behind

    def _run(self) -> None:
        while (key := self._jobs.get()) is not None:
            try:
                outcome = self._read(key)
            finally:
                self.started.pop(key, None)
            if outcome is not None:
                self._control.put(Outcome(key, outcome))


def next_tick(after: float, delay_ms: int) -> float:
    """The first multiple of the delay (in seconds on the clock) after `after`.

    Every series of one rate ticks on this one grid, so a window's 1 s series are measured
    together and drawn in one repaint, not one per phase. The grid has no drift, and ticks
    missed under load or suspend are skipped, never burst. The epsilon counts a tick that float
    rounding puts a hair after `after` as passed, so it does not fire again at once."""
    step = delay_ms / 1000.0
    return step * (math.floor(after / step + 1e-6) + 1)


class Gatherer:
    """Schedules and takes measurements; owns the per-series schedule. Runs on one thread.

    `clock` is time.monotonic by default; tests pass a fake one and call `run_once`.
    `history` is anything with `append(key, ts_ms, value)`, or None.
    `on_problem(key, message)` is called once per failure episode of a series (None: recovered).
    """

    def __init__(
        self,
        sources: list[Source],
        history: Any | None = None,
        data: data_manager.DataStore = data_manager.store,
        queues: queue_manager.QueueHub = queue_manager.hub,
        clock: Callable[[], float] = time.monotonic,
        on_problem: Callable[[SeriesKey, str | None], None] | None = None,
        follow_defaults: bool = False,
        isolate_sources: bool = False,
    ) -> None:
        self._by_pair = {pair: s for s in sources for pair in s.serves}
        self._isolate = isolate_sources
        self._workers: dict[int, SourceWorker] = {}  # per source object, started on first use
        self._lock = threading.Lock()
        self._history, self._data, self._queues, self._clock = history, data, queues, clock
        self._on_problem = on_problem
        self._rates: dict[SeriesKey, int] = {}  # delay in ms per gathered series
        self._due: dict[SeriesKey, float] = {}  # next due time per scheduled series
        self._heap: list[tuple[float, int, SeriesKey]] = []  # lazily invalidated by _due
        self._seq = 0
        self._problems: dict[SeriesKey, str] = {}
        self._lists: dict[str, list[str]] | None = None
        if follow_defaults:  # gather the system lists now; the rest follows from what they list
            self._lists = {}
            for key, delay in default_rates({}).items():
                self.handle(SetRate(key, delay))
        self.measured = 0  # measurements taken since start
        self.stopped = False

    # -- control -------------------------------------------------------------------------
    @property
    def rates(self) -> dict[SeriesKey, int]:
        return dict(self._rates)

    def handle(self, message: Request | SetRate | Stop | Outcome) -> None:
        if isinstance(message, Stop):
            self.stopped = True
        elif isinstance(message, (Request, Outcome)):
            retry = self._measure(message.key) if isinstance(message, Request) else self._apply(message)
            if retry is not None:
                self._schedule(message.key, self._clock() + retry)
        elif message.delay_ms == 0:
            self._rates.pop(message.key, None)
            self._due.pop(message.key, None)
        else:
            old, due = self._rates.get(message.key), self._due.get(message.key)
            self._rates[message.key] = message.delay_ms
            if old is not None and due is not None and message.delay_ms >= old:
                # The same or a slower rate takes no extra measurement: the next is on its grid,
                # over half a delay after the last one (due - old).
                last = due - old / 1000.0
                self._schedule(message.key, next_tick(last + message.delay_ms / 2000.0, message.delay_ms))
            else:  # a new or faster rate starts now
                self._schedule(message.key, self._clock())

    def _schedule(self, key: SeriesKey, due: float) -> None:
        self._due[key] = due
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, key))

    # -- the loop ------------------------------------------------------------------------
    def run_once(self, now: float | None = None) -> float | None:
        """Apply waiting control messages, measure every series due by `now`; return seconds until
        the next is due (None: nothing)."""
        self._drain_control()
        now = self._clock() if now is None else now
        heap = self._heap
        while heap and heap[0][0] <= now + 1e-9:  # a grid tick a float's hair after now is due
            due, _, key = heapq.heappop(heap)
            if self._due.get(key) != due:
                continue  # superseded entry
            del self._due[key]
            retry = self._measure(key)
            delay = self._rates.get(key)
            if retry is not None:
                self._schedule(key, now + retry)
            elif delay is not None:
                # On the grid, and over half a delay after an off-grid start (a new rate, a retry):
                # a counter's rate is never taken over a sliver of time.
                self._schedule(key, next_tick(max(now, due + delay / 2000.0), delay))
        while heap and self._due.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)  # drop superseded entries so the wait is exact
        return max(0.0, heap[0][0] - now) if heap else None

    def run(self) -> None:
        """Serve control messages and due measurements until a Stop message arrives."""
        control = self._queues.control
        while not self.stopped:
            try:
                wait = self.run_once()
                if self.stopped:
                    break
                try:
                    message = control.get(timeout=wait)
                except queue.Empty:
                    continue
                self.handle(message)
            except Exception:  # a bug outside a source read costs that round, never the thread
                log.exception("gatherer: a round failed; going on")
        for worker in self._workers.values():
            worker.stop(timeout=1.0)

    def _drain_control(self) -> None:
        control = self._queues.control
        while not self.stopped:
            try:
                message = control.get_nowait()
            except queue.Empty:
                return
            self.handle(message)

    # -- measuring -----------------------------------------------------------------------
    def _measure(self, key: SeriesKey) -> float | None:
        """Take one measurement of key (inline, or on its source's thread); a retry delay when priming."""
        source = self._by_pair.get((key.component, key.metric))
        if not self._isolate or source is None:
            outcome = self._read(key)
            return self._apply(Outcome(key, outcome)) if outcome else None
        worker = self._workers.get(id(source))
        if worker is None:
            name = type(source).__name__.removesuffix("Source").lower()
            worker = self._workers[id(source)] = SourceWorker(name, self._read, self._queues.control)
        now = self._clock()
        if not worker.submit(key, now) and now - worker.started.get(key, now) >= HUNG_S:
            self._problem(key, f"a measurement has taken over {HUNG_S:.0f} s; skipped until it returns")
        return None

    def _apply(self, outcome: Outcome) -> float | None:
        """Act on a read's outcome on the gatherer thread: retry a primed counter, stop a gone thing."""
        if outcome.outcome == PRIMING:
            return PRIME_DELAY_S
        self._rates.pop(outcome.key, None)
        self._due.pop(outcome.key, None)
        return None

    def _read(self, key: SeriesKey) -> str | None:
        """Read key from its source and publish it. Thread-safe; returns PRIMING, GONE or None."""
        source = self._by_pair.get((key.component, key.metric))
        try:
            if source is None:
                raise Unavailable(f"no source for {key.component} {key.metric} on this machine")
            taken_ms = now_ms()  # the time of the reading, not of its publishing
            value = source.read(key, self._clock())
        except Priming:
            return PRIMING
        except Gone as exc:
            self._problem(key, str(exc))
            return GONE
        except Unavailable as exc:
            self._problem(key, str(exc))
            return None
        except Exception as exc:  # a broken source costs one measurement, never the thread
            self._problem(key, f"{type(exc).__name__}: {exc}", exc)
            return None
        if value is None:
            self._problem(key, f"{key.spec.label} is not exposed by this machine")
            return None
        self.publish(key, value, taken_ms)
        return None

    def publish(self, key: SeriesKey, value: Any, timestamp_ms: int | None = None) -> None:
        """Send one measurement to data_manager, queue_manager and the history, in that order."""
        measurement = {"timestamp": now_ms() if timestamp_ms is None else timestamp_ms, "value": value}
        self._data.set(key, measurement)
        # A copy, so a consumer editing its item cannot alter the last value; only into open queues.
        self._queues.put(key, dict(measurement), open_queue=False)
        if self._history is not None and key.spec.recorded:
            self._history.append(key, measurement["timestamp"], value)
        with self._lock:  # source threads publish concurrently
            self.measured += 1
        if self._lists is not None and key.component == "system" and self._lists.get(key.metric) != value:
            self._lists[key.metric] = value
            for new_key, delay in default_rates(self._lists).items():
                if new_key not in self._rates:  # via the control queue: publish may run on a source thread
                    self._queues.control.put(SetRate(new_key, delay))
        if key in self._problems:
            self._problem(key, None)

    def _problem(self, key: SeriesKey, message: str | None, exc: Exception | None = None) -> None:
        """Log a series' failure once per episode (with the traceback of an unexpected error), and its recovery."""
        with self._lock:  # source threads report their own series' problems
            if message is None:
                if self._problems.pop(key, None) is None:
                    return
                log.info("gatherer: %s is measured again", key)
            elif key not in self._problems:
                self._problems[key] = message
                if exc is None:
                    log.warning("gatherer: %s not available: %s", key, message)
                else:
                    log.error("gatherer: reading %s failed: %s", key, message, exc_info=exc)
            else:
                return
        if self._on_problem is not None:
            self._on_problem(key, message)

    def problems(self) -> dict[SeriesKey, str]:
        return dict(self._problems)


def default_rates(lists: dict[str, list[str]]) -> dict[SeriesKey, int]:
    """The default set (what the Overview shows) at default rates, given the `system` lists.

    Every discovered cpu, core, interface, disk and partition with each metric whose catalog
    default rate is not off, plus memory and the system lists; never per-process series.
    """
    rates: dict[SeriesKey, int] = {}
    for spec in catalog.METRICS.values():
        if spec.default_rate_ms == catalog.RATE_OFF or spec.component == "process":
            continue
        comp = catalog.COMPONENTS[spec.component]
        for args in lists.get(comp.list_metric, []) if comp.takes_args else [None]:
            rates[SeriesKey(spec.component, args, spec.name)] = spec.default_rate_ms
    return rates
