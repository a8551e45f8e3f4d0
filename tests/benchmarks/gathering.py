"""Items 1 and 4: gathering precision (20 series at 100 ms) and the gatherer + history ceiling.

Both run the real Gatherer with the real psutil sources and the real HistoryWriter on a
temporary SQLite file; timestamps are read back from the real queue_manager queues.
"""
from __future__ import annotations

import math
import os
import subprocess
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

from desktop_app import data_manager, gathering, queue_manager
from desktop_app.measurement import SeriesKey
from desktop_app.queue_manager import SetRate
from tests.benchmarks.common import Load, Result, median, percentile, run_parts

K = SeriesKey

# Twenty real series this machine measures: shared psutil snapshots (memory, net, disk) and
# per-series ones (cpu times); each one was checked to return a value, not None.
PRECISION_SERIES = [
    *(K("memory", None, m) for m in ("usage", "used", "free", "total")),
    K("cpu", "0", "usage"), K("cpucore", "0", "usage"), K("cpucore", "1", "usage"),
    *(K("network", nic, m) for nic in ("eth0", "ifb0", "ifb1", "lo") for m in ("receivepersec", "transmitpersec")),
    *(K("disk", "vda", m) for m in ("readpersec", "writepersec", "usage")),
    K("partition", "/", "usage"), K("partition", "/", "free"),
]


def _available_series() -> list[SeriesKey]:
    """PRECISION_SERIES with interfaces, disks and cores this machine lacks swapped for ones it has."""
    import psutil

    nics = sorted(psutil.net_io_counters(pernic=True))
    disks = sorted(d for d in (psutil.disk_io_counters(perdisk=True) or {}) if not d.startswith(("loop", "ram")))
    keys = [K("memory", None, m) for m in ("usage", "used", "free", "total")]
    keys += [K("cpu", "0", "usage")] + [K("cpucore", str(i), "usage") for i in range(psutil.cpu_count())]
    keys += [K("network", nic, m) for nic in nics for m in ("receivepersec", "transmitpersec")]
    keys += [K("disk", d, m) for d in disks for m in ("readpersec", "writepersec", "usage")]
    keys += [K("partition", "/", m) for m in ("usage", "free", "used", "total")]
    preferred = [k for k in PRECISION_SERIES if k in keys]
    return (preferred + [k for k in keys if k not in preferred])[:20]


def precision_run(seconds: float, period_ms: int = 100, history: bool = True) -> dict:
    """One run: 20 series at `period_ms` for `seconds`; interval errors and samples per series."""
    queue_manager.hub.clear()
    data_manager.store.clear()
    keys = _available_series()
    with tempfile.TemporaryDirectory() as tmp:
        handle = gathering.start(db_path=Path(tmp) / "h.sqlite3", defaults=False, history=history)
        stamps: dict[SeriesKey, list[int]] = defaultdict(list)
        load = Load()
        for k in keys:
            queue_manager.setGatheringRate(k.component, k.metric, period_ms, k.args)
        end = time.monotonic() + seconds + 1.0  # the first sample of rate series comes after a priming read
        while time.monotonic() < end:
            time.sleep(0.25)
            for k, items in queue_manager.hub.drain(set(keys)).items():
                stamps[k] += [m["timestamp"] for m in items]
        for k in keys:
            queue_manager.setGatheringRate(k.component, k.metric, 0, k.args)
        handle.stop()
        load = load.done()
    errors, counts = [], {}
    window_ms = int(seconds * 1000)
    for k in keys:
        ts = stamps[k]
        if not ts:
            counts[str(k)] = 0
            continue
        inside = [t for t in ts if t < ts[0] + window_ms]  # the first `seconds` after the series' first sample
        counts[str(k)] = len(inside)
        errors += [abs((b - a) - period_ms) for a, b in zip(inside, inside[1:])]
    return {"median_abs_err_ms": median(errors), "p99_abs_err_ms": percentile(errors, 99),
            "max_abs_err_ms": max(errors) if errors else float("nan"),
            "min_count": min(counts.values()), "max_count": max(counts.values()), "counts": counts, "load": load,
            "series": [str(k) for k in keys]}


def precision(quick: bool, runs: int) -> list[Result]:
    seconds = 10.0 if quick else 60.0
    expected = round(seconds * 10)
    out = [precision_run(seconds) for _ in range(runs)]
    load = {"load1_start": out[0]["load"]["load1_start"], "load1_end": out[-1]["load"]["load1_end"],
            "system_cpu_pct": median([o["load"].get("system_cpu_pct", math.nan) for o in out])}
    note = f"{len(out[0]['series'])} series at 100 ms for {seconds:.0f} s, history on; per run: " + ", ".join(
        f"{o['min_count']}–{o['max_count']} samples, max err {o['max_abs_err_ms']:.0f} ms" for o in out)
    item = "1 precision"
    return [
        Result(item, "median |interval-100ms|", "ms", [o["median_abs_err_ms"] for o in out], 2.0, load=load),
        Result(item, "p99 |interval-100ms|", "ms", [o["p99_abs_err_ms"] for o in out], 10.0, load=load),
        Result(item, "fewest samples in a series", "", [o["min_count"] for o in out], expected, "==", 1.0,
               load=load, aggregate="worst", extra={"runs": out}),
        Result(item, "most samples in a series", "", [o["max_count"] for o in out], expected, "==", 1.0,
               load=load, aggregate="worst", notes=note),
    ]


