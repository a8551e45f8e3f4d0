"""Item 2: refresh latency. requestData -> the measurement readable from its queue (headless gatherer,
history on), the psutil call's own cost beside it; and click -> point painted in an offscreen window.
"""
from __future__ import annotations

import math
import random
import sys
import tempfile
import time
from pathlib import Path

import psutil

from desktop_app import data_manager, gathering, queue_manager
from tests.benchmarks.common import Load, Result, median, percentile, run_parts

# (component, metric, args) -> the psutil call that series' source makes for it.
REQUEST_SERIES = {
    ("memory", "usage", None): ("psutil.virtual_memory()", psutil.virtual_memory),
    ("cpu", "usage", "0"): ("psutil.cpu_times()", psutil.cpu_times),
    ("network", "receivepersec", None): ("psutil.net_io_counters(pernic=True)",
                                         lambda: psutil.net_io_counters(pernic=True)),
}
GAP_S = 0.03  # > the sources' 20 ms snapshot sharing, so every request makes its psutil call


def _nic() -> str:
    nics = psutil.net_io_counters(pernic=True)
    return next((n for n in sorted(nics) if n != "lo"), "lo")


def request_run(n: int) -> dict:
    """One run: n requests per series, each timed from requestData to a blocking read's return."""
    queue_manager.hub.clear()
    data_manager.store.clear()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        handle = gathering.start(db_path=Path(tmp) / "h.sqlite3", defaults=False)
        load = Load()
        try:
            for (comp, metric, args), (call_name, call) in REQUEST_SERIES.items():
                args = _nic() if comp == "network" else args
                for _ in range(3):  # a rate's first reading primes its counter (no value): warm up
                    queue_manager.requestData(comp, metric, args)
                    time.sleep(0.15)
                while queue_manager.readMeasurementFromQueue(comp, metric, args) is not None:
                    pass
                lat = []
                for _ in range(n):
                    time.sleep(GAP_S + random.random() * 0.02)
                    t0 = time.perf_counter()
                    queue_manager.requestData(comp, metric, args)
                    m = queue_manager.readMeasurementFromQueue(comp, metric, args, blocking=True, timeout=2)
                    t1 = time.perf_counter()
                    if m is not None:
                        lat.append((t1 - t0) * 1000)
                cost = []
                for _ in range(n):
                    t0 = time.perf_counter()
                    call()
                    cost.append((time.perf_counter() - t0) * 1000)
                out[f"{comp}/{args or ''}/{metric}"] = {
                    "p50_ms": median(lat), "p99_ms": percentile(lat, 99), "answered": len(lat), "asked": n,
                    "psutil_call": call_name, "psutil_median_ms": median(cost), "psutil_p99_ms": percentile(cost, 99)}
        finally:
            handle.stop()
    out["load"] = load.done()
    return out


def request_latency(quick: bool, runs: int) -> list[Result]:
    n = 40 if quick else 150
    out = [request_run(n) for _ in range(runs)]
    series = [k for k in out[0] if k != "load"]
    load = {"load1_start": out[0]["load"]["load1_start"], "load1_end": out[-1]["load"]["load1_end"],
            "system_cpu_pct": median([o["load"].get("system_cpu_pct", math.nan) for o in out])}
    item = "2 latency"
    results = []
    for s in series:
        runs_ = [o[s] for o in out]
        beyond50 = [r["p50_ms"] - r["psutil_median_ms"] for r in runs_]
        beyond99 = [r["p99_ms"] - r["psutil_median_ms"] for r in runs_]
        results += [
            Result(item, f"requestData->read {s} p50 beyond psutil", "ms", beyond50, 2.0, load=load,
                   notes=f"raw p50 {median([r['p50_ms'] for r in runs_]):.2f} ms, p99 "
                         f"{median([r['p99_ms'] for r in runs_]):.2f} ms; {runs_[0]['psutil_call']} itself: median "
                         f"{median([r['psutil_median_ms'] for r in runs_]):.3f} ms, p99 "
                         f"{median([r['psutil_p99_ms'] for r in runs_]):.3f} ms; {n} requests per run, history on",
                   extra={"runs": runs_}),
            Result(item, f"requestData->read {s} p99 beyond psutil", "ms", beyond99, 10.0, load=load),
        ]
    results.append(Result(item, "psutil call cost (median of the series' calls)", "ms",
                          [median([o[s]["psutil_median_ms"] for s in series]) for o in out], load=load))
    return results


