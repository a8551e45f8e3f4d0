"""The gatherer: scheduling with a fake clock (run_once), then the real thread on real sources."""
from __future__ import annotations

import logging
import math
import os
import statistics
import threading
import time

import psutil
import pytest

from desktop_app import catalog, data_manager, gathering, queue_manager
from desktop_app.data_manager import DataStore
from desktop_app.gathering.loop import PRIME_DELAY_S, Gatherer, Stop
from desktop_app.gathering.sources import Gone, Priming, Unavailable
from desktop_app.measurement import SeriesKey
from desktop_app.queue_manager import QueueHub, Request, SetRate
from desktop_app.storage.history import HistoryReader

CPU = SeriesKey("cpu", "0", "usage")
MEM = SeriesKey("memory", None, "usage")


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeSource:
    """Serves the given pairs; `behave[key](n)` gives the n-th reading's value or raises. Records reads."""

    def __init__(self, pairs=(("cpu", "usage"), ("memory", "usage")), behave=None) -> None:
        self.serves = frozenset(pairs)
        self.behave = behave or {}
        self.reads: list[tuple[SeriesKey, float]] = []

    def read(self, key, now):
        n = sum(1 for k, _ in self.reads if k == key)
        self.reads.append((key, now))
        return self.behave.get(key, lambda n: float(n))(n)

    def times(self, key) -> list[float]:
        return [t for k, t in self.reads if k == key]


def raises(exc):
    def behave(n):
        raise exc

    return behave


def make(source, clock, **kw) -> Gatherer:
    """A gatherer on its own stores (not the global API's), driven by `clock`."""
    kw.setdefault("data", DataStore())
    kw.setdefault("queues", QueueHub())
    return Gatherer([source], clock=clock, **kw)


def series_records(caplog, key, level=logging.WARNING):
    return [r for r in caplog.records if r.levelno >= level and str(key) in r.getMessage()]


# -- scheduling with a fake clock -----------------------------------------------------------------
@pytest.mark.parametrize("delay_ms", [50, 100, 333, 1000])
def test_no_drift_over_100_ticks(delay_ms):
    """After the first, each tick is due on the rate's grid (multiples of the delay) however late the
    previous one ran, and none is skipped: a 1 s plot stays on the second."""
    clock, src = Clock(), FakeSource()
    g = make(src, clock)
    start, step = clock.t, delay_ms / 1000
    g.handle(SetRate(CPU, delay_ms))
    max_late = 0.037
    for k in range(100):
        wait = g.run_once(clock.t)
        clock.t += wait + ((k * 7919) % 37) / 1000  # the thread wakes up to 36 ms late
    times = src.times(CPU)
    assert len(times) == 100 and times[0] == start, "a new rate measures at once"
    ticks = [math.floor(t / step + 1e-6) for t in times[1:]]
    assert ticks == list(range(ticks[0], ticks[0] + 99)), "one measurement per grid tick, none skipped"
    for tick, t in zip(ticks, times[1:]):
        lateness = t - tick * step
        assert -1e-9 <= lateness < max_late, f"tick {tick} ran {lateness * 1000:.1f} ms off its due time"


def test_series_of_one_rate_tick_together_whenever_their_rate_was_set():
    """Two 1 s series set 0.3 s apart are measured in the same pass from their next tick on, so the
    window repaints once a second rather than once per series."""
    clock, src = Clock(), FakeSource()
    g = make(src, clock)
    g.handle(SetRate(CPU, 1000))
    g.run_once(clock.t)
    clock.t += 0.3
    g.handle(SetRate(MEM, 1000))
    for _ in range(5):
        clock.t += g.run_once(clock.t)
    cpu, mem = src.times(CPU), src.times(MEM)
    assert mem[0] == pytest.approx(cpu[0] + 0.3), "each measured at once when its rate was set"
    assert cpu[1:5] == mem[1:5]
    assert [b - a for a, b in zip(cpu[1:4], cpu[2:5])] == pytest.approx([1.0] * 3)


