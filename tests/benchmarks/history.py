"""Item 6: the SQLite history. Batched inserts (through HistoryWriter, and raw executemany), the
condensed query over 1 M rows of one series (with the writer's roll-ups), and a 1 M-row CSV export.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from desktop_app.measurement import SeriesKey
from desktop_app.storage import history
from desktop_app.storage.export import ExportRequest, export_csv
from desktop_app.storage.history import HistoryReader, HistoryWriter
from tests.benchmarks.common import Load, Result, emit, group_parser, median

KEY = SeriesKey("cpu", "0", "usage")
INSERT_SERIES = [SeriesKey("cpucore", str(i), "usage") for i in range(20)]


def _rows(n: int, start_ms: int, step_ms: int = 1000) -> list[tuple[SeriesKey, int, float]]:
    keys = INSERT_SERIES
    return [(keys[i % len(keys)], start_ms + (i // len(keys)) * step_ms, float(i % 100)) for i in range(n)]


def writer_inserts(n: int) -> float:
    """rows/s through the product path: HistoryWriter.append for every row, then close() (one commit)."""
    with tempfile.TemporaryDirectory() as tmp:
        rows = _rows(n, int(time.time() * 1000) - n)
        writer = HistoryWriter(Path(tmp) / "w.sqlite3")
        time.sleep(0.2)  # let the writer's start-up maintenance pass
        t0 = time.perf_counter()
        for row in rows:
            writer.append(*row)
        writer.close()
        return n / (time.perf_counter() - t0)


def raw_inserts(n: int) -> float:
    """rows/s of a bare executemany into `samples` (its index in place) in one transaction."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = history.connect(Path(tmp) / "r.sqlite3")
        with conn:
            ids = [conn.execute("INSERT INTO series (component, args, metric) VALUES (?, ?, ?) RETURNING id",
                                (k.component, k.args, k.metric)).fetchone()[0] for k in INSERT_SERIES]
        base = int(time.time() * 1000) - n
        params = [(ids[i % len(ids)], base + (i // len(ids)) * 1000, float(i % 100)) for i in range(n)]
        t0 = time.perf_counter()
        with conn:
            conn.executemany("INSERT INTO samples (series_id, ts, value) VALUES (?, ?, ?)", params)
        rate = n / (time.perf_counter() - t0)
        conn.close()
        return rate


def seed_million(path: Path, n: int) -> tuple[int, float]:
    """n rows of KEY at 1 Hz ending now (raw executemany), then the writer's maintain() builds the
    roll-ups. Returns (now_ms, maintain seconds). Raw retention is widened so all n raw rows stay."""
    now_ms = int(time.time() * 1000) // 1000 * 1000
    conn = history.connect(path)
    with conn:
        sid = conn.execute("INSERT INTO series (component, args, metric) VALUES (?, ?, ?) RETURNING id",
                           (KEY.component, KEY.args, KEY.metric)).fetchone()[0]
        start = now_ms - n * 1000
        conn.executemany("INSERT INTO samples (series_id, ts, value) VALUES (?, ?, ?)",
                         ((sid, start + i * 1000, float((i * 7919) % 1000) / 10) for i in range(n)))
    conn.close()
    # The writer rolls up on its thread as it starts; maintain() here waits for that (the connection is
    # locked) or does it itself. Either way this times the first roll-up of a history without any.
    t0 = time.perf_counter()
    writer = HistoryWriter(path, raw_days=n / 86400 + 2)
    writer.maintain(now_ms)
    took = time.perf_counter() - t0
    writer.close()
    return now_ms, took


def run(quick: bool, runs: int) -> list[Result]:
    item = "6 history"
    n_insert = 50_000 if quick else 200_000
    n_seed = 200_000 if quick else 1_000_000
    load = Load()
    w_rates = [writer_inserts(n_insert) for _ in range(runs)]
    r_rates = [raw_inserts(n_insert) for _ in range(runs)]
    results = [
        Result(item, "HistoryWriter append+close", "rows/s", w_rates, 50_000, ">=", higher_is_better=True,
               load=load.done(),
               notes=f"{n_insert:,} rows over {len(INSERT_SERIES)} series, fresh file, index in place"),
        Result(item, "raw executemany, one transaction", "rows/s", r_rates, 50_000, ">=", higher_is_better=True,
               load=load.done()),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "million.sqlite3"
        load = Load()
        now_ms, maintain_s = seed_million(db, n_seed)
        results.append(Result(item, f"maintain(): roll up {n_seed:,} rows from scratch", "s", [maintain_s],
                              load=load.done(), notes="the writer's first roll-up of a history that has none"))
        reader = HistoryReader(db)
        ranges = {"full range": now_ms - n_seed * 1000, "last 7 days": now_ms - 7 * 86_400_000,
                  "last 24 h": now_ms - 86_400_000, "last hour": now_ms - 3_600_000}
        for name, start in ranges.items():
            start = max(start, now_ms - n_seed * 1000)
            load = Load()
            reps = 5 if quick else 20
            per_run = []
            for _ in range(runs):
                times = []
                for _ in range(reps):
                    t0 = time.perf_counter()
                    buckets = reader.condensed(KEY, start, now_ms, 1000)
                    times.append((time.perf_counter() - t0) * 1000)
                per_run.append(median(times))
            target = 5.0 if name == "last hour" else 50.0
            results.append(Result(item, f"condensed 1000 buckets, {name}", "ms", per_run, target, load=load.done(),
                                  notes=f"{len(buckets)} buckets returned; {reps} queries per run, each opening "
                                        f"its read-only connection" if name == "full range" else ""))
        # Reference: the same full-range question answered from raw rows alone (no roll-ups).
        import sqlite3

        conn = sqlite3.connect(db)
        width = n_seed * 1000 // 1000
        t0 = time.perf_counter()
        conn.execute("SELECT (ts - ?) / ? AS b, min(value), avg(value), max(value), count(*) FROM samples "
                     "WHERE series_id = 1 AND ts >= ? AND ts < ? GROUP BY b",
                     (now_ms - n_seed * 1000, width, now_ms - n_seed * 1000, now_ms)).fetchall()
        raw_ms = (time.perf_counter() - t0) * 1000
        conn.close()
        results.append(Result(item, "(reference) same full range from raw rows", "ms", [raw_ms],
                              notes="what the roll-ups save"))
        load = Load()
        export_s, rows = [], 0
        for _ in range(runs):
            out = Path(tmp) / "export.csv"
            t0 = time.perf_counter()
            rows = export_csv(ExportRequest(db, out, (KEY,)))
            export_s.append(time.perf_counter() - t0)
            size = out.stat().st_size
            out.unlink()
        results.append(Result(item, f"export {rows:,} rows to CSV (long)", "s", export_s,
                              5.0 * n_seed / 1_000_000, load=load.done(),
                              notes=f"{size / 2**20:.0f} MiB file" + ("" if n_seed == 1_000_000 else
                                                                      f"; target scaled to {n_seed:,} rows")))
    return results


def main() -> None:
    parser = group_parser()
    args = parser.parse_args()
    payload = [r.to_dict() for r in run(args.quick, args.runs)]
    emit(payload, args.out)


if __name__ == "__main__":
    main()
