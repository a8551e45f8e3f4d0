"""The seed's public API: data_manager and queue_manager, their aliases, bounds and error messages."""
from __future__ import annotations

import logging
import math
import threading
import time

import pytest

from desktop_app import catalog, data_manager, queue_manager
from desktop_app.gathering.loop import Gatherer
from desktop_app.measurement import SeriesKey, now_ms
from desktop_app.queue_manager import MIN_RATE_MS, QueueHub, Request, SetRate


def m(value, ts=None):
    return {"timestamp": now_ms() if ts is None else ts, "value": value}


def control_messages() -> list:
    out = []
    while not queue_manager.hub.control.empty():
        out.append(queue_manager.hub.control.get_nowait())
    return out


@pytest.mark.parametrize(
    "module,camel,snake",
    [
        (data_manager, "getMeasurement", "get_measurement"),
        (data_manager, "setMeasurement", "set_measurement"),
        (queue_manager, "readMeasurementFromQueue", "read_measurement_from_queue"),
        (queue_manager, "putMeasurementIntoQueue", "put_measurement_into_queue"),
        (queue_manager, "requestData", "request_data"),
        (queue_manager, "setGatheringRate", "set_gathering_rate"),
    ],
)
def test_seed_names_and_snake_case_aliases_are_the_same_functions(module, camel, snake):
    """Code written against the seed document (camelCase) and PEP 8 code must reach the same API."""
    assert callable(getattr(module, camel))
    assert getattr(module, snake) is getattr(module, camel)


def test_get_measurement_is_none_until_gathered():
    assert data_manager.getMeasurement("cpu", "usage") is None
    assert data_manager.get_measurement("partition", "free", args="/") is None


def test_set_then_get_returns_the_measurement_with_an_int_ms_timestamp():
    ts = time.time() * 1000  # a float in ms, as a caller might compute it
    data_manager.setMeasurement("memory", "usage", {"timestamp": ts, "value": 42.5})
    got = data_manager.getMeasurement("memory", "usage")
    assert got == {"timestamp": int(ts), "value": 42.5}
    assert isinstance(got["timestamp"], int)


def test_cpu_args_default_to_the_whole_processor():
    """cpu's args default to "0": setting without args and reading with "0" (or 0) is the same series."""
    data_manager.setMeasurement("cpu", "usage", m(10.0))
    assert data_manager.getMeasurement("cpu", "usage", "0") == data_manager.getMeasurement("cpu", "usage", 0)
    assert data_manager.getMeasurement("cpu", "usage", "0")["value"] == 10.0


def test_series_are_kept_apart_by_args_and_metric():
    data_manager.setMeasurement("cpucore", "usage", m(1.0), args="0")
    data_manager.setMeasurement("cpucore", "usage", m(2.0), args="1")
    data_manager.setMeasurement("cpucore", "frequency", m(3.0), args="1")
    assert [data_manager.getMeasurement("cpucore", "usage", a)["value"] for a in ("0", "1")] == [1.0, 2.0]
    assert data_manager.getMeasurement("cpucore", "frequency", "1")["value"] == 3.0
    assert data_manager.getMeasurement("cpucore", "frequency", "0") is None


def test_get_measurement_returns_a_copy():
    """A caller that edits what it got must not change what the next caller gets."""
    data_manager.setMeasurement("memory", "used", m(100.0))
    got = data_manager.getMeasurement("memory", "used")
    got["value"] = -1
    assert data_manager.getMeasurement("memory", "used")["value"] == 100.0


@pytest.mark.parametrize(
    "component,metric,value,args",
    [
        ("cpu", "info", "Some CPU @ 3 GHz", None),
        ("system", "cpucores", ["0", "1"], None),
        ("process", "memusage", 123456, "1"),
        ("partition", "usage", 55.5, "/"),
    ],
)
def test_values_of_every_kind_are_accepted(component, metric, value, args):
    data_manager.setMeasurement(component, metric, m(value, 5), args)
    queue_manager.putMeasurementIntoQueue(component, metric, m(value, 5), args)
    assert data_manager.getMeasurement(component, metric, args) == {"timestamp": 5, "value": value}
    assert queue_manager.readMeasurementFromQueue(component, metric, args) == {"timestamp": 5, "value": value}