@pytest.mark.parametrize("delay_ms", [50, 100, 1000])
@pytest.mark.parametrize("late_ticks", [1.5, 2, 3, 5.5, 10, 37, 100])
def test_missed_ticks_are_skipped_not_burst(delay_ms, late_ticks):
    """After a stall (load, suspend) the series measures once and returns to its phase; no catch-up burst."""
    clock, src = Clock(), FakeSource()
    g = make(src, clock)
    start, step = clock.t, delay_ms / 1000
    g.handle(SetRate(CPU, delay_ms))
    g.run_once(start)
    clock.t = start + late_ticks * step
    wait = g.run_once(clock.t)
    assert len(src.times(CPU)) == 2, "one measurement for the whole stall"
    assert wait > 0
    ticks_passed = int(late_ticks + 1e-9)
    assert clock.t + wait == pytest.approx(start + (ticks_passed + 1) * step, abs=1e-6), "back on the phase"
    assert g.run_once(clock.t) == pytest.approx(wait)
    assert len(src.times(CPU)) == 2


def test_wait_is_until_the_earliest_due_series():
    """The loop sleeps exactly until the next due series, whichever it is: no fixed tick."""
    clock, src = Clock(), FakeSource()
    g = make(src, clock)
    g.handle(SetRate(CPU, 1000))
    g.handle(SetRate(MEM, 400))
    assert g.run_once(clock.t) == pytest.approx(0.4)
    clock.t += 0.4
    assert g.run_once(clock.t) == pytest.approx(0.4)
    clock.t += 0.4
    assert g.run_once(clock.t) == pytest.approx(0.2)
    clock.t += 0.2
    assert g.run_once(clock.t) == pytest.approx(0.2)
    assert len(src.times(CPU)) == 2 and len(src.times(MEM)) == 3


def test_nothing_scheduled_waits_for_a_message():
    """With no rate set the loop has no timeout at all: an idle app costs nothing."""
    g = make(FakeSource(), Clock())
    assert g.run_once() is None


def test_rate_zero_stops_the_series():
    clock, src = Clock(), FakeSource()
    g = make(src, clock)
    g.handle(SetRate(CPU, 100))
    g.handle(SetRate(MEM, 100))
    for _ in range(5):
        clock.t += g.run_once(clock.t)
    g.handle(SetRate(CPU, 0))
    before = len(src.times(CPU))
    for _ in range(20):
        clock.t += g.run_once(clock.t)
    assert len(src.times(CPU)) == before
    assert CPU not in g.rates and g.rates == {MEM: 100}
    g.handle(SetRate(MEM, 0))
    assert g.run_once(clock.t + 100) is None


def test_rate_zero_of_a_series_never_set_is_harmless():
    g = make(FakeSource(), Clock())
    g.handle(SetRate(CPU, 0))
    assert g.rates == {} and g.run_once() is None


def test_setting_the_same_rate_again_takes_no_extra_measurement():
    """A UI re-sending the current rate (page switch, slider release) must not add a sample off the phase."""
    clock, src = Clock(), FakeSource()
    g = make(src, clock)
    g.handle(SetRate(CPU, 1000))
    g.run_once(clock.t)
    clock.t += 0.4
    g.handle(SetRate(CPU, 1000))
    assert g.run_once(clock.t) == pytest.approx(0.6)
    assert len(src.times(CPU)) == 1


def test_a_faster_rate_starts_at_once_and_a_slower_one_waits_for_its_grid():
    clock, src = Clock(), FakeSource()
    g = make(src, clock)
    start = clock.t
    g.handle(SetRate(CPU, 1000))
    g.run_once(start)
    clock.t = start + 0.4
    g.handle(SetRate(CPU, 200))  # faster: the user wants to see it now
    assert g.run_once(clock.t) == pytest.approx(0.2)
    assert src.times(CPU) == [start, start + 0.4]
    clock.t = start + 0.5
    g.handle(SetRate(CPU, 5000))  # slower: no extra measurement; the next on its grid, over 2.5 s after the last
    assert clock.t + g.run_once(clock.t) == pytest.approx(start + 5.0)
    assert len(src.times(CPU)) == 2


