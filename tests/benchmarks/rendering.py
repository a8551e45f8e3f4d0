"""Item 7: rendering, offscreen. A bridge tick that changes 30 visible curves x 3 600 points; a typical
1 Hz tick of the Overview; an idle window beside a bare 30 Hz poll; start-up to the first painted window.

The ticks use the real Bridge, MetricWidget and Page (the window's scrollable grid) on a private
QueueHub: measurements are put into its queues, then one tick is timed from `bridge.drain()`
(buffers, setData, ranges) through `processEvents()` (the repaint), and every plot that changed
is checked to have painted.
"""
from __future__ import annotations

import gc
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QObject  # noqa: E402

from desktop_app.measurement import SeriesKey  # noqa: E402
from desktop_app.queue_manager import QueueHub  # noqa: E402
from tests.benchmarks.common import Load, Result, emit, group_parser, median, percentile, subprocess_env  # noqa: E402

K = SeriesKey


class PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.painted: set[int] = set()

    def eventFilter(self, obj, event):  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Paint:
            self.painted.add(id(obj))
        return False


class Scene:
    """A Page of MetricWidgets fed by a real Bridge from a private hub, buffers prefilled."""

    def __init__(self, app, specs, window_s: int, points: int, size: tuple[int, int], noise: str = "monitor") -> None:
        from desktop_app.ui.bridge import Bridge
        from desktop_app.ui.main_window import Page
        from desktop_app.ui.metric_widget import MetricWidget

        self.app = app
        self.hub = QueueHub()
        self.bridge = Bridge(None, hub=self.hub)
        self.page = Page("bench")
        self.widgets = []
        for spec in specs:
            widget = MetricWidget(spec, self.bridge.buffers, 1000, window_s)
            self.bridge.subscribe(widget, spec.keys)
            self.page.add(widget)
            self.widgets.append(widget)
        self.keys = [k for spec in specs for k in spec.keys if k.spec.is_numeric]
        now = time.time()
        self.rng = np.random.default_rng(1)
        self.noise = noise
        for key in self.keys:
            t = now - points + np.arange(points, dtype=float)
            self.bridge.buffers[key].extend(t, self.values(key, points))
        self.page.resize(*size)
        self.page.show()
        self.counter = PaintCounter()
        for w in self.widgets:
            w.plot.viewport().installEventFilter(self.counter)
        for w in self.widgets:
            w.redraw()
        for _ in range(5):
            app.processEvents()
            time.sleep(0.02)

    def values(self, key: SeriesKey, n: int) -> np.ndarray:
        """Monitor-like samples: a slow random walk with a few % of jitter per sample (a busy core,
        a mostly quiet interface with bursts); or, with noise="uniform", the worst case of every
        sample anywhere in the range."""
        rng = self.rng
        if self.noise == "uniform":
            unit = rng.random(n)
        elif key.spec.unit == "%":
            unit = np.clip(0.3 + np.cumsum(rng.normal(0, 0.01, n)) + rng.normal(0, 0.03, n), 0, 1)
        else:
            unit = np.abs(rng.normal(0.05, 0.02, n)) + (rng.random(n) < 0.05) * rng.random(n)
        return unit * (100.0 if key.spec.unit == "%" else 5e6)

    def visible_plots(self) -> int:
        """Plots whose area lies (at least partly) inside the page's viewport."""
        from PySide6.QtCore import QPoint, QRect

        view = self.page.viewport()
        return sum(1 for w in self.widgets
                   if view.rect().intersects(QRect(w.plot.mapTo(view, QPoint(0, 0)), w.plot.size())))

    def tick(self) -> tuple[float, int]:
        """One measurement per series, then a timed drain + repaint; (ms, plots painted)."""
        ts = int(time.time() * 1000)
        for key in self.keys:
            self.hub.put(key, {"timestamp": ts, "value": float(self.values(key, 1)[0])})
        self.counter.painted.clear()
        t0 = time.perf_counter()
        self.bridge.drain()
        self.app.processEvents()
        return (time.perf_counter() - t0) * 1000, len(self.counter.painted)

    def close(self) -> None:
        self.bridge.stop()
        self.page.close()
        self.page.deleteLater()
        self.app.processEvents()