# -- 4: ceiling ---------------------------------------------------------------------------------
CEILING_PERIOD_MS = 50  # the minimum rate


def _ceiling_keys(n: int, start: int = 0) -> list[SeriesKey]:
    # The cheapest real source: MemorySource shares one psutil.virtual_memory() call per 20 ms between
    # every memory series and ignores args, so N distinct series cost the pipeline, not psutil.
    return [K("memory", f"b{i}", "usage") for i in range(start, start + n)]


def _thread_cpu() -> dict[str, float]:
    """CPU seconds per named thread of this process (from /proc via psutil)."""
    import psutil

    names = {t.native_id: t.name for t in threading.enumerate()}
    return {names.get(t.id, f"tid {t.id}"): t.user_time + t.system_time for t in psutil.Process().threads()}


def ceiling_ramp(levels: list[int], window_s: float, profile_out: Path | None = None) -> dict:
    """Raise the load level by level in one running gatherer + history writer, as `gathering.start`
    wires them (sources on their own threads); stop at the first level it cannot sustain.

    A level is sustained when the measurements taken reach 98 % of the nominal rate and the
    writer's backlog (measured but not yet committed) does not grow across the window. The p99
    interval error is recorded too: it tells where precision degrades, before throughput does.
    With `profile_out`, the level that fails (or the last one) runs once more with py-spy attached.
    """
    queue_manager.hub.clear()
    data_manager.store.clear()
    steps = []
    with tempfile.TemporaryDirectory() as tmp:
        handle = gathering.start(db_path=Path(tmp) / "ceiling.sqlite3", defaults=False)
        gatherer, writer = handle.gatherer, handle.history
        n_series = 0
        try:
            plan = list(levels)
            profiling = False
            while plan:
                rate = plan.pop(0)
                want = rate * CEILING_PERIOD_MS // 1000
                for k in _ceiling_keys(want - n_series, n_series):
                    queue_manager.hub.open(k)  # what setGatheringRate does; these keys bypass its validation
                    queue_manager.hub.control.put(SetRate(k, CEILING_PERIOD_MS))
                n_series = want
                probe = set(_ceiling_keys(min(20, n_series)))  # interval jitter on a sample of series
                stamps: dict[SeriesKey, list[int]] = defaultdict(list)

                def drain(keep: bool) -> None:  # the consumer's share: what the GUI bridge would do
                    for k, items in queue_manager.hub.drain().items():
                        if keep and k in probe:
                            stamps[k] += [m["timestamp"] for m in items]

                settle_end = time.monotonic() + 1.5
                while time.monotonic() < settle_end:
                    time.sleep(0.1)
                    drain(False)
                load = Load()
                cpu0 = _thread_cpu()
                m0, w0, t0 = gatherer.measured, writer.written, time.monotonic()
                spy = _start_py_spy(profile_out, window_s) if profiling else None
                after_commit: list[int] = []  # the writer's backlog just after each of its commits
                last_written, last_drain = writer.written, t0
                while (now := time.monotonic()) - t0 < window_s:
                    time.sleep(0.01)
                    measured, written = gatherer.measured, writer.written
                    if written != last_written:
                        after_commit.append(measured - written)
                        last_written = written
                    if now - last_drain >= 0.1:
                        drain(True)
                        last_drain = now
                m1, w1, t1 = gatherer.measured, writer.written, time.monotonic()
                cpu1 = _thread_cpu()
                if spy is not None:
                    spy.wait(timeout=window_s + 30)
                achieved = (m1 - m0) / (t1 - t0)
                # Keeping up: a commit of a second's rows ends within the second (what is left right after
                # it is under a second's worth) and that remainder does not grow from commit to commit.
                growth = (after_commit[-1] - after_commit[0]) if len(after_commit) >= 2 else 0
                keeps_up = bool(after_commit) and after_commit[-1] <= rate and growth <= 0.25 * rate
                errors = [abs((b - a) - CEILING_PERIOD_MS) for ts in stamps.values() for a, b in zip(ts, ts[1:])]
                p99 = percentile(errors, 99)
                ok = achieved >= 0.98 * rate and keeps_up
                threads = {name: round(100.0 * (cpu1.get(name, 0.0) - cpu0.get(name, 0.0)) / (t1 - t0), 1)
                           for name in cpu1}
                product_cpu = sum(cpu1.get(n, 0.0) - cpu0.get(n, 0.0) for n in cpu1 if n.startswith("opserv-"))
                steps.append({"nominal_per_s": rate, "series": n_series, "measured_per_s": achieved,
                              "written_per_s": (w1 - w0) / (t1 - t0), "backlog_after_commits": after_commit,
                              "writer_keeps_up": keeps_up, "p99_interval_err_ms": p99, "precise": p99 <= 10,
                              "ok": ok, "thread_cpu_pct": threads, "load": load.done(),
                              "cpu_us_per_measurement": 1e6 * product_cpu / max(1, m1 - m0),
                              "profiled": profiling})
                if profiling:
                    break
                if profile_out is not None and (not ok or not plan):
                    profiling = True
                    plan = [rate]  # the same level again, sampled
                elif not ok:
                    break
        finally:
            handle.stop(timeout=10)
    measured = [s for s in steps if not s["profiled"]]
    failed = next((i for i, s in enumerate(measured) if not s["ok"]), len(measured))
    sustained = max((s["nominal_per_s"] for s in measured[:failed]), default=0)
    precise = max((s["nominal_per_s"] for s in measured[:failed] if s["precise"]), default=0)
    # CPU per measurement of the product's threads (gatherer, source workers, writer) at the highest
    # sustained level: robust to a busy machine, unlike the ramp itself.
    cost = measured[failed - 1]["cpu_us_per_measurement"] if failed else math.nan
    return {"sustained_per_s": sustained, "precise_per_s": precise, "cpu_us_per_measurement": cost, "steps": steps}


