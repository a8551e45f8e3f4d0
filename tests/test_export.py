"""CSV export of a real history file, read back the way a spreadsheet or script would: csv.reader."""
from __future__ import annotations

import csv
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

import desktop_app
from desktop_app.measurement import SeriesKey, now_ms
from desktop_app.storage import export
from desktop_app.storage.export import LONG_HEADER, ExportCancelled, ExportError, ExportRequest, export_csv, iso
from desktop_app.storage.history import HistoryReader, write_rows

CPU = SeriesKey("cpu", "0", "usage")
CORE = SeriesKey("cpucore", "1", "usage")
MEM = SeriesKey("memory", None, "used")
NET_INFO = SeriesKey("network", "eth0, \"lan\"", "info")  # args are data too: a comma and quotes
PARTITIONS = SeriesKey("system", None, "partitions")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

AWKWARD_TEXT = [
    "comma, separated",
    'say "hi"',
    "two\nlines",
    "carriage\r\nreturn",
    "\r",
    "ünïcödé – 日本語 🚀",
    "  leading and trailing  ",
    "",
    '"',
    ",",
    "'; DROP TABLE samples; --",
    "tab\tand\x00nul",
]
AWKWARD_LISTS = [["/", "/mnt/usb, stick", 'we"ird', "ünï"], [], ["C:\\", "line\nbreak"], ["/"]]


def instant_ms(text: str) -> int:
    """The instant an ISO 8601 cell names, in ms, by exact integer arithmetic (no float rounding)."""
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None, f"{text!r} has no UTC offset"
    return (parsed - EPOCH) // timedelta(milliseconds=1)


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def cell_value(key: SeriesKey, cell: str):
    """What a consumer gets back from a value cell, by the series' kind."""
    if key.spec.kind.value == "list":
        return json.loads(cell)
    if key.spec.is_numeric:
        return float(cell)
    return cell


def leftovers(folder: Path, keep: set[str] = frozenset()) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name not in keep)


@pytest.fixture
def t0() -> int:
    """A recent start (rows older than the raw retention would be rolled up and dropped on open)."""
    return now_ms() // 1000 * 1000 - 3_600_000


@pytest.fixture
def seeded(db_path, t0):
    """A history with numbers, big integers, awkward text and lists, written out of time order."""
    rng = random.Random(4)
    rows = [(CPU, t0 + i * 1000 + rng.randrange(1000), rng.uniform(0, 100)) for i in range(600)]
    rows += [(CPU, t0 + 5, 0.0), (CPU, t0 + 6, 100.0), (CPU, t0 + 7, 1e-300), (CPU, t0 + 8, 33)]
    rows += [(MEM, t0 + i * 10_000, rng.choice([0, 2**40 + i, 123.456])) for i in range(60)] + [(MEM, t0 + 3, 2**40)]
    rows += [(NET_INFO, t0 + 1000 * i + 1, text) for i, text in enumerate(AWKWARD_TEXT)]
    rows += [(PARTITIONS, t0 + 7000 * i + 2, value) for i, value in enumerate(AWKWARD_LISTS)]
    rng.shuffle(rows)
    write_rows(db_path, rows)
    return db_path


def by_series(rows: list[list[str]]) -> dict[SeriesKey, list[tuple[int, object]]]:
    out: dict[SeriesKey, list] = {}
    for _, ts, comp, args, metric, value, _ in rows:
        key = SeriesKey(comp, args or None, metric)
        out.setdefault(key, []).append((int(ts), cell_value(key, value)))
    return out


def test_long_export_round_trips_every_row_through_csv_reader(seeded, tmp_path):
    """What a script reads back is exactly the history: header, count, each series' (ts, value) list."""
    out = tmp_path / "out.csv"
    written = export_csv(ExportRequest(seeded, out, ()))
    rows = read_csv(out)
    assert rows[0] == LONG_HEADER
    reader = HistoryReader(seeded)
    expected = {key: reader.raw(key) for key in reader.series()}
    assert written == len(rows) - 1 == sum(len(v) for v in expected.values())
    assert by_series(rows[1:]) == expected  # no row lost, duplicated, altered or out of order
    for _, _, comp, args, metric, _, unit in rows[1:]:
        assert unit == SeriesKey(comp, args or None, metric).spec.unit