def test_queue_is_fifo_and_empty_read_returns_none():
    for i in range(5):
        queue_manager.putMeasurementIntoQueue("memory", "usage", m(float(i), ts=1000 + i))
    got = [queue_manager.readMeasurementFromQueue("memory", "usage") for _ in range(5)]
    assert [x["value"] for x in got] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert queue_manager.readMeasurementFromQueue("memory", "usage") is None


def test_full_queue_drops_the_oldest_and_counts_drops():
    """A series nobody reads keeps the newest 10 000 measurements, not an ever-growing backlog."""
    extra = 7
    total = queue_manager.DEFAULT_MAXSIZE + extra
    for i in range(total):
        queue_manager.putMeasurementIntoQueue("memory", "used", m(float(i), ts=i))
    key = SeriesKey("memory", None, "used")
    assert queue_manager.hub.drops(key) == extra
    first = queue_manager.readMeasurementFromQueue("memory", "used")
    assert first["timestamp"] == extra  # the oldest ones went
    rest = queue_manager.hub.drain({key})[key]
    assert len(rest) == queue_manager.DEFAULT_MAXSIZE - 1
    assert rest[-1]["timestamp"] == total - 1  # the newest is kept


@pytest.mark.parametrize("maxsize,puts", [(1, 3), (5, 5), (5, 6), (5, 50)])
def test_bounded_queue_keeps_the_newest(maxsize, puts):
    hub = QueueHub(maxsize=maxsize)
    key = SeriesKey("memory", None, "usage")
    for i in range(puts):
        hub.put(key, m(float(i), ts=i))
    kept = [hub.read(key)["timestamp"] for _ in range(min(maxsize, puts))]
    assert kept == list(range(max(0, puts - maxsize), puts))
    assert hub.read(key) is None
    assert hub.drops(key) == max(0, puts - maxsize)


def test_blocking_read_times_out_with_none():
    start = time.monotonic()
    got = queue_manager.readMeasurementFromQueue("memory", "usage", blocking=True, timeout=0.3)
    elapsed = time.monotonic() - start
    assert got is None
    assert 0.25 <= elapsed < 2.0


def test_blocking_read_wakes_when_a_measurement_arrives():
    """A real-time consumer blocked on a series gets the value as soon as it is put, not at the timeout."""
    put_at = []

    def producer():
        time.sleep(0.2)
        put_at.append(time.monotonic())
        queue_manager.putMeasurementIntoQueue("memory", "usage", m(12.0))

    t = threading.Thread(target=producer)
    t.start()
    try:
        got = queue_manager.readMeasurementFromQueue("memory", "usage", blocking=True, timeout=10)
        woke = time.monotonic()
    finally:
        t.join()
    assert got["value"] == 12.0
    assert woke - put_at[0] < 1.0


def test_blocking_read_of_one_series_ignores_puts_to_another():
    def producer():
        time.sleep(0.05)
        queue_manager.putMeasurementIntoQueue("memory", "used", m(1.0))

    t = threading.Thread(target=producer)
    t.start()
    try:
        assert queue_manager.readMeasurementFromQueue("memory", "usage", blocking=True, timeout=0.3) is None
    finally:
        t.join()
    assert queue_manager.readMeasurementFromQueue("memory", "used")["value"] == 1.0


