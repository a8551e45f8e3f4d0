"""Faults the gatherer must survive: a hanging source, a raising one, a stop while a read hangs."""
from __future__ import annotations

import threading
import time

from desktop_app import data_manager
from desktop_app.gathering import loop
from desktop_app.gathering.loop import Gatherer, Stop
from desktop_app.measurement import SeriesKey
from desktop_app.queue_manager import QueueHub, SetRate

FAST = SeriesKey("memory", None, "usage")
SLOW = SeriesKey("partition", "/mnt/dead-nfs", "usage")


class Fast:
    serves = frozenset({("memory", "usage")})

    def read(self, key, now):
        return 42.0


class Hanging:
    """A partition on a dead network mount: disk_usage() blocks until the mount answers."""

    serves = frozenset({("partition", "usage")})

    def __init__(self):
        self.answer = threading.Event()

    def read(self, key, now):
        self.answer.wait(10)
        return 50.0


def count(hub: QueueHub, key: SeriesKey) -> int:
    return len(hub.drain({key}).get(key, []))


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_hanging_source_stalls_only_its_own_series(monkeypatch):
    monkeypatch.setattr(loop, "HUNG_S", 0.3)
    hub, problems = QueueHub(), {}
    hub.open(FAST)  # as setGatheringRate does
    hub.open(SLOW)
    hanging = Hanging()
    g = Gatherer([Fast(), hanging], data=data_manager.DataStore(), queues=hub, isolate_sources=True,
                 on_problem=lambda key, message: problems.__setitem__(key, message))
    thread = threading.Thread(target=g.run, name="opserv-test-gatherer")
    thread.start()
    try:
        hub.control.put(SetRate(FAST, 100))
        hub.control.put(SetRate(SLOW, 100))
        start = time.monotonic()
        wait_for(lambda: SLOW in problems and problems[SLOW])  # reported once it hangs past HUNG_S
        assert "over" in problems[SLOW]
        fast = count(hub, FAST)
        elapsed = time.monotonic() - start
        assert fast >= 0.6 * elapsed * 10, (fast, elapsed)  # the fast series kept its 100 ms rate
        assert count(hub, SLOW) == 0
        hanging.answer.set()  # the mount answers again
        wait_for(lambda: problems.get(SLOW) is None)
        wait_for(lambda: count(hub, SLOW) > 0)
    finally:
        hanging.answer.set()
        hub.control.put(Stop())
        thread.join(5)
    assert not thread.is_alive()


def test_stop_is_not_held_up_by_a_hanging_read():
    hub = QueueHub()
    hanging = Hanging()
    g = Gatherer([hanging], data=data_manager.DataStore(), queues=hub, isolate_sources=True)
    thread = threading.Thread(target=g.run, name="opserv-test-gatherer")
    thread.start()
    hub.control.put(SetRate(SLOW, 100))
    wait_for(lambda: any(w.started for w in g._workers.values()))
    start = time.monotonic()
    hub.control.put(Stop())
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - start < 2.0  # waited at most its 1 s grace for the stuck read
    hanging.answer.set()
    for worker in g._workers.values():
        worker.stop(5)