# -- click -> point painted ---------------------------------------------------------------------
def click_to_paint(quick: bool, runs: int) -> list[Result]:
    """Refresh clicks on the Overview's memory widget of a real MainWindow (offscreen, gathering the
    default set at default rates); each timed until the plot's viewport has painted the new point.

    The widget's series is set to Off in the window's preferences first, so the only new points
    are the ones the clicks ask for.
    """
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_app.ui.app import make_app
    from desktop_app.ui.main_window import MainWindow

    app = make_app([sys.argv[0]])
    clicks = 12 if quick else 40
    all_runs, phases = [], []
    load = Load()
    for _ in range(runs):
        queue_manager.hub.clear()
        data_manager.store.clear()
        with tempfile.TemporaryDirectory() as tmp:
            settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
            for spec_id in ("overview.memory", "memory.usage"):  # every widget that shows memory usage
                settings.setValue(f"widgets/{spec_id}/rate", 0)
            window = MainWindow(Path(tmp) / "h.sqlite3", settings)
            window.show()
            widget = None
            deadline = time.monotonic() + 20
            while widget is None and time.monotonic() < deadline:
                app.processEvents()
                widget = window.pages["Overview"].widgets.get("overview.memory")
                time.sleep(0.01)
            if widget is None:
                raise RuntimeError("the Overview's memory widget did not appear within 20 s")
            key = widget.spec.keys[0]
            state = {"t0": None, "click_ms": 0, "done": [], "drained": None}

            class PaintProbe(QObject):
                """Delivers the viewport's paint itself, to time its end; records paints that show the point."""

                def eventFilter(self, obj, event):  # noqa: N802 (Qt's name)
                    if event.type() != QEvent.Type.Paint or state["t0"] is None:
                        return False
                    buffer = window.bridge.buffers.get(key)
                    last = buffer.last() if buffer is not None else None
                    if last is None or last[0] * 1000 < state["click_ms"]:
                        return False  # a repaint before the clicked point arrived
                    obj.removeEventFilter(self)
                    QApplication.sendEvent(obj, event)
                    obj.installEventFilter(self)
                    state["done"].append((time.perf_counter() - state["t0"]) * 1000)
                    state["t0"] = None
                    return True

            probe = PaintProbe()
            widget.plot.viewport().installEventFilter(probe)
            end = time.monotonic() + 1.5  # let the first round of widgets and prefill settle
            while time.monotonic() < end:
                app.processEvents()
                time.sleep(0.005)

            def click() -> None:
                if len(state["done"]) >= clicks:
                    app.quit()
                    return
                state["click_ms"] = time.time() * 1000 - 1  # the point's timestamp is taken after this
                state["t0"] = time.perf_counter()
                widget.refresh_button.click()
                # Next click after a random pause, so clicks fall at every phase of the 33 ms drain timer.
                QTimer.singleShot(int(250 + random.random() * 150), click)

            QTimer.singleShot(0, click)
            app.exec()
            widget.plot.viewport().removeEventFilter(probe)
            window.close()
            all_runs.append(state["done"])
            phases.append(median(state["done"]))
    item = "2 latency"
    flat = [x for r in all_runs for x in r]
    return [Result(item, "click -> point painted p50", "ms", phases, 50.0, load=load.done(),
                   notes=f"real MainWindow offscreen, default set gathering; {clicks} clicks per run; p99 over all "
                         f"{percentile(flat, 99):.1f} ms, max {max(flat):.1f} ms",
                   extra={"latencies_ms": all_runs})]


def main() -> None:
    run_parts({"request": request_latency, "click": click_to_paint})


if __name__ == "__main__":
    main()
