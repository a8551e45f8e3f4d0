"""The SQLite history on a real file: schema, durability, the raw and condensed reads."""
from __future__ import annotations

import sqlite3
import stat
import threading
import time

import numpy as np
import pytest

from desktop_app.measurement import SeriesKey, now_ms
from desktop_app.storage import history
from desktop_app.storage.history import HistoryReader, HistoryWriter, write_rows

CPU = SeriesKey("cpu", "0", "usage")
CORE = SeriesKey("cpucore", "0", "usage")
MEM = SeriesKey("memory", None, "used")
LIST = SeriesKey("system", None, "partitions")
TEXT = SeriesKey("cpu", "0", "info")


@pytest.fixture
def writer(db_path):
    w = HistoryWriter(db_path)
    try:
        yield w
    finally:
        w.close()


def test_new_file_has_the_versioned_schema_in_wal_mode(db_path, writer):
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == history.SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"series", "samples"} <= tables


def test_history_file_is_private_to_its_owner(db_path, writer):
    """What ran on a machine, and when, is nobody else's business: 0600, its WAL too."""
    writer.append(CPU, 1, 1.0)
    writer.close()
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    for side in (db_path.with_name(db_path.name + "-wal"), db_path.with_name(db_path.name + "-shm")):
        if side.exists():
            assert stat.S_IMODE(side.stat().st_mode) & 0o077 == 0, side


def test_missing_folders_are_created(tmp_path):
    path = tmp_path / "a" / "b" / "history.sqlite3"
    write_rows(path, [(CPU, 1, 2.0)])
    assert HistoryReader(path).raw(CPU) == [(1, 2.0)]


def test_reopening_keeps_the_data_and_adds_to_it(db_path):
    t = now_ms()  # recent rows: older than the raw retention would be rolled up and dropped
    write_rows(db_path, [(CPU, t + 1, 1.0), (MEM, t + 1, 10.0)])
    write_rows(db_path, [(CPU, t + 2, 2.0)])
    reader = HistoryReader(db_path)
    assert reader.raw(CPU) == [(t + 1, 1.0), (t + 2, 2.0)]
    assert reader.raw(MEM) == [(t + 1, 10.0)]
    assert sorted(reader.series()) == sorted([CPU, MEM])


def test_an_empty_sqlite_file_is_migrated(db_path):
    """A file at version 0 (created empty, or by an old build) gets the schema, not an error."""
    sqlite3.connect(db_path).close()
    write_rows(db_path, [(CPU, 5, 5.0)])
    assert HistoryReader(db_path).raw(CPU) == [(5, 5.0)]


def test_a_newer_schema_is_refused_not_damaged(db_path):
    """A history written by a newer release must not be rewritten by an older one."""
    newer = history.SCHEMA_VERSION + 1
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {newer}")
    with pytest.raises(RuntimeError) as err:
        HistoryWriter(db_path)
    assert str(newer) in str(err.value) and str(history.SCHEMA_VERSION) in str(err.value)
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == newer


def test_a_clean_stop_flushes_everything(db_path):
    """close() commits what is pending at once, without waiting for the next 1 s batch."""
    w = HistoryWriter(db_path)
    rows = [(CPU if i % 2 else MEM, 1_700_000_000_000 + i, float(i)) for i in range(5000)]
    for row in rows:
        w.append(*row)
    w.close()
    reader = HistoryReader(db_path)
    assert reader.raw(CPU) == [(ts, v) for k, ts, v in rows if k == CPU]
    assert reader.raw(MEM) == [(ts, v) for k, ts, v in rows if k == MEM]
    assert w.written == len(rows)


def test_close_twice_is_harmless(db_path):
    w = HistoryWriter(db_path)
    w.append(CPU, 1, 1.0)
    w.close()
    w.close()
    assert HistoryReader(db_path).raw(CPU) == [(1, 1.0)]


def count_rows(db_path) -> int:
    conn = sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM samples").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    finally:
        conn.close()