def test_concurrent_puts_and_reads_lose_nothing():
    """All thread-safe: four writers and one reader, every measurement read exactly once."""
    writers, per_writer = 4, 500
    seen = []

    def write(w):
        for i in range(per_writer):
            queue_manager.putMeasurementIntoQueue("cpucore", "usage", m(float(i), ts=w * per_writer + i), args="0")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(seen) < writers * per_writer and time.monotonic() < deadline:
        got = queue_manager.readMeasurementFromQueue("cpucore", "usage", "0", blocking=True, timeout=0.5)
        if got is not None:
            seen.append(got["timestamp"])
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(writers * per_writer))


def test_drain_takes_everything_pending_once():
    """The GUI bridge drains all series in one step per tick; a second drain finds nothing."""
    queue_manager.putMeasurementIntoQueue("memory", "usage", m(1.0))
    queue_manager.putMeasurementIntoQueue("memory", "usage", m(2.0))
    queue_manager.putMeasurementIntoQueue("cpu", "usage", m(3.0))
    drained = queue_manager.hub.drain()
    assert {k: [x["value"] for x in v] for k, v in drained.items()} == {
        SeriesKey("memory", None, "usage"): [1.0, 2.0],
        SeriesKey("cpu", "0", "usage"): [3.0],
    }
    assert queue_manager.hub.drain() == {}
    assert queue_manager.readMeasurementFromQueue("memory", "usage") is None


def test_a_drain_can_arm_a_wake_up_for_the_next_measurement_of_its_series(caplog):
    """The GUI sleeps until there is something to take: its drain arms a doorbell that rings once,
    from the putting thread, at the next measurement of one of its series, and never for others."""
    hub = QueueHub()
    mem, cpu = SeriesKey("memory", None, "usage"), SeriesKey("cpu", "0", "usage")
    rung: list[str] = []

    def wake():
        rung.append(threading.current_thread().name)

    assert hub.drain({mem}, wake=wake) == {}
    hub.put(cpu, m(1.0))
    assert rung == [], "not its series"
    putter = threading.Thread(target=lambda: [hub.put(mem, m(v)) for v in (2.0, 3.0)], name="putter")
    putter.start()
    putter.join()
    assert rung == ["putter"], "once, from the putting thread, however many arrive before the next drain"
    assert [x["value"] for x in hub.drain({mem}, wake=wake)[mem]] == [2.0, 3.0]
    hub.put(mem, m(4.0))
    assert len(rung) == 2, "re-armed by the drain"

    hub.drain({mem}, wake=wake)
    hub.clear()
    assert len(rung) == 3, "clearing the queues rings, so a running consumer arms again"

    hub.drain({mem}, wake=wake)
    hub.cancel_wake(wake)
    hub.put(mem, m(5.0))
    assert len(rung) == 3, "a consumer going away disarms its doorbell"

    def broken():
        raise RuntimeError("the window is gone")

    assert [x["value"] for x in hub.drain({mem}, wake=broken)[mem]] == [5.0]
    hub.put(mem, m(6.0))  # a failing doorbell is logged, the measurement is kept
    assert [x["value"] for x in hub.drain({mem})[mem]] == [6.0]
    assert "wake-up callback failed" in caplog.text


def test_request_data_returns_none_at_once_and_asks_the_gatherer():
    start = time.monotonic()
    assert queue_manager.requestData("network", "receivepersec", "eth0") is None
    assert time.monotonic() - start < 0.1
    assert control_messages() == [Request(SeriesKey("network", "eth0", "receivepersec"))]


# -- bad input: each gets its own clear error ------------------------------------------------------
ALL_COMPONENTS = list(catalog.COMPONENTS)
CPU_METRICS = [s.name for s in catalog.metrics_of("cpu")]

API_CALLS = {
    "getMeasurement": lambda c, mt, a: data_manager.getMeasurement(c, mt, a),
    "setMeasurement": lambda c, mt, a: data_manager.setMeasurement(c, mt, m(1.0), a),
    "readMeasurementFromQueue": lambda c, mt, a: queue_manager.readMeasurementFromQueue(c, mt, a),
    "putMeasurementIntoQueue": lambda c, mt, a: queue_manager.putMeasurementIntoQueue(c, mt, m(1.0), a),
    "requestData": lambda c, mt, a: queue_manager.requestData(c, mt, a),
    "setGatheringRate": lambda c, mt, a: queue_manager.setGatheringRate(c, mt, 1000, a),
}


