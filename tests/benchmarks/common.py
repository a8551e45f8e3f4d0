"""Shared benchmark plumbing: result rows, statistics, machine load, and per-process CPU/RSS sampling.

Every benchmark module exposes `run(quick: bool, options) -> list[dict]` and is run in its own
subprocess by `tests/benchmarks/run.py`, so each starts with a clean queue_manager/data_manager.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import psutil

ROOT = Path(__file__).resolve().parents[2]  # the repository
RESULTS = Path(__file__).resolve().parent / "results"


# -- statistics ---------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation; NaN for no values."""
    data = sorted(values)
    if not data:
        return math.nan
    k = (len(data) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


# -- machine load -------------------------------------------------------------------------------
class Load:
    """The machine's load over one measurement: 1-min load average at start and end, system CPU %."""

    def __init__(self) -> None:
        self.load_start = os.getloadavg()[0]
        self._cpu = psutil.cpu_times()

    def done(self) -> dict[str, float]:
        now = psutil.cpu_times()
        busy = sum(getattr(now, f) - getattr(self._cpu, f) for f in now._fields if f not in ("idle", "iowait"))
        total = sum(now) - sum(self._cpu)
        out = {"load1_start": round(self.load_start, 2), "load1_end": round(os.getloadavg()[0], 2)}
        if total >= 1.0:  # CPU seconds over all CPUs: shorter spans are a few clock ticks, too coarse
            out["system_cpu_pct"] = round(100.0 * busy / total, 1)
        return out


def machine() -> dict[str, Any]:
    import platform

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu_model": model or platform.processor(), "logical_cpus": psutil.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1), "python": sys.version.split()[0],
            "platform": platform.platform(), "loadavg_at_start": [round(x, 2) for x in os.getloadavg()]}


# -- results ------------------------------------------------------------------------------------
@dataclass
class Result:
    """One row of the table: a metric measured `runs` times, compared with a target."""

    item: str  # the item number and short name, e.g. "1 precision"
    name: str
    unit: str
    runs: list[float]
    target: float | None = None  # None: reported for information, no target
    op: str = "<="  # "<=" or ">=" (or "==" with `tolerance`)
    tolerance: float = 0.0
    higher_is_better: bool = False
    load: dict[str, float] = field(default_factory=dict)
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # How the row's value is aggregated over runs: the median (default) or, for counts that must all
    # hold ("600 +- 1 in every series"), the worst run.
    aggregate: str = "median"

    def value(self) -> float:
        finite = [v for v in self.runs if v is not None and math.isfinite(v)]
        if not finite:
            return math.nan
        if self.aggregate == "worst":
            if self.op == "==":
                return max(finite, key=lambda v: abs(v - self.target))
            return min(finite) if self.op == ">=" else max(finite)
        return median(finite)

    def passed(self) -> bool | None:
        if self.target is None:
            return None
        v = self.value()
        if math.isnan(v):
            return False
        if self.op == "<=":
            return v <= self.target
        if self.op == ">=":
            return v >= self.target
        return abs(v - self.target) <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        finite = [v for v in self.runs if v is not None and math.isfinite(v)]
        d.update(value=self.value(), min=min(finite) if finite else None, max=max(finite) if finite else None,
                 passed=self.passed())
        return d


def result_from_dict(d: dict[str, Any]) -> Result:
    keys = Result.__dataclass_fields__
    return Result(**{k: v for k, v in d.items() if k in keys})


def fmt(v: float | None, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    a = abs(v)
    if a >= 100_000:
        s = f"{v:,.0f}"
    elif a >= 100:
        s = f"{v:.0f}"
    elif a >= 10:
        s = f"{v:.1f}"
    elif a >= 1:
        s = f"{v:.2f}"
    elif a == 0:
        s = "0"
    else:
        s = f"{v:.3g}"
    return f"{s} {unit}".strip() if unit else s


def target_text(r: Result) -> str:
    if r.target is None:
        return "(info)"
    if r.op == "==":
        return f"{fmt(r.target)} ± {fmt(r.tolerance)}"
    return f"{r.op} {fmt(r.target, r.unit)}"


def table(results: list[Result]) -> str:
    """A plain-text table: item, benchmark, median, min-max over runs, target, result, load."""
    rows = [("#", "benchmark", "median", "min–max", "n", "target", "result", "load1 / sys CPU%")]
    for r in results:
        finite = [v for v in r.runs if v is not None and math.isfinite(v)]
        rng = f"{fmt(min(finite))}–{fmt(max(finite))}" if finite else "n/a"
        verdict = {True: "pass", False: "MISS", None: ""}[r.passed()]
        load = ""
        if r.load:
            load = f"{r.load.get('load1_start', math.nan):.2f}→{r.load.get('load1_end', math.nan):.2f}"
            if math.isfinite(r.load.get("system_cpu_pct", math.nan)):
                load += f" / {r.load['system_cpu_pct']:.0f}%"
        value = fmt(r.value(), r.unit) + (" (worst)" if r.aggregate == "worst" else "")
        rows.append((r.item, r.name, value, rng, str(len(finite)), target_text(r), verdict, load))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for j, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  [{r.item}] {r.name}: {r.notes}" for r in results if r.notes]
    return "\n".join(lines) + ("\n\nNotes:\n" + "\n".join(notes) if notes else "")


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)


# -- processes ----------------------------------------------------------------------------------
def peak_rss(pid: int) -> int | None:
    """The process's peak resident set size in bytes (Linux VmHWM), or None where unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for product subprocesses: offscreen Qt, private config/data folders."""
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def group_parser() -> argparse.ArgumentParser:
    """The options every benchmark group's process takes from run.py."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    return parser


def run_parts(parts: dict[str, Callable[[bool, int], list[Result]]]) -> None:
    """A group's entry point: every part (or `--only` one of them), its results emitted."""
    parser = group_parser()
    parser.add_argument("--only", choices=tuple(parts))
    args = parser.parse_args()
    results = [r for name, part in parts.items() if args.only in (None, name) for r in part(args.quick, args.runs)]
    emit([r.to_dict() for r in results], args.out)


def emit(payload: list[dict[str, Any]], out: Path | None) -> None:
    """Hand a group's results to run.py: to `out`, or to stdout when run by hand."""
    if out:
        out.write_text(json.dumps(payload, default=str))
    else:
        json.dump(payload, sys.stdout, indent=1, default=str)