def test_rows_are_committed_within_about_a_second_while_running(db_path, writer):
    """A crash loses at most the last second: another connection sees the rows before any close."""
    for round_ in range(2):
        start = time.monotonic()
        for i in range(10):
            writer.append(CPU, round_ * 100 + i, float(i))
        expected = (round_ + 1) * 10
        while count_rows(db_path) < expected and time.monotonic() - start < 5:
            time.sleep(0.05)
        elapsed = time.monotonic() - start
        assert count_rows(db_path) == expected
        assert elapsed < history.COMMIT_INTERVAL_S + 0.6, f"committed after {elapsed:.2f} s"


def test_append_never_blocks_and_a_locked_database_loses_nothing(db_path, writer):
    """The gatherer calls append(): with another program holding the write lock it still returns at
    once, and the rows land when the lock goes."""
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock
    try:
        start = time.monotonic()
        for i in range(10_000):
            writer.append(CPU, i, float(i))
        assert time.monotonic() - start < 1.0
        time.sleep(history.COMMIT_INTERVAL_S + 0.3)  # the writer's commit is now waiting on the lock
        assert count_rows(db_path) == 0
    finally:
        blocker.rollback()
        blocker.close()
    writer.close()
    assert [ts for ts, _ in HistoryReader(db_path).raw(CPU)] == list(range(10_000))


@pytest.mark.parametrize(
    "start,end",
    [(0, 2**62), (1000, 1005), (1003, 1004), (1003, 1003), (0, 1000), (1009, 5000), (1010, 2000)],
)
def test_raw_range_is_start_inclusive_end_exclusive(db_path, start, end):
    stamps = list(range(1000, 1010))
    write_rows(db_path, [(CPU, ts, float(ts)) for ts in stamps] + [(CORE, ts, -1.0) for ts in stamps])
    got = HistoryReader(db_path).raw(CPU, start, end)
    assert got == [(ts, float(ts)) for ts in stamps if start <= ts < end]


def test_raw_is_ordered_by_time_even_if_written_out_of_order(db_path):
    write_rows(db_path, [(CPU, ts, float(ts)) for ts in (5, 1, 3, 2, 4)])
    assert [ts for ts, _ in HistoryReader(db_path).raw(CPU)] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "key,values",
    [
        (LIST, [["/"], ["/", "/home", "/mnt/usb stick"], [], ["C:\\", 'we"ird']]),
        (SeriesKey("system", None, "processes"), [["1", "2", "3"]]),
        (TEXT, ["Intel(R) Core(TM) i7", "ünïcödé", ""]),
        (MEM, [0, 2**40, 123.456]),
    ],
)
def test_values_round_trip_with_their_kind(db_path, key, values):
    """Lists come back as lists (not JSON text), text as text, numbers as numbers."""
    write_rows(db_path, [(key, i, v) for i, v in enumerate(values)])
    assert HistoryReader(db_path).raw(key) == list(enumerate(values))


def test_series_names_are_data_not_sql(db_path):
    """Args come from the system (a mountpoint can be named anything): never part of the SQL text."""
    evil = SeriesKey("partition", "/mnt/x'); DROP TABLE samples; --", "usage")
    write_rows(db_path, [(evil, 1, 50.0), (CPU, 1, 1.0)])
    reader = HistoryReader(db_path)
    assert reader.raw(evil) == [(1, 50.0)]
    assert reader.raw(CPU) == [(1, 1.0)]


