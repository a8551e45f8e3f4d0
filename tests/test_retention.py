"""Roll-ups and retention on a real history file, driven by a clock value the test chooses."""
from __future__ import annotations

import logging
import random
import sqlite3
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np
import pytest

from desktop_app.measurement import SeriesKey, now_ms
from desktop_app.storage import history
from desktop_app.storage.history import DAY_MS, MINUTE_MS, ROLLUP_LAG_MS, HistoryReader, HistoryWriter, write_rows
from tests.test_history import numpy_buckets

CPU = SeriesKey("cpu", "0", "usage")
MEM = SeriesKey("memory", None, "used")
TEXT = SeriesKey("cpu", "0", "info")
LIST = SeriesKey("system", None, "partitions")
MINUTES = MINUTE_MS / DAY_MS  # retention is set in days; the tests use minutes of it

# Minute-aligned and a month ahead of the real clock: the writer thread's own maintenance (which
# reads the real clock when it opens) never touches these rows; only maintain(now_ms=...) does.
T0 = (now_ms() // MINUTE_MS + 30 * 24 * 60) * MINUTE_MS


def after(minutes: float) -> int:
    """A clock value `minutes` after T0, plus the lag that makes the minute before it complete."""
    return T0 + int(minutes * MINUTE_MS) + ROLLUP_LAG_MS


@contextmanager
def opened(db: Path, **retention):
    writer = HistoryWriter(db, **retention)
    try:
        yield writer
    finally:
        writer.close()


def maintain(db: Path, now: int, **retention) -> None:
    with opened(db, **retention) as writer:
        writer.maintain(now_ms=now)


def query(db: Path, sql: str, *params) -> list[tuple]:
    with closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as conn:
        return conn.execute(sql, params).fetchall()


def rollups(db: Path, key: SeriesKey) -> dict[int, tuple]:
    rows = query(db, "SELECT r.ts, r.min, r.avg, r.max, r.count FROM rollup_1m r JOIN series k ON k.id = r.series_id "
                     "WHERE k.component = ? AND k.args = ? AND k.metric = ? ORDER BY r.ts",
                 key.component, key.args or "", key.metric)
    return {ts: rest for ts, *rest in rows}


def raw_stamps(db: Path, key: SeriesKey) -> list[int]:
    return [ts for ts, _ in HistoryReader(db).raw(key)]


def seed(db: Path, minutes: int = 12, seed_: int = 7) -> dict[SeriesKey, tuple[np.ndarray, np.ndarray]]:
    """CPU about once a second with jitter, MEM every 10 s (big integers), text and lists: T0 onwards."""
    rng = random.Random(seed_)
    cpu = np.array(sorted({T0 + i * 1000 + rng.randrange(-400, 400) for i in range(1, minutes * 60)}))
    mem = np.arange(T0, T0 + minutes * MINUTE_MS, 10_000)
    data = {CPU: (cpu, np.array([rng.uniform(0, 100) for _ in cpu])),
            MEM: (mem, np.array([float(2**33 + rng.randrange(10**6)) for _ in mem]))}
    data[CPU][1][::50] = 0.0  # extremes and ties
    data[CPU][1][::67] = 100.0
    rows = [(k, int(t), float(v)) for k, (ts, vs) in data.items() for t, v in zip(ts, vs)]
    rows += [(TEXT, T0 + i * 30_000, f"model {i}") for i in range(minutes * 2)]
    rows += [(LIST, T0 + i * 30_000, ["/", f"/mnt/{i}"]) for i in range(minutes * 2)]
    rng.shuffle(rows)
    write_rows(db, rows)
    return data


def numpy_minutes(ts: np.ndarray, values: np.ndarray) -> dict[int, tuple]:
    """Reference: each minute's min/avg/max/count, by numpy."""
    minute = ts // MINUTE_MS * MINUTE_MS
    return {int(m): (values[minute == m].min(), values[minute == m].mean(), values[minute == m].max(),
                     int((minute == m).sum())) for m in np.unique(minute)}


def assert_rollups_match(got: dict[int, tuple], want: dict[int, tuple]) -> None:
    assert sorted(got) == sorted(want)
    for ts, (lo, avg, hi, n) in want.items():
        g_lo, g_avg, g_hi, g_n = got[ts]
        assert (g_lo, g_hi, g_n) == (lo, hi, n), ts
        assert g_avg == pytest.approx(avg, rel=1e-12), ts


def test_complete_minutes_are_rolled_up_with_numpys_min_avg_max_count(db_path):
    data = seed(db_path, minutes=12)
    maintain(db_path, after(10))
    for key in (CPU, MEM):
        ts, values = data[key]
        want = {m: v for m, v in numpy_minutes(ts, values).items() if m < T0 + 10 * MINUTE_MS}
        assert len(want) == 10
        assert_rollups_match(rollups(db_path, key), want)


@pytest.mark.parametrize(
    "now_off,rolled",
    [
        (30_000, 0),  # the first minute is still running
        (MINUTE_MS + ROLLUP_LAG_MS - 1, 0),  # it ended, but rows may still be on their way to the file
        (MINUTE_MS + ROLLUP_LAG_MS, 1),
        (3 * MINUTE_MS + 30_000, 3),
        (100 * MINUTE_MS, 12),  # everything; no rows past minute 12, so no empty minutes either
    ],
)
def test_only_minutes_complete_at_now_are_rolled_up(db_path, now_off, rolled):
    seed(db_path, minutes=12)
    maintain(db_path, T0 + now_off)
    assert sorted(rollups(db_path, CPU)) == [T0 + m * MINUTE_MS for m in range(rolled)]


def test_rolling_up_in_steps_gives_each_minute_once_from_all_its_rows(db_path):
    """Maintenance runs every minute while retention drops raw rows mid-minute: a minute is summarised
    once, from all its rows, and never again from what retention left of it."""
    data = seed(db_path)
    with opened(db_path, raw_days=2.5 * MINUTES) as writer:
        for minutes in (0.5, 1, 1, 2.2, 4, 7.9, 9, 11, 11.5):
            writer.maintain(now_ms=after(minutes))
    for key in (CPU, MEM):
        want = {m: v for m, v in numpy_minutes(*data[key]).items() if m < T0 + 11 * MINUTE_MS}
        assert_rollups_match(rollups(db_path, key), want)


def test_text_and_list_series_are_not_rolled_up(db_path):
    seed(db_path)
    maintain(db_path, after(11))
    rolled = {r for (r,) in query(db_path, "SELECT DISTINCT k.component || '/' || k.metric FROM rollup_1m r "
                                           "JOIN series k ON k.id = r.series_id")}
    assert rolled == {"cpu/usage", "memory/used"}


@pytest.mark.parametrize("raw_minutes", [0, 3, 5.5])
def test_raw_rows_past_retention_are_deleted_but_only_once_rolled_up(db_path, raw_minutes):
    """raw_days 0 still keeps the minutes not rolled up yet: no measurement leaves without a summary."""
    data = seed(db_path, minutes=12)
    now = T0 + 10 * MINUTE_MS + 20_000  # minutes 0-9 complete; minute 10 running
    maintain(db_path, now, raw_days=raw_minutes * MINUTES)
    keep_from = min(now - raw_minutes * MINUTES * DAY_MS, T0 + 10 * MINUTE_MS)  # the writer's own float sum
    for key in (CPU, MEM):
        ts, values = data[key]
        assert raw_stamps(db_path, key) == [int(t) for t in ts if t >= keep_from]
        assert_rollups_match(rollups(db_path, key),
                             {m: v for m, v in numpy_minutes(ts, values).items() if m < T0 + 10 * MINUTE_MS})
    assert all(t >= keep_from for t in raw_stamps(db_path, TEXT)), "text is kept raw_days too"


def test_a_long_gap_between_runs_rolls_everything_up_before_deleting_it(db_path):
    """The computer was off for ten days: the first run at start must summarise before it drops."""
    data = seed(db_path, minutes=12)
    maintain(db_path, T0 + 10 * DAY_MS)  # default retention: 7 days raw, a year of roll-ups
    assert query(db_path, "SELECT count(*) FROM samples") == [(0,)]
    for key in (CPU, MEM):
        assert_rollups_match(rollups(db_path, key), numpy_minutes(*data[key]))


def test_rollups_past_their_retention_are_deleted(db_path):
    seed(db_path, minutes=12)
    maintain(db_path, after(10), raw_days=2 * MINUTES, rollup_days=5 * MINUTES)
    cutoff = after(10) - 5 * MINUTE_MS  # T0 + 5 min + 5 s: minute 5 started before it
    for key in (CPU, MEM):
        assert sorted(rollups(db_path, key)) == [T0 + m * MINUTE_MS for m in range(6, 10)]
        assert all(ts >= cutoff for ts in rollups(db_path, key))


def test_default_retention_is_seven_days_raw_and_a_year_of_rollups(db_path):
    seed(db_path, minutes=3)
    maintain(db_path, T0 + 7 * DAY_MS - MINUTE_MS)
    assert len(raw_stamps(db_path, CPU)) > 0, "a week old: still raw"
    maintain(db_path, T0 + 8 * DAY_MS)
    assert raw_stamps(db_path, CPU) == [] and len(rollups(db_path, CPU)) == 3
    maintain(db_path, T0 + 364 * DAY_MS)
    assert len(rollups(db_path, CPU)) == 3, "roll-ups outlive the raw rows by most of a year"
    maintain(db_path, T0 + 366 * DAY_MS)
    assert rollups(db_path, CPU) == {}


def test_retention_set_on_a_running_writer_applies_at_the_next_run(db_path):
    """Preferences change retention live: the writer reads raw_days at each maintenance."""
    seed(db_path, minutes=12)
    with opened(db_path) as writer:
        writer.maintain(now_ms=after(10))
        before = len(raw_stamps(db_path, CPU))
        writer.raw_days = 1 * MINUTES
        writer.maintain(now_ms=after(10))
    assert before > len(raw_stamps(db_path, CPU)) > 0
    assert min(raw_stamps(db_path, CPU)) >= after(10) - MINUTE_MS


@pytest.mark.parametrize(
    "start_min,end_min,buckets",
    [
        (0, 12, 12),  # 1-minute buckets
        (0, 12, 4),  # 3-minute buckets: [6, 9) straddles the roll-up boundary at 7
        (0, 12, 1),  # one bucket, half rolled up, half raw
        (2, 11, 3),  # a range that starts after the data does
        (5, 8, 1),
        (-60, 60, 4),  # wider than the data: 30-minute buckets
    ],
)
def test_condensed_over_rolled_up_and_raw_minutes_equals_numpy_on_the_raw_rows(db_path, start_min, end_min, buckets):
    """Zoomed out, a plot mixes summaries and fresh rows: the bucket across the seam must be exact too."""
    data = seed(db_path, minutes=12)
    maintain(db_path, after(7))  # minutes 0-6 rolled up, 7-11 raw only
    assert max(rollups(db_path, CPU)) == T0 + 6 * MINUTE_MS
    start, end = T0 + start_min * MINUTE_MS, T0 + end_min * MINUTE_MS
    reader = HistoryReader(db_path)
    for key in (CPU, MEM):
        got = reader.condensed(key, start, end, buckets)
        want = numpy_buckets(*data[key], start, end, buckets)
        assert [(g.ts, g.min, g.max, g.count) for g in got] == [(w[0], w[1], w[3], w[4]) for w in want]
        assert [g.avg for g in got] == pytest.approx([w[2] for w in want], rel=1e-12)


@pytest.mark.parametrize("raw_minutes", [0, 3])
def test_condensed_answers_from_rollups_after_the_raw_rows_are_gone(db_path, raw_minutes):
    """A week-old range still draws its min/avg/max band though only the summaries are left."""
    data = seed(db_path, minutes=12)
    maintain(db_path, after(12), raw_days=raw_minutes * MINUTES)
    reader = HistoryReader(db_path)
    assert reader.raw(CPU, T0, T0 + (12 - raw_minutes - 1) * MINUTE_MS) == []
    for buckets in (12, 6, 2):
        got = reader.condensed(CPU, T0, T0 + 12 * MINUTE_MS, buckets)
        want = numpy_buckets(*data[CPU], T0, T0 + 12 * MINUTE_MS, buckets)
        assert [(g.ts, g.min, g.max, g.count) for g in got] == [(w[0], w[1], w[3], w[4]) for w in want]
        assert [g.avg for g in got] == pytest.approx([w[2] for w in want], rel=1e-12)


def test_the_file_stops_growing_once_retention_applies(db_path):
    """Two hours of gathering, compressed: rows, pages and bytes on disk level off instead of growing.

    The WAL beside the file grows to SQLite's auto-checkpoint size (about 4 MB) and is reused from
    then on, so bytes on disk are compared only once it has got there."""
    raw_minutes, rollup_minutes, per_minute = 5, 20, 120
    samples, rolled, pages, sizes = [], [], [], []
    with opened(db_path, raw_days=raw_minutes * MINUTES, rollup_days=rollup_minutes * MINUTES) as writer:
        for minute in range(120):
            start = T0 + minute * MINUTE_MS
            for row in [(key, start + i * (MINUTE_MS // per_minute), float(i))
                        for i in range(per_minute) for key in (CPU, MEM)] + [(TEXT, start, "model")]:
                writer.append(*row)
            assert writer.flush()
            writer.maintain(now_ms=start + MINUTE_MS + ROLLUP_LAG_MS)
            samples.append(query(db_path, "SELECT count(*) FROM samples")[0][0])
            rolled.append(query(db_path, "SELECT count(*) FROM rollup_1m")[0][0])
            pages.append(query(db_path, "PRAGMA page_count")[0][0])
            sizes.append(HistoryReader(db_path).size_bytes())
    assert max(samples) <= (raw_minutes + 1) * (2 * per_minute + 1)
    assert max(rolled) <= 2 * (rollup_minutes + 1)
    assert samples[-1] == samples[30] and rolled[-1] == rolled[30], "a steady state"
    assert max(pages[30:]) <= pages[30] + 2, f"the database grew from {pages[30]} to {max(pages)} pages"
    assert sizes[-1] <= sizes[60] * 1.05, f"the file grew from {sizes[60]} to {sizes[-1]} bytes"


def test_maintain_from_another_thread_while_the_writer_runs(db_path, caplog):
    """A caller on another thread (a test, a Preferences change) shares the writer's connection: its
    roll-up must neither fail nor break the writer's own work."""
    data = seed(db_path, minutes=3)
    caplog.set_level(logging.WARNING, logger=history.__name__)
    for _ in range(150):
        with opened(db_path) as writer:  # the writer thread runs its own maintenance as it starts
            writer.append(TEXT, T0, "x")
            writer.maintain(now_ms=after(3))
    assert not [r for r in caplog.records if "failed" in r.getMessage()]
    assert_rollups_match(rollups(db_path, CPU), numpy_minutes(*data[CPU]))