@pytest.mark.parametrize("call", API_CALLS)
@pytest.mark.parametrize(
    "component,metric,args,error,fragments",
    [
        ("ram", "usage", None, ValueError, ["'ram'"] + ALL_COMPONENTS),
        (None, "usage", None, ValueError, ["None"] + ALL_COMPONENTS),
        ("cpu", "load", None, ValueError, ["'load'"] + CPU_METRICS),
        ("cpucore", "usage", None, ValueError, ["cpucore", "needs args", "core index"]),
        ("process", "cpuusage", None, ValueError, ["process", "needs args", "pid"]),
        ("memory", "usage", "0", ValueError, ["memory", "takes no args"]),
        ("network", "info", 3.0, TypeError, ["args", "string or None"]),
    ],
)
def test_every_api_call_rejects_a_bad_series_saying_what_is_allowed(call, component, metric, args, error, fragments):
    with pytest.raises(error) as err:
        API_CALLS[call](component, metric, args)
    for fragment in fragments:
        assert fragment in str(err.value)
    assert control_messages() == []  # nothing half-done reached the gatherer


SHAPE = 'expected {"timestamp"'  # a malformed measurement's error shows the expected dict


@pytest.mark.parametrize(
    "measurement,error,fragments",
    [
        ({"value": 1.0}, ValueError, ["lacks timestamp", "milliseconds"]),
        ({"timestamp": 1}, ValueError, ["lacks value", "number | str | list"]),
        ({}, ValueError, ["timestamp and value"]),
        ({"timestamp": "1700000000000", "value": 1.0}, ValueError, ["'1700000000000'", "number"]),
        ({"timestamp": None, "value": 1.0}, ValueError, ["None"]),
        ({"timestamp": True, "value": 1.0}, ValueError, ["True"]),
        ({"timestamp": math.nan, "value": 1.0}, ValueError, ["nan"]),
        ({"timestamp": -5, "value": 1.0}, ValueError, ["-5", "non-negative"]),
        ({"timestamp": 1, "value": None}, ValueError, ["NoneType", "number | str | list"]),
        ({"timestamp": 1, "value": {"a": 1}}, ValueError, ["dict"]),
        ({"timestamp": 1, "value": True}, ValueError, ["bool"]),
        ({"timestamp": 1, "value": "busy"}, ValueError, ["cpu/0/usage", "number", "str"]),  # wrong kind
        ({"timestamp": 1, "value": [1, 2]}, ValueError, ["cpu/0/usage", "number", "list"]),
        (None, TypeError, ["must be a dict", "NoneType"]),
        (50, TypeError, ["must be a dict", "int"]),
        ([1, 50], TypeError, ["must be a dict", "list"]),
    ],
)
@pytest.mark.parametrize("setter", ["setMeasurement", "putMeasurementIntoQueue"])
def test_bad_measurements_are_rejected_saying_what_is_expected(setter, measurement, error, fragments):
    func = data_manager.setMeasurement if setter == "setMeasurement" else queue_manager.putMeasurementIntoQueue
    with pytest.raises(error) as err:
        func("cpu", "usage", measurement)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message
    if "cpu/0/usage" not in fragments:
        assert SHAPE in message
    # and nothing was stored
    assert data_manager.getMeasurement("cpu", "usage") is None
    assert queue_manager.readMeasurementFromQueue("cpu", "usage") is None