def numpy_buckets(ts, values, start, end, buckets):
    """Reference: the same buckets computed independently with numpy."""
    width = max(1, -(-(end - start) // buckets))
    inside = (ts >= start) & (ts < end)
    ts, values = ts[inside], values[inside]
    index = (ts - start) // width
    out = []
    for b in np.unique(index):
        sel = values[index == b]
        out.append((start + int(b) * width, sel.min(), sel.mean(), sel.max(), len(sel)))
    return out


@pytest.mark.parametrize(
    "start_off,end_off,buckets",
    [(0, 3_600_000, 60), (0, 3_600_000, 1), (123_456, 1_000_000, 7), (-50_000, 4_000_000, 500),
     (0, 3_600_000, 10_000)],
)
def test_condensed_min_avg_max_equal_numpy_on_the_same_rows(db_path, start_off, end_off, buckets):
    """Long windows are drawn from buckets: each bucket's min/avg/max/count must be exactly its rows'."""
    rng = np.random.default_rng(2)
    base = 1_700_000_000_000
    ts = np.sort(rng.integers(base, base + 3_600_000, size=3000))
    values = rng.uniform(0, 100, size=ts.size)
    values[::97] = 0.0  # ties and extremes
    values[::89] = 100.0
    write_rows(db_path, [(CPU, int(t), float(v)) for t, v in zip(ts, values)] + [(CORE, int(base), 1e9)])
    start, end = base + start_off, base + end_off
    got = HistoryReader(db_path).condensed(CPU, start, end, buckets)
    want = numpy_buckets(ts, values, start, end, buckets)
    assert len(got) == len(want)
    for g, (w_ts, w_min, w_avg, w_max, w_n) in zip(got, want):
        assert (g.ts, g.count) == (w_ts, w_n)
        assert g.min == w_min and g.max == w_max
        assert g.avg == pytest.approx(w_avg, rel=1e-12)
    assert len(got) <= buckets


@pytest.mark.parametrize("start,end,buckets", [(10, 10, 5), (10, 5, 5), (0, 100, 0), (0, 100, -1)])
def test_condensed_rejects_an_empty_window_or_no_buckets(db_path, start, end, buckets):
    write_rows(db_path, [(CPU, 1, 1.0)])
    with pytest.raises(ValueError, match="start_ms < end_ms and buckets >= 1"):
        HistoryReader(db_path).condensed(CPU, start, end, buckets)


@pytest.mark.parametrize("folder", ["with space", "hash#tag", "question?mark", "percent%20sign", "ünï"])
def test_history_in_a_folder_with_unusual_characters(tmp_path, folder):
    """Users' folders have all sorts of names: the read-only side must open the same file the writer wrote."""
    path = tmp_path / folder / "history.sqlite3"
    write_rows(path, [(CPU, 1, 42.0)])
    reader = HistoryReader(path)
    assert reader.raw(CPU) == [(1, 42.0)]
    assert reader.series() == [CPU]


def test_reading_while_writing_from_another_thread(db_path, writer):
    """The export reads on its own thread while the gatherer keeps writing (WAL): neither waits for the other."""
    stop = threading.Event()
    errors = []

    def read_loop():
        reader = HistoryReader(db_path)
        while not stop.is_set():
            try:
                rows = reader.raw(CPU)
                assert [ts for ts, _ in rows] == sorted(ts for ts, _ in rows)
            except Exception as exc:  # noqa: BLE001 - report any failure to the test thread
                errors.append(exc)
                return

    writer.append(CPU, 0, 0.0)
    deadline = time.monotonic() + 3
    while count_rows(db_path) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    t = threading.Thread(target=read_loop)
    t.start()
    try:
        for i in range(1, 3001):
            writer.append(CPU, i, float(i))
            if i % 1000 == 0:
                time.sleep(0.4)
    finally:
        stop.set()
        t.join(5)
    writer.close()
    assert errors == []
    assert len(HistoryReader(db_path).raw(CPU)) == 3001


def test_a_full_disk_delays_rows_but_loses_or_mislabels_none(db_path, writer, caplog):
    """Disk full (injected with max_page_count) makes commits fail; once space is back every row lands,
    under its own series. The writer retries; a failed commit must not leave it believing rolled-back
    series rows exist."""
    writer.append(CPU, 1, 1.0)
    deadline = time.monotonic() + 3
    while count_rows(db_path) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    pages = writer._conn.execute("PRAGMA page_count").fetchone()[0]
    writer._conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full now
    for i in range(3000):
        writer.append(MEM, i, float(i))  # a new series: its id is made inside the failing commit
    deadline = time.monotonic() + 4
    while writer.error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.error and "full" in writer.error
    writer._conn.execute("PRAGMA max_page_count = 1073741823")  # space is back
    writer.append(CORE, 7, 7.0)  # another new series after the failure
    writer.close()
    reader = HistoryReader(db_path)
    assert reader.raw(MEM) == [(i, float(i)) for i in range(3000)]
    assert reader.raw(CORE) == [(7, 7.0)]
    assert reader.raw(CPU) == [(1, 1.0)]
    assert writer.error is None
