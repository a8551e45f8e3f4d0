"""The bridge between the gatherer's queues and the plots: it sleeps until a measurement arrives."""
from __future__ import annotations

import threading

from desktop_app.measurement import SeriesKey, now_ms
from desktop_app.queue_manager import QueueHub
from desktop_app.ui.bridge import Bridge

MEM = SeriesKey("memory", None, "usage")


class Recorder:
    def __init__(self) -> None:
        self.values: list[float] = []
        self.redraws = 0

    def on_measurements(self, key, items) -> None:
        self.values += [m["value"] for m in items]

    def redraw(self) -> None:
        self.redraws += 1


class CountingHub(QueueHub):
    """The real hub, counting the bridge's drains (what a poll would cost)."""

    def __init__(self) -> None:
        super().__init__()
        self.drains = 0

    def drain(self, keys=None, wake=None):
        self.drains += 1
        return super().drain(keys, wake)


def test_an_idle_bridge_does_not_wake_and_a_measurement_wakes_it(qtbot):
    """With nothing arriving the bridge takes no turn at all (a 30 Hz poll cost ~0.4 % of a core in
    wake-ups alone); a measurement put from the gatherer's side is drawn within a frame or two, and
    measurements of one burst are drawn together."""
    hub = CountingHub()
    bridge = Bridge(None, hub=hub)
    recorder = Recorder()
    bridge.subscribe(recorder, [MEM])
    bridge.start()
    try:
        qtbot.wait(300)  # an idle stretch: the event loop runs, nothing arrives
        idle_drains = hub.drains
        assert idle_drains <= 2, f"{idle_drains} drains while idle"

        start = now_ms()
        burst_items = [{"timestamp": start + i, "value": value} for i, value in enumerate((1.0, 2.0, 3.0))]

        def burst():
            for item in burst_items:
                hub.put(MEM, item)

        threading.Thread(target=burst).start()
        qtbot.waitUntil(lambda: recorder.values == [1.0, 2.0, 3.0], timeout=1000)
        assert recorder.redraws == 1, "one burst, one redraw"
        assert bridge.buffers[MEM].last()[1] == 3.0
        assert hub.drains - idle_drains == 1
    finally:
        bridge.stop()
    hub.put(MEM, {"timestamp": now_ms(), "value": 4.0})  # a stopped bridge is not rung
    qtbot.wait(100)
    assert recorder.values == [1.0, 2.0, 3.0]
