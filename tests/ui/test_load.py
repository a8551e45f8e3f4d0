"""Load: 200 series at 50 ms for two minutes with the window open (issue 6).

Queues stay within their bounds, the gatherer thread lives, and the window stays responsive:
the lateness of a 10 ms QTimer in the GUI thread has a p99 of at most 50 ms.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from PySide6.QtCore import QTimer

from desktop_app import catalog, data_manager, queue_manager
from desktop_app.measurement import SeriesKey
from tests.ui.conftest import points, widget_of

DURATION_MS = int(os.environ.get("OPSERV_LOAD_MS", 120_000))  # shorter for a quick local look
CHILDREN = 66  # 3 series each, plus interfaces, memory and cores: 200 in all


@pytest.fixture
def children():
    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) for _ in range(CHILDREN)]
    yield [str(p.pid) for p in procs]
    for p in procs:
        p.kill()
        p.wait()


def two_hundred_series(window, pids: list[str]) -> list[SeriesKey]:
    keys = [SeriesKey("process", pid, m) for pid in pids for m in ("cpuusage", "memusage", "name")]
    for nic in window.lists["networks"]:
        keys += [SeriesKey("network", nic, m) for m in ("receivepersec", "transmitpersec")]
    keys += [SeriesKey("memory", None, m.name) for m in catalog.metrics_of("memory")]
    keys += [SeriesKey("cpucore", c, "usage") for c in window.lists["cpucores"]]
    return keys[:200]


@pytest.mark.timeout(DURATION_MS // 1000 + 120)
def test_two_hundred_series_at_50_ms_for_two_minutes(qtbot, open_window, children):
    window = open_window()
    keys = two_hundred_series(window, children)
    assert len(keys) == 200
    for key in keys:
        queue_manager.setGatheringRate(key.component, key.metric, 50, key.args)

    lateness: list[float] = []
    last = [time.monotonic()]

    def on_tick():
        now = time.monotonic()
        lateness.append(now - last[0] - 0.010)
        last[0] = now

    probe = QTimer(interval=10)
    probe.timeout.connect(on_tick)
    probe.start()
    overview = widget_of(window, "overview.memory")
    before = points(overview)
    qtbot.wait(DURATION_MS)  # the load runs for its full duration: this is the measurement window
    probe.stop()

    assert window.gatherer_thread.isRunning()
    p99 = float(np.percentile(lateness, 99)) * 1000
    assert p99 <= 50, f"event loop p99 lateness {p99:.1f} ms (max {max(lateness) * 1000:.0f} ms)"
    assert points(overview) > before  # live plots kept moving
    for key in keys[:5]:  # every series is still being measured now
        last_ts = data_manager.getMeasurement(key.component, key.metric, key.args)["timestamp"]
        assert time.time() * 1000 - last_ts < 2_000, key
    hub = queue_manager.hub
    for key in keys:
        pending = hub._queues[key].items if key in hub._queues else ()
        assert len(pending) <= hub.maxsize
    measured = window.gatherer_thread.gatherer.measured
    assert measured >= 0.5 * 200 * 20 * DURATION_MS / 1000, measured  # at least half the asked-for rate