def test_awkward_text_and_lists_survive_quoting(seeded, tmp_path):
    """Commas, quotes, newlines, CR, NUL and non-ASCII in text; lists as JSON a script can parse."""
    out = tmp_path / "out.csv"
    export_csv(ExportRequest(seeded, out, (NET_INFO, PARTITIONS)))
    got = by_series(read_csv(out)[1:])
    assert [v for _, v in got[NET_INFO]] == AWKWARD_TEXT
    assert [v for _, v in got[PARTITIONS]] == AWKWARD_LISTS
    assert {(r[2], r[3]) for r in read_csv(out)[1:] if r[4] == "info"} == {("network", NET_INFO.args)}


def test_big_integers_and_extreme_floats_are_exact(seeded, tmp_path):
    """A byte count of 2**40 must not come back as 1.09951e+12, nor 1e-300 as 0."""
    out = tmp_path / "out.csv"
    export_csv(ExportRequest(seeded, out, (MEM, CPU)))
    cells = {r[5] for r in read_csv(out)[1:]}
    assert str(2**40) in cells and "1e-300" in cells and "0.0" in cells
    got = by_series(read_csv(out)[1:])
    assert got[MEM] == HistoryReader(seeded).raw(MEM)


def test_every_timestamp_is_iso_8601_with_offset_naming_the_same_instant_as_timestamp_ms(seeded, tmp_path):
    out = tmp_path / "out.csv"
    export_csv(ExportRequest(seeded, out, ()))
    for row in read_csv(out)[1:]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", row[0]), row[0]
        assert instant_ms(row[0]) == int(row[1])


@pytest.fixture
def local_zone(monkeypatch):
    """Switch this process's local time zone (POSIX TZ rules: no tz database needed)."""
    def use(tz: str) -> None:
        monkeypatch.setenv("TZ", tz)
        time.tzset()

    yield use
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("tz", ["UTC0", "CET-1CEST,M3.5.0,M10.5.0/3", "NST3:30NDT,M3.2.0,M11.1.0", "<+0545>-5:45"])
@pytest.mark.parametrize(
    "utc",
    [
        "2026-10-25T00:30:00.000",  # 02:30 CEST: the first pass through the hour repeated at summer time's end
        "2026-10-25T01:30:00.000",  # 02:30 CET: the second pass, same wall clock, another instant
        "2026-10-25T00:59:59.999",
        "2026-10-25T01:00:00.000",
        "2026-03-29T00:59:59.999",  # just before the hour skipped in spring
        "2026-03-29T01:00:00.001",
        "2026-11-01T04:30:00.500",  # Newfoundland's repeated hour
        "1970-01-01T00:00:00.000",
        "2038-01-19T03:14:08.123",  # past 32-bit time_t
    ],
)
def test_iso_names_the_same_instant_in_any_zone_even_across_summer_time(local_zone, tz, utc):
    """Local time with its offset, so an export taken across a clock change has no ambiguous rows."""
    local_zone(tz)
    ts = (datetime.fromisoformat(utc).replace(tzinfo=timezone.utc) - EPOCH) // timedelta(milliseconds=1)
    for t in (ts - 1, ts, ts + 1):
        assert instant_ms(iso(t)) == t, iso(t)


def test_iso_keeps_every_millisecond(local_zone):
    """Float seconds must not round a .999 into the next second, or drop a millisecond."""
    local_zone("CET-1CEST,M3.5.0,M10.5.0/3")
    base = 1_790_000_000_000
    for t in [base + ms for ms in range(1000)] + [base + 10**9 * k + 999 for k in range(50)]:
        assert instant_ms(iso(t)) == t