def test_request_measures_at_once_and_only_once():
    clock, src = Clock(), FakeSource()
    g = make(src, clock)
    g.handle(Request(MEM))
    assert src.times(MEM) == [clock.t]
    assert g.run_once(clock.t + 10) is None
    assert len(src.times(MEM)) == 1 and g.rates == {}


def test_priming_retries_after_a_tenth_of_a_second():
    """A counter's first reading gives no value; the gatherer reads again 0.1 s later and publishes that."""
    def first_primes(n):
        if n == 0:
            raise Priming(CPU)
        return 37.0

    clock, src = Clock(), FakeSource(behave={CPU: first_primes})
    data, queues = DataStore(), QueueHub()
    queues.open(CPU)  # as requestData does
    g = make(src, clock, data=data, queues=queues)
    t0 = clock.t
    g.handle(Request(CPU))
    assert data.get(CPU) is None
    assert g.run_once(t0) == pytest.approx(PRIME_DELAY_S)
    g.run_once(t0 + PRIME_DELAY_S * 0.9)
    assert len(src.times(CPU)) == 1
    clock.t = t0 + PRIME_DELAY_S
    assert g.run_once(clock.t) is None  # a request is served once
    assert data.get(CPU)["value"] == 37.0
    assert queues.read(CPU)["value"] == 37.0
    assert queues.read(CPU) is None


def test_priming_on_a_rate_then_the_rate_continues():
    def first_primes(n):
        if n == 0:
            raise Priming(CPU)
        return float(n)

    clock, src = Clock(), FakeSource(behave={CPU: first_primes})
    g = make(src, clock)
    t0 = clock.t
    g.handle(SetRate(CPU, 1000))
    for _ in range(4):
        clock.t += g.run_once(clock.t)
    times = src.times(CPU)
    assert times[:2] == pytest.approx([t0, t0 + PRIME_DELAY_S])
    assert times[2:] == pytest.approx([t0 + 1.0, t0 + 2.0]), "then on the 1 s grid"
    assert g.measured == 3


def test_each_measurement_goes_to_data_manager_then_queue_then_history():
    """When the history hears of a value, data_manager and the queue already have it (the UI never lags the DB)."""
    seen, at_put = [], []
    data = DataStore()

    class Queues(QueueHub):
        def put(self, key, measurement, open_queue=True):
            at_put.append(data.get(key))
            super().put(key, measurement, open_queue)

    queues = Queues()
    queues.open(MEM)  # as requestData does

    class History:
        def append(self, key, ts, value):
            queued = queues.drain({key}).get(key, [])
            seen.append((data.get(key), queued, {"timestamp": ts, "value": value}))

    clock = Clock()
    g = Gatherer([FakeSource()], history=History(), data=data, queues=queues, clock=clock)
    g.handle(Request(MEM))
    g.handle(Request(MEM))
    assert len(seen) == 2
    assert at_put == [stored for _, _, stored in seen], "a queue reader must find data_manager up to date"
    for last, queued, stored in seen:
        assert last == stored
        assert queued == [stored]
        assert isinstance(stored["timestamp"], int)
        assert abs(stored["timestamp"] - time.time() * 1000) < 5000  # wall-clock ms, not the monotonic clock