@pytest.mark.parametrize(
    "series,value",
    [(("system", "disks"), "sda"), (("cpu", "info"), 3.5), (("network", "info", "eth0"), ["up"])],
)
def test_a_value_of_the_wrong_kind_names_the_series_and_kind(series, value):
    component, metric, *args = series
    key = SeriesKey.parse(f"{component}/{args[0] if args else ''}/{metric}")
    with pytest.raises(ValueError) as err:
        queue_manager.putMeasurementIntoQueue(component, metric, m(value), *args)
    assert str(key) in str(err.value)
    assert key.spec.kind.value in str(err.value)


# -- gathering rates ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "delayms,error,fragments",
    [
        (-1, ValueError, ["-1", "0 (off)", str(MIN_RATE_MS)]),
        (-0.5, ValueError, ["-0.5", str(MIN_RATE_MS)]),
        (math.inf, ValueError, ["inf"]),
        (math.nan, ValueError, ["nan"]),
        ("1000", TypeError, ["number of milliseconds", "str"]),
        (None, TypeError, ["number of milliseconds", "NoneType"]),
        (True, TypeError, ["number of milliseconds", "bool"]),
        ([100], TypeError, ["list"]),
    ],
)
def test_bad_delays_are_rejected_saying_what_is_allowed(delayms, error, fragments):
    with pytest.raises(error) as err:
        queue_manager.setGatheringRate("cpu", "usage", delayms)
    for fragment in fragments:
        assert fragment in str(err.value)
    assert control_messages() == []


@pytest.mark.parametrize(
    "delayms,applied,warns",
    [
        (0, 0, False),  # 0: off, not clamped
        (1, MIN_RATE_MS, True),
        (10, MIN_RATE_MS, True),
        (49.9, MIN_RATE_MS, True),
        (MIN_RATE_MS, MIN_RATE_MS, False),
        (100, 100, False),
        (250.0, 250, False),
        (60_000, 60_000, False),
    ],
)
def test_delays_below_the_minimum_clamp_to_it_with_a_warning(caplog, delayms, applied, warns):
    """A slider or script asking for 1 ms must not make the gatherer spin; the log says why it is slower."""
    caplog.set_level(logging.WARNING, logger="desktop_app")
    queue_manager.setGatheringRate("cpu", "usage", delayms)
    key = SeriesKey("cpu", "0", "usage")
    assert control_messages() == [SetRate(key, applied)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert bool(warnings) == warns
    if warns:
        assert str(MIN_RATE_MS) in warnings[0].getMessage()
        assert str(delayms) in warnings[0].getMessage()


def test_a_clamped_rate_is_what_the_gatherer_runs():
    """End to end through the control queue: asking for 10 ms gathers every 50 ms."""
    clock = [100.0]
    seen = []

    class Fake:
        serves = frozenset({("memory", "usage")})

        def read(self, key, now):
            seen.append(now)
            return 1.0

    g = Gatherer([Fake()], data=data_manager.DataStore(), queues=QueueHub(), clock=lambda: clock[0])
    queue_manager.setGatheringRate("memory", "usage", 10)
    for message in control_messages():
        g.handle(message)
    while clock[0] < 101.0:
        clock[0] += g.run_once(clock[0])
    assert g.rates == {SeriesKey("memory", None, "usage"): MIN_RATE_MS}
    assert len(seen) == pytest.approx(1.0 / (MIN_RATE_MS / 1000), abs=1)


def test_the_gatherer_fills_only_queues_someone_asked_for(db_path):
    """The headless default set is gathered for the history, but nobody reads its queues: they stay
    empty (no memory), while a series asked for through the API is queued."""
    from desktop_app import gathering

    handle = gathering.start(db_path=db_path)  # the default set
    try:
        queue_manager.setGatheringRate("network", "receivepersec", 100, "lo")
        first = queue_manager.readMeasurementFromQueue("network", "receivepersec", "lo", blocking=True, timeout=5)
        assert first is not None
        assert data_manager.getMeasurement("memory", "usage") is not None  # gathered...
        assert queue_manager.hub.drain({SeriesKey("memory", None, "usage")}) == {}  # ...but not queued
    finally:
        handle.stop()