@pytest.mark.parametrize(
    "series,start_off,end_off",
    [
        ((CPU,), 0, 2**40),
        ((CPU, MEM), 100_000, 200_000),
        ((MEM,), 0, 10_000),  # start inclusive, end exclusive: MEM has rows at 0 and 10 000
        ((MEM,), 10_000, 10_001),
        ((NET_INFO, CPU), 3001, 5002),
        ((CORE,), 0, 2**40),  # a series with no data: header only
        ((CPU,), 10**9, 10**9 + 1),  # a range with no data
    ],
)
def test_series_and_time_range_filter_exactly(seeded, tmp_path, t0, series, start_off, end_off):
    """Only the chosen series, only start <= ts < end, each equal to the history's raw rows for that range."""
    out = tmp_path / "out.csv"
    start, end = t0 + start_off, t0 + end_off
    written = export_csv(ExportRequest(seeded, out, series, start, end))
    reader = HistoryReader(seeded)
    expected = {k: reader.raw(k, start, end) for k in series}
    got = by_series(read_csv(out)[1:])
    assert got == {k: v for k, v in expected.items() if v}
    assert written == sum(len(v) for v in expected.values())


def test_a_series_named_twice_is_exported_once(seeded, tmp_path):
    out = tmp_path / "out.csv"
    export_csv(ExportRequest(seeded, out, (MEM, CPU, MEM)))
    assert by_series(read_csv(out)[1:]) == {k: HistoryReader(seeded).raw(k) for k in (MEM, CPU)}
    wide = tmp_path / "wide.csv"
    export_csv(ExportRequest(seeded, wide, (MEM, CPU, MEM), layout="wide"))
    assert read_csv(wide)[0][2:] == ["memory//used (bytes)", "cpu/0/usage (%)"]


def test_rows_are_in_time_order_within_each_series(seeded, tmp_path):
    """Written shuffled, exported sorted: a plot of the file per series must not zig-zag."""
    out = tmp_path / "out.csv"
    export_csv(ExportRequest(seeded, out, ()))
    rows = read_csv(out)[1:]
    for key, series in by_series(rows).items():
        stamps = [ts for ts, _ in series]
        assert stamps == sorted(stamps), key
    order = [(r[2], r[3], r[4]) for r in rows]
    assert len({k for i, k in enumerate(order) if i == 0 or order[i - 1] != k}) == len(set(order)), \
        "each series' rows come together"


