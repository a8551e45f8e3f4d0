"""Run the benchmarks, print the table, write tests/benchmarks/results/latest.json.

    python -m tests.benchmarks                 # the full run (~15 min on 2 cores)
    python -m tests.benchmarks --quick         # a smoke run with short durations (~4 min)
    python -m tests.benchmarks --memory        # also item 5, the 10-minute RSS slope
    python -m tests.benchmarks --only history rendering
    python -m tests.benchmarks --only memory   # item 5 alone

Each group runs in its own Python process (a clean queue_manager, data_manager and Qt state).
A full run also rewrites tests/benchmarks/RESULTS.md, a summary meant to be committed.
"""
from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.benchmarks.common import RESULTS, ROOT, machine, result_from_dict, subprocess_env, table, write_json

GROUPS = {  # module -> what it covers (the items)
    "history": "6 history: inserts, condensed queries over 1 M rows, CSV export",
    "rendering": "7 rendering: bridge ticks, idle window, start-up",
    "latency": "2 latency: requestData -> queue, click -> paint",
    "gathering": "1 precision, 4 ceiling",
    "overhead": "3 overhead: headless, idle, window, glances side by side",
    "memory": "5 memory: 10 minutes of headless RSS (only with --memory or --only memory)",
}
MODULES = {"memory": "overhead"}  # a group run by another group's module


def git_state() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""

    status = git("status", "--porcelain", "desktop_app").splitlines()  # "XY path": the path from column 3
    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "branch": git("rev-parse", "--abbrev-ref", "HEAD").strip(),
            "uncommitted_product_files": [ln[3:] for ln in status if len(ln) > 3]}


def run_group(name: str, quick: bool, runs: int | None, extra: list[str]) -> tuple[list, str | None, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{name}.json"
        argv = [sys.executable, "-m", f"tests.benchmarks.{MODULES.get(name, name)}", "--out", str(out), *extra]
        if quick:
            argv.append("--quick")
        if runs is not None:
            argv += ["--runs", str(runs)]
        t0 = time.monotonic()
        proc = subprocess.run(argv, cwd=ROOT, env=subprocess_env(), capture_output=True, text=True)
        took = time.monotonic() - t0
        if proc.returncode != 0 or not out.exists():
            return [], f"{name} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}", took
        return json.loads(out.read_text()), None, took


def summary_markdown(payload: dict, text: str) -> str:
    m = payload["machine"]
    dirty = payload["git"]["uncommitted_product_files"]
    return (f"# Benchmark results (latest full run)\n\n"
            f"`{payload['command']}` on {payload['started']}, commit {payload['git']['commit']}"
            f"{' + uncommitted changes to ' + ', '.join(dirty) if dirty else ''}."
            f"\n\nMachine: {m['cpu_model']}, {m['logical_cpus']} logical CPUs, {m['memory_gib']} GiB, Python "
            f"{m['python']}, {m['platform']}; load average at start {m['loadavg_at_start']}. Shared machine: other "
            f"test suites ran at the same time; each row shows the 1-min load at its start → end and the "
            f"system-wide CPU % during it.\n\n```\n{text}\n```\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short durations, one run each: a smoke test")
    parser.add_argument("--runs", type=int, help="runs per benchmark (default 3; 1 with --quick)")
    parser.add_argument("--memory", action="store_true", help="also item 5: 10 minutes of headless RSS slope")
    parser.add_argument("--memory-minutes", type=float, default=10.0)
    parser.add_argument("--only", nargs="+", choices=list(GROUPS), help="run only these groups")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    runs = args.runs if args.runs is not None else (1 if args.quick else None)
    groups = args.only or [g for g in GROUPS if g != "memory" or args.memory]
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    info = machine()
    checkout = git_state()  # what is measured is what was checked out at the start
    print(f"OpServ benchmarks: {'quick' if args.quick else 'full'} run of {', '.join(groups)}"
          f"; {info['cpu_model']} x{info['logical_cpus']}, "
          f"load {info['loadavg_at_start']}", flush=True)
    rows, errors, timings = [], [], {}
    t_all = time.monotonic()
    for name in groups:
        extra = ["--only-memory", "--memory-minutes", str(args.memory_minutes)] if name == "memory" else []
        print(f"  running {name} ({GROUPS[name]})...", flush=True)
        got, error, took = run_group(name, args.quick, runs, extra)
        timings[name] = round(took, 1)
        print(f"    {took:.0f} s{' - FAILED' if error else ''}", flush=True)
        rows += got
        if error:
            errors.append(error)
    results = [result_from_dict(r) for r in rows]
    text = table(results)
    print()
    print(text)
    for e in errors:
        print(f"\nERROR: {e}", file=sys.stderr)
    misses = [r for r in results if r.passed() is False]
    print(f"\n{sum(r.passed() is True for r in results)} targets met, {len(misses)} missed; "
          f"{time.monotonic() - t_all:.0f} s in all")
    command = "python -m tests.benchmarks" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    payload = {"command": command.strip(), "started": started, "quick": args.quick, "machine": info, "git": checkout,
               "seconds_per_group": timings, "errors": errors, "results": rows, "table": text}
    write_json(args.out, payload)
    print(f"results: {args.out}")
    if not args.quick and not args.only and not errors:  # every default group, full durations
        summary = Path(__file__).resolve().parent / "RESULTS.md"
        summary.write_text(summary_markdown(payload, text))
        print(f"summary: {summary}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