FAILURES = {
    "exception": lambda: raises(RuntimeError("sensor driver crashed")),
    "oserror": lambda: raises(OSError(5, "Input/output error")),
    "unavailable": lambda: raises(Unavailable("interface eth9 is not present")),
    "not exposed": lambda: (lambda n: None),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failing_series_is_logged_once_and_does_not_stop_the_loop(caplog, failure):
    """A broken sensor costs its own measurements; the log gets one line, not one per second forever."""
    caplog.set_level(logging.DEBUG)
    problems = []
    clock = Clock()
    src = FakeSource(behave={CPU: FAILURES[failure]()})
    data, queues = DataStore(), QueueHub()
    g = make(src, clock, data=data, queues=queues, on_problem=lambda key, msg: problems.append((key, msg)))
    g.handle(SetRate(CPU, 100))
    g.handle(SetRate(MEM, 100))
    for _ in range(50):
        clock.t += g.run_once(clock.t)
    assert len(src.times(MEM)) == 50, "the healthy series kept its rate"
    assert len(src.times(CPU)) == 50, "the failing one is still tried: it may come back"
    assert data.get(CPU) is None and queues.read(CPU) is None
    assert len(series_records(caplog, CPU)) == 1
    assert list(g.problems()) == [CPU]
    assert [k for k, _ in problems] == [CPU] and problems[0][1]
    assert g.rates == {CPU: 100, MEM: 100}

    src.behave[CPU] = lambda n: 12.5  # it recovers
    clock.t += g.run_once(clock.t) or 0
    clock.t += g.run_once(clock.t) or 0
    assert data.get(CPU)["value"] == 12.5
    assert g.problems() == {}
    assert problems[-1] == (CPU, None)
    assert len(series_records(caplog, CPU, logging.INFO)) == 2  # the failure and the recovery


def test_an_exception_is_logged_with_its_traceback_once(caplog):
    """The first failure carries the traceback a bug report needs; repeats stay silent."""
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    g = make(FakeSource(behave={CPU: raises(ZeroDivisionError("boom"))}), clock)
    g.handle(SetRate(CPU, 100))
    for _ in range(10):
        clock.t += g.run_once(clock.t)
    records = series_records(caplog, CPU, logging.DEBUG)
    assert len(records) == 1
    assert records[0].exc_info and records[0].exc_info[0] is ZeroDivisionError
    assert "boom" in records[0].getMessage() or "boom" in caplog.text


def test_gone_stops_the_rate_and_is_logged_once(caplog):
    caplog.set_level(logging.DEBUG)
    proc = SeriesKey("process", "4242", "memusage")

    def exits_after_three(n):
        if n >= 3:
            raise Gone("process 4242 has ended")
        return 1.0

    clock = Clock()
    src = FakeSource(pairs=[("process", "memusage"), ("memory", "usage")], behave={proc: exits_after_three})
    g = make(src, clock)
    g.handle(SetRate(proc, 100))
    g.handle(SetRate(MEM, 100))
    for _ in range(40):
        clock.t += g.run_once(clock.t)
    assert len(src.times(proc)) == 4
    assert g.rates == {MEM: 100}
    assert len(series_records(caplog, proc)) == 1
    assert "has ended" in series_records(caplog, proc)[0].getMessage()


def test_a_series_without_a_source_is_reported_not_raised(caplog):
    """No GPU driver here: asking for a GPU yields no measurement and one clear line, never an exception."""
    caplog.set_level(logging.DEBUG)
    gpu = SeriesKey("gpu", "0", "usage")
    clock, data = Clock(), DataStore()
    g = make(FakeSource(), clock, data=data)
    g.handle(Request(gpu))
    g.handle(Request(gpu))
    g.handle(SetRate(gpu, 100))
    for _ in range(5):
        clock.t += g.run_once(clock.t)
    assert data.get(gpu) is None
    records = series_records(caplog, gpu)
    assert len(records) == 1 and "no source" in records[0].getMessage()


def test_default_set_follows_the_system_lists():
    """Headless and the Overview gather every core, disk, partition and interface the system lists name,
    and pick up a new one (a USB NIC plugged in) at the next list refresh; never per-process series."""
    lists = {"cpus": ["0"], "cpucores": ["0", "1"], "gpus": [], "partitions": ["/"],
             "processes": ["1", "2"], "networks": ["eth0", "lo"], "disks": ["sda"]}

    def value(spec, args):
        if spec.component == "system":
            return lambda n: list(lists[spec.name])
        return {"number": lambda n: 1.0, "text": lambda n: "x", "list": lambda n: []}[spec.kind.value]

    class Everything(FakeSource):
        def read(self, key, now):
            self.reads.append((key, now))
            return value(key.spec, key.args)(0)

    clock = Clock()
    src = Everything(pairs=catalog.METRICS)
    g = make(src, clock, follow_defaults=True)
    clock.t += g.run_once(clock.t)
    g.run_once(clock.t)  # new series come through the control queue: publish may run on a source thread
    rates = g.rates
    for core in lists["cpucores"]:
        assert rates[SeriesKey("cpucore", core, "usage")] == catalog.metric("cpucore", "usage").default_rate_ms
    for nic in lists["networks"]:
        assert SeriesKey("network", nic, "receivepersec") in rates
    assert SeriesKey("partition", "/", "usage") in rates and SeriesKey("disk", "sda", "readpersec") in rates
    assert SeriesKey("memory", None, "usage") in rates and SeriesKey("cpu", "0", "usage") in rates
    assert not [k for k in rates if k.component in ("process", "gpu")]
    assert not [k for k in rates if k.spec.default_rate_ms == catalog.RATE_OFF]

    lists["networks"].append("usb0")
    deadline = clock.t + 30
    while SeriesKey("network", "usb0", "receivepersec") not in g.rates and clock.t < deadline:
        clock.t += g.run_once(clock.t)
    assert SeriesKey("network", "usb0", "transmitpersec") in g.rates


def test_run_loop_survives_a_raising_source_and_stops_on_request():
    """The real loop on a thread: one series raising on every read does not end the thread."""
    queues = QueueHub()
    src = FakeSource(behave={CPU: raises(RuntimeError("bad"))})
    g = Gatherer([src], data=DataStore(), queues=queues)
    thread = threading.Thread(target=g.run, name="opserv-test-gatherer", daemon=True)
    thread.start()
    try:
        queues.control.put(SetRate(CPU, 50))
        queues.control.put(SetRate(MEM, 50))
        got = [queues.read(MEM, blocking=True, timeout=2) for _ in range(5)]
        assert all(x is not None for x in got)
        assert thread.is_alive() and len(src.times(CPU)) >= 4
    finally:
        queues.control.put(Stop())
        thread.join(5)
    assert not thread.is_alive()


# -- the real thread on real sources --------------------------------------------------------------
@pytest.fixture
def gatherer(db_path):
    handle = gathering.start(defaults=False, db_path=db_path)
    try:
        yield handle
    finally:
        handle.stop()


def read_blocking(component, metric, args=None, timeout=3.0):
    return queue_manager.readMeasurementFromQueue(component, metric, args, blocking=True, timeout=timeout)


@pytest.mark.parametrize(
    "component,metric,args",
    [
        ("memory", "usage", None),
        ("cpu", "usage", None),  # primes first: served 0.1 s later
        ("cpucore", "usage", "0"),
        ("network", "transmitpersec", sorted(psutil.net_io_counters(pernic=True))[0]),
        ("partition", "used", "/"),
        ("system", "cpucores", None),
        ("process", "name", str(os.getpid())),
    ],
)
def test_request_data_lands_in_queue_data_manager_and_history(gatherer, db_path, component, metric, args):
    queue_manager.requestData(component, metric, args)
    got = read_blocking(component, metric, args)
    assert got is not None, "no measurement within 3 s"
    assert data_manager.getMeasurement(component, metric, args) == got
    assert abs(got["timestamp"] - time.time() * 1000) < 5000
    gatherer.stop()
    key = SeriesKey.parse(f"{component}/{args or ''}/{metric}")
    assert HistoryReader(db_path).raw(key) == [(got["timestamp"], got["value"])]


def test_request_is_served_within_milliseconds(gatherer):
    """A refresh click must not wait for a tick: the idle loop wakes on the control queue."""
    latencies = []
    for _ in range(5):
        start = time.monotonic()
        queue_manager.requestData("memory", "used")
        assert read_blocking("memory", "used") is not None
        latencies.append(time.monotonic() - start)
    assert statistics.median(latencies) < 0.1, latencies


def test_rate_of_100_ms_for_2_s_gives_about_20_samples_then_0_stops(gatherer):
    queue_manager.setGatheringRate("memory", "usage", 100)
    time.sleep(2.0)
    queue_manager.setGatheringRate("memory", "usage", 0)
    queue_manager.requestData("memory", "total")  # control messages are served in order: a barrier
    assert read_blocking("memory", "total") is not None
    key = SeriesKey("memory", None, "usage")
    samples = queue_manager.hub.drain({key}).get(key, [])
    assert 17 <= len(samples) <= 23, len(samples)
    stamps = [s["timestamp"] for s in samples]
    assert stamps == sorted(stamps)
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert statistics.median(gaps) == pytest.approx(100, abs=15)
    time.sleep(0.5)
    assert queue_manager.readMeasurementFromQueue("memory", "usage") is None, "rate 0 must stop the series"


def test_idle_gatherer_thread_uses_no_cpu(gatherer):
    """No busy wait and no fixed tick: with nothing to gather the thread sleeps."""
    native = next(t.native_id for t in threading.enumerate() if t.name == "opserv-gatherer")
    me = psutil.Process()

    def cpu_seconds():
        return next(t.user_time + t.system_time for t in me.threads() if t.id == native)

    before = cpu_seconds()
    time.sleep(1.0)
    assert cpu_seconds() - before < 0.02


def test_stop_is_prompt_and_joins_the_thread(db_path):
    handle = gathering.start(defaults=False, db_path=db_path)
    queue_manager.setGatheringRate("memory", "usage", 10_000)
    start = time.monotonic()
    handle.stop()
    assert time.monotonic() - start < 1.0
    assert not handle.alive


def test_stopping_twice_does_not_stop_the_next_gatherer(db_path, tmp_path):
    """A second stop() (a finally after an explicit stop) must not leave a Stop for the next run to trip on."""
    first = gathering.start(defaults=False, db_path=db_path)
    first.stop()
    first.stop()
    second = gathering.start(defaults=False, db_path=tmp_path / "second.sqlite3")
    try:
        queue_manager.requestData("memory", "usage")
        assert read_blocking("memory", "usage") is not None
        assert second.alive
    finally:
        second.stop()


def test_an_exited_process_stops_its_rate_and_is_logged_once(gatherer, child, caplog):
    caplog.set_level(logging.INFO)
    pid = str(child.pid)
    queue_manager.setGatheringRate("process", "memusage", 50, pid)
    assert read_blocking("process", "memusage", pid)["value"] > 0
    child.kill()
    child.wait()
    key = SeriesKey("process", pid, "memusage")
    deadline = time.monotonic() + 3
    while key in gatherer.gatherer.rates and time.monotonic() < deadline:
        time.sleep(0.02)
    assert key not in gatherer.gatherer.rates
    queue_manager.hub.drain({key})
    time.sleep(0.3)
    assert queue_manager.readMeasurementFromQueue("process", "memusage", pid) is None
    assert len(series_records(caplog, key)) == 1
    assert gatherer.alive


def test_a_gpu_request_without_a_gpu_logs_once(gatherer, caplog):
    """On a machine without NVML, system.gpus is [] and a GPU request yields nothing and one log line."""
    caplog.set_level(logging.INFO)
    queue_manager.requestData("system", "gpus")
    gpus = read_blocking("system", "gpus")["value"]
    if gpus:
        pytest.skip(f"this machine has GPUs {gpus}")
    for _ in range(3):
        queue_manager.requestData("gpu", "usage", "0")
    queue_manager.requestData("memory", "usage")  # barrier: served after the three GPU requests
    assert read_blocking("memory", "usage") is not None
    assert queue_manager.readMeasurementFromQueue("gpu", "usage", "0") is None
    assert data_manager.getMeasurement("gpu", "usage", "0") is None
    records = series_records(caplog, SeriesKey("gpu", "0", "usage"))
    assert len(records) == 1 and "GPU" in records[0].getMessage()
    assert gatherer.alive