def numpy_wide(seeded_path: Path, keys, start: int, end: int, bucket: int) -> dict[int, list]:
    """Reference: each numeric series' mean per epoch-aligned bucket, computed with numpy from raw rows."""
    reader = HistoryReader(seeded_path)
    table: dict[int, list] = {}
    for i, key in enumerate(keys):
        rows = reader.raw(key, start, end)
        if not rows:
            continue
        ts = np.array([t for t, _ in rows], dtype=np.int64)
        values = np.array([v for _, v in rows], dtype=np.float64)
        for b in np.unique(ts // bucket * bucket):
            table.setdefault(int(b), [None] * len(keys))[i] = values[ts // bucket * bucket == b].mean()
    return table


@pytest.mark.parametrize(
    "bucket,start_off,end_off",
    [(10_000, 0, 2**40), (1000, 0, 2**40), (60_000, 0, 2**40), (7_000, 0, 2**40), (3_600_000, 0, 2**40),
     (10_000, 12_345, 301_234)],
)
def test_wide_layout_has_a_column_per_numeric_series_and_numpy_averages_per_bucket(
        seeded, tmp_path, t0, bucket, start_off, end_off):
    """Spreadsheet layout: one row per bucket, empty cells where a series has no data in it."""
    core_rows = [(CORE, t0 + 200_000 + i * 3000, float(i)) for i in range(20)]  # data in only part of the range
    write_rows(seeded, core_rows)
    keys = (CPU, CORE, NET_INFO, MEM)  # text has no average: no column
    numeric = (CPU, CORE, MEM)
    start, end = t0 + start_off, t0 + end_off
    out = tmp_path / "wide.csv"
    written = export_csv(ExportRequest(seeded, out, keys, start, end, layout="wide", bucket_ms=bucket))
    rows = read_csv(out)
    assert rows[0] == ["timestamp", "timestamp_ms", "cpu/0/usage (%)", "cpucore/1/usage (%)", "memory//used (bytes)"]
    want = numpy_wide(seeded, numeric, start, end, bucket)
    assert written == len(rows) - 1 == len(want)
    assert [int(r[1]) for r in rows[1:]] == sorted(want)
    for row in rows[1:]:
        assert instant_ms(row[0]) == int(row[1])
        for cell, expected in zip(row[2:], want[int(row[1])]):
            if expected is None:
                assert cell == ""
            else:
                assert float(cell) == pytest.approx(expected, rel=1e-12)
    if bucket < 3_600_000:
        assert any(r[3] == "" for r in rows[1:]), "the case covers empty cells"


def many_rows(db_path: Path, n: int = 25_000) -> None:
    t = now_ms() - n
    write_rows(db_path, [(CPU, t + i, float(i % 101)) for i in range(n)])


def test_a_cancelled_export_raises_and_leaves_no_file_and_no_temp_file(db_path, tmp_path):
    """Cancel in the dialog: nothing half-written appears, and a file already there is untouched."""
    many_rows(db_path, export.PROGRESS_EVERY + 5000)
    folder = tmp_path / "exports"
    folder.mkdir()
    for existing in (None, "last week's export\n"):
        out = folder / "out.csv"
        if existing is not None:
            out.write_text(existing, encoding="utf-8")
        calls = []
        with pytest.raises(ExportCancelled):
            export_csv(ExportRequest(db_path, out, ()), lambda done, total: calls.append((done, total)) or False)
        assert calls == [(export.PROGRESS_EVERY, export.PROGRESS_EVERY + 5000)]
        if existing is None:
            assert leftovers(folder) == []
        else:
            assert leftovers(folder) == ["out.csv"] and out.read_text(encoding="utf-8") == existing


def test_progress_reports_rows_done_of_total_and_ends_at_the_total(db_path, tmp_path):
    total = 2 * export.PROGRESS_EVERY + 10
    many_rows(db_path, total)
    calls = []
    out = tmp_path / "out.csv"
    assert export_csv(ExportRequest(db_path, out, ()), lambda d, t: calls.append((d, t)) or True) == total
    assert calls == [(export.PROGRESS_EVERY, total), (2 * export.PROGRESS_EVERY, total), (total, total)]
    assert len(read_csv(out)) == total + 1


def unwritable(tmp_path: Path, kind: str) -> Path:
    if kind == "missing folder":
        return tmp_path / "no such folder" / "out.csv"
    if kind == "parent is a file":
        (tmp_path / "notes.txt").write_text("x")
        return tmp_path / "notes.txt" / "out.csv"
    if kind == "a folder":
        (tmp_path / "out.csv").mkdir()
        return tmp_path / "out.csv"
    if os.geteuid() == 0:
        pytest.skip("root writes into a read-only folder anyway; 'parent is a file' covers a permission fault")
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    return tmp_path / "ro" / "out.csv"


@pytest.mark.parametrize("kind", ["missing folder", "parent is a file", "a folder", "read-only folder"])
def test_an_unwritable_path_raises_export_error_naming_it_and_leaves_nothing(seeded, tmp_path, kind):
    folder = tmp_path / "target"
    folder.mkdir()
    out = unwritable(folder, kind)
    before = leftovers(folder)
    try:
        with pytest.raises(ExportError) as err:
            export_csv(ExportRequest(seeded, out, ()))
        assert str(out) in str(err.value)
        if kind == "a folder":
            assert "folder" in str(err.value)
        assert leftovers(folder) == before
    finally:
        if kind == "read-only folder":
            (folder / "ro").chmod(0o700)


def test_a_disk_full_mid_export_leaves_no_half_file(seeded, tmp_path):
    """A real write fault (file size limit, EFBIG) part-way through: ExportError, the old file intact."""
    many_rows(seeded, 20_000)
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "out.csv"
    out.write_text("the previous export\n", encoding="utf-8")
    child = (
        "import resource, signal, sys\n"
        "from desktop_app.storage.export import ExportError, ExportRequest, export_csv\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))\n"
        "try:\n"
        "    export_csv(ExportRequest(sys.argv[1], sys.argv[2], ()))\n"
        "except ExportError as exc:\n"
        "    sys.exit(str(exc))\n"
    )
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=str(Path(desktop_app.__file__).resolve().parent.parent))
    done = subprocess.run([sys.executable, "-c", child, str(seeded), str(out)], capture_output=True, text=True,
                          env=env, timeout=30)
    assert done.returncode == 1, done.stderr
    assert f"cannot write {out}: File too large" in done.stderr
    assert leftovers(folder) == ["out.csv"]
    assert out.read_text(encoding="utf-8") == "the previous export\n"


def test_exporting_over_an_existing_file_replaces_it_atomically(seeded, tmp_path):
    """A program reading the old file meanwhile sees the old file whole; the name then holds the new one."""
    out = tmp_path / "out.csv"
    out.write_text("old,contents\n" * 1000, encoding="utf-8")
    with open(out, encoding="utf-8") as old:
        export_csv(ExportRequest(seeded, out, (CPU,)))
        assert old.read() == "old,contents\n" * 1000
    assert read_csv(out)[0] == LONG_HEADER
    assert by_series(read_csv(out)[1:]) == {CPU: HistoryReader(seeded).raw(CPU)}
    history_files = {"history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm", "history.sqlite3.lock"}
    assert leftovers(tmp_path, history_files) == ["out.csv"]


def test_the_file_is_utf8_without_a_byte_order_mark(seeded, tmp_path):
    """Whatever the locale's encoding: UTF-8 bytes, and the first header cell reads 'timestamp'."""
    out = tmp_path / "out.csv"
    export_csv(ExportRequest(seeded, out, (NET_INFO,)))
    data = out.read_bytes()
    assert data.startswith(b"timestamp,")
    assert "ünïcödé – 日本語 🚀".encode() in data
    data.decode("utf-8")  # strict: raises on anything else


def test_exporting_onto_the_history_itself_is_refused(seeded):
    """`--out` and `--db` swapped by mistake must not replace the history with a CSV."""
    before = HistoryReader(seeded).raw(CPU)
    with pytest.raises(ExportError, match="history"):
        export_csv(ExportRequest(seeded, seeded, ()))
    assert HistoryReader(seeded).raw(CPU) == before


@pytest.mark.parametrize("kind", ["missing", "not a database"])
def test_an_unreadable_history_is_an_export_error_naming_it(tmp_path, kind):
    """The dialog shows ExportError messages: a bad history must be one too, not a crash of the worker."""
    db = tmp_path / "history.sqlite3"
    if kind == "not a database":
        db.write_text("my notes\n" * 200)
    out = tmp_path / "out.csv"
    with pytest.raises(ExportError) as err:
        export_csv(ExportRequest(db, out, ()))
    assert str(db) in str(err.value)
    assert not out.exists()
    assert leftovers(tmp_path, {db.name}) == []


def test_series_from_a_newer_version_are_skipped_not_fatal(seeded, tmp_path):
    """A history shared with a newer release may hold metrics this version does not know."""
    with sqlite3.connect(seeded) as conn:
        (sid,) = conn.execute("INSERT INTO series (component, args, metric) VALUES ('cpu', '0', 'future') "
                              "RETURNING id").fetchone()
        conn.execute("INSERT INTO samples (series_id, ts, value) VALUES (?, ?, 1.0)", (sid, now_ms()))
    conn.close()
    out = tmp_path / "out.csv"
    export_csv(ExportRequest(seeded, out, ()))
    got = by_series(read_csv(out)[1:])
    assert set(got) == {CPU, MEM, NET_INFO, PARTITIONS}