def _start_py_spy(out: Path, seconds: float) -> subprocess.Popen | None:
    """py-spy samples this process while the level runs; None if it cannot.

    --gil samples only the thread holding the GIL: where the Python CPU goes (a blocking
    SimpleQueue.get would otherwise count as busy).
    """
    try:
        return subprocess.Popen(["py-spy", "record", "--pid", str(os.getpid()), "--duration", str(int(seconds)),
                                 "--format", "raw", "--rate", "250", "--threads", "--gil", "--output", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return None


def summarize_profile(raw: Path, top: int = 15) -> dict:
    """From a py-spy raw (collapsed) file: the share of GIL-holding samples per thread and the
    hottest functions (self and inclusive)."""
    by_thread: Counter = Counter()
    self_time: Counter = Counter()
    inclusive: Counter = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        thread = next((f for f in frames if f.startswith("thread")), frames[0])
        by_thread[thread.split(": ", 1)[-1]] += n
        funcs = [f for f in frames if "(" in f and not f.startswith(("thread", "process"))]
        if funcs:
            self_time[funcs[-1]] += n
            for f in set(funcs):
                inclusive[f] += n
    pct = lambda c: {k: round(100.0 * v / total, 1) for k, v in c.most_common(top)}  # noqa: E731
    return {"gil_samples": total, "threads_pct": pct(by_thread), "self_pct": pct(self_time),
            "inclusive_pct": pct(inclusive)}


CEILING_LEVELS = [2000, 5000, 8000, 12000, 16000, 20000, 25000, 30000, 35000, 40000, 50000, 60000]


def ceiling(quick: bool, runs: int) -> list[Result]:
    window = 2.0 if quick else 3.0
    profile: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "ceiling.raw"
        # The last ramp samples the level where it fails once more, with py-spy.
        ramps = [ceiling_ramp(CEILING_LEVELS, window, raw if i == runs - 1 else None) for i in range(runs)]
        if raw.exists() and raw.stat().st_size:
            profile = summarize_profile(raw)
        else:
            profile = {"error": "py-spy could not sample this process (is it installed? ptrace allowed?)"}
        profiled = [s for s in ramps[-1]["steps"] if s["profiled"]]
        if profiled:
            profile.update(level_per_s=profiled[0]["nominal_per_s"], step=profiled[0])
    first_fail = [next((s for s in r["steps"] if not s["ok"] and not s["profiled"]), None) for r in ramps]
    why = "; ".join(
        "held up to the top level" if f is None else
        f"{f['nominal_per_s']}/s failed: took {f['measured_per_s']:.0f}/s,"
        f" backlog after commits {f['backlog_after_commits']},"
        f" threads {', '.join(f'{k} {v:.0f}%' for k, v in f['thread_cpu_pct'].items() if v >= 5)}"
        for f in first_fail)
    load = ramps[-1]["steps"][-1]["load"]
    item = "4 ceiling"
    return [
        Result(item, "sustained measurements/s, history on", "/s", [r["sustained_per_s"] for r in ramps], 5000, ">=",
               higher_is_better=True, load=load, notes=f"memory series at 50 ms, {window:.0f} s per level; {why}",
               extra={"ramps": ramps, "profile": profile}),
        Result(item, "... with p99 interval error <= 10 ms", "/s", [r["precise_per_s"] for r in ramps],
               higher_is_better=True, load=load),
        Result(item, "CPU per measurement (gatherer+source+writer threads)", "µs",
               [r["cpu_us_per_measurement"] for r in ramps], load=load,
               notes="one core's worth of Python (the GIL) divided by this bounds the ceiling from above"),
    ]


def main() -> None:
    run_parts({"precision": precision, "ceiling": ceiling})


if __name__ == "__main__":
    main()