def _grid_specs():
    """10 widgets x 3 curves: six of % (fixed y range) and four of bytes/s (y fitted to the data)."""
    from desktop_app.ui.metric_widget import WidgetSpec

    specs = []
    for w in range(10):
        if w < 6:
            keys = [K("cpucore", str(3 * w + i), "usage") for i in range(3)]
        else:
            keys = [K("network", f"nic{3 * w + i}", "receivepersec") for i in range(3)]
        specs.append(WidgetSpec(f"bench.{w}", f"Bench {w}", tuple((k, f"s{i}") for i, k in enumerate(keys))))
    return specs


def _overview_specs(every_interface: bool = False):
    """The Overview page this machine shows, from the real system lists; or, as it was before it
    left out the interfaces that are down and the loopback, with every interface."""
    import psutil

    from desktop_app.gathering.sources.gpu import NvmlSource
    from desktop_app.gathering.sources.system import SystemSource
    from desktop_app.ui import pages

    source = SystemSource(psutil, NvmlSource(None))
    lists = {m: source.read(K("system", None, m), 0.0) for m in pages.LIST_METRICS}
    if every_interface:
        lists["activenetworks"] = lists["networks"]
    return pages.overview(lists)


def ticks(app, quick: bool, runs: int) -> list[Result]:
    item = "7 rendering"
    n = 15 if quick else 40
    results = []
    scenarios = [  # name, widgets, window (s), points per curve, page size, data, target, runs, ticks
        ("30 curves x 3600 points, all changed", _grid_specs, 3600, 3600, (1200, 1300), "monitor", 16.0, runs,
         n // 2),
        ("typical 1 Hz tick (Overview, 5 min window)", _overview_specs, 300, 3600, (1050, 780), "monitor", 5.0,
         runs, n),
        ("the same, every interface on the Overview", lambda: _overview_specs(every_interface=True), 300, 3600,
         (1050, 780), "monitor", None, runs, n),
        # Every sample anywhere in its range: few ticks, it is slow.
        ("30 curves x 3600 points, worst-case noise", _grid_specs, 3600, 3600, (1200, 1300), "uniform", None, 1, 2),
    ]
    for name, specs_of, window_s, points, size, noise, target, n_runs, n_ticks in scenarios:
        per_run, painted, visible, all_ms = [], [], [], []
        load = Load()
        for _ in range(n_runs):
            scene = Scene(app, specs_of(), window_s, points, size, noise)
            try:
                for _ in range(3 if n_ticks > 2 else 1):  # warm-up ticks (the slow worst case: one)
                    scene.tick()
                    time.sleep(0.03)
                ms = []
                for _ in range(n_ticks):
                    t, p = scene.tick()
                    ms.append(t)
                    painted.append(p)
                    time.sleep(0.03)
                per_run.append(median(ms))
                all_ms += ms
                visible.append(scene.visible_plots())
                curves = len(scene.keys)
                widgets = len(scene.widgets)
            finally:
                scene.close()
        results.append(Result(
            item, name, "ms", per_run, target, load=load.done(),
            notes=f"{widgets} widgets / {curves} curves, {noise} data, {min(visible)} plots on screen; "
                  f"plots painted per tick "
                  f"{min(painted)}–{max(painted)}; p90 {percentile(all_ms, 90):.1f} ms over {len(all_ms)} ticks"))
    results += idle(app, runs)
    return results


def _gui_thread_cpu(app, seconds: float) -> float:
    """% of a core the GUI thread spends while its event loop runs for `seconds`."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    t0, c0 = time.monotonic(), time.thread_time()
    loop.exec()
    return 100.0 * (time.thread_time() - c0) / (time.monotonic() - t0)


def idle(app, runs: int) -> list[Result]:
    """The Overview with nothing arriving: the bridge's turns and the GUI thread's CPU, beside a
    bare 30 Hz QTimer calling an empty Python slot (the poll the bridge's doorbell replaced)."""
    from PySide6.QtCore import QTimer

    item = "7 rendering"
    load = Load()
    scene = Scene(app, _overview_specs(), 300, 3600, (1050, 780))
    drains = {"n": 0}
    hub_drain = scene.hub.drain

    def counted(*args, **kw):
        drains["n"] += 1
        return hub_drain(*args, **kw)

    scene.hub.drain = counted
    scene.bridge.start()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # settle: the earlier scenes' deletions,
    gc.collect()  # their garbage, and this scene's first paints
    _gui_thread_cpu(app, 2.0)
    idle_cpu, idle_turns, poll_cpu = [], [], []
    widgets = len(scene.widgets)
    try:
        for _ in range(runs):
            before = drains["n"]
            idle_cpu.append(_gui_thread_cpu(app, 5.0))
            idle_turns.append((drains["n"] - before) / 5.0)
            poll = QTimer(interval=33)
            poll.timeout.connect(lambda: None)
            poll.start()
            poll_cpu.append(_gui_thread_cpu(app, 5.0))
            poll.stop()
    finally:
        scene.close()
    load = load.done()
    return [
        Result(item, "idle window: bridge turns (nothing arriving)", "/s", idle_turns, load=load,
               notes=f"{widgets} widgets subscribed, 5 s per run; the doorbell rings only when a measurement arrives"),
        Result(item, "idle window: GUI thread CPU", "% core", idle_cpu, load=load),
        Result(item, "(reference) a bare 30 Hz QTimer, empty slot: GUI thread CPU", "% core", poll_cpu, load=load,
               notes="what polling the queues 30 times a second would cost before doing anything"),
    ]


def startup(quick: bool) -> list[Result]:
    """Process start to the first painted frame of the MainWindow (offscreen), in fresh processes."""
    n = 3 if quick else 5
    runs = []
    load = Load()
    for _ in range(n):
        with tempfile.TemporaryDirectory() as tmp:
            env = subprocess_env(XDG_CONFIG_HOME=str(Path(tmp) / "config"), XDG_DATA_HOME=str(Path(tmp) / "data"))
            t0 = time.time()
            out = subprocess.run([sys.executable, "-m", "tests.benchmarks._startup_child", repr(t0), tmp],
                                 env=env, capture_output=True, text=True, timeout=60)
            line = next((ln for ln in reversed(out.stdout.splitlines()) if ln.startswith("{")), None)
            if line is None:
                raise RuntimeError(f"start-up child failed: {out.stderr[-1500:]}")
            runs.append(json.loads(line))
    col = lambda k: [r.get(k, math.nan) for r in runs]  # noqa: E731
    item = "7 rendering"
    return [
        Result(item, "start-up to first painted window", "s", col("first_frame"), 1.0, load=load.done(),
               notes=f"fresh process each run (the first may be colder); median interpreter up "
                     f"{median(col('interpreter')):.2f} s, imports done {median(col('imports')):.2f} s, window "
                     f"built {median(col('window_built')):.2f} s",
               extra={"runs": runs}),
        Result(item, "start-up to first plot painted (system lists in)", "s", col("first_plot"), load=load.done()),
    ]


def main() -> None:
    parser = group_parser()
    args = parser.parse_args()
    from desktop_app.ui.app import make_app

    app = make_app([sys.argv[0]])
    results = ticks(app, args.quick, args.runs) + startup(args.quick)
    payload = [r.to_dict() for r in results]
    emit(payload, args.out)


if __name__ == "__main__":
    main()
