"""The SQLite history: schema, a batched writer thread, and the read side (raw and condensed).

One file, WAL mode. The writer thread owns the only writing connection and commits at least
once a second and at a clean stop, so a clean stop loses nothing and a kill at most a second.
Readers open their own connections; WAL lets them read while the writer writes.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import filelock
import platformdirs

from desktop_app import catalog
from desktop_app.catalog import Kind
from desktop_app.measurement import SeriesKey

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
COMMIT_INTERVAL_S = 1.0
MAINTENANCE_INTERVAL_S = 60.0
MINUTE_MS = 60_000
DAY_MS = 86_400_000
ROLLUP_LAG_MS = 5_000
RAW_DAYS = 7  # raw measurements kept this long ...
ROLLUP_DAYS = 365  # ... and their 1-minute min/avg/max this long

# Migrations from user_version N to N+1; index 0 creates the schema in an empty file.
_MIGRATIONS = [
    """
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        component TEXT NOT NULL,
        args TEXT NOT NULL,          -- '' when the component takes no args
        metric TEXT NOT NULL,
        UNIQUE (component, args, metric)
    );
    CREATE TABLE samples (
        series_id INTEGER NOT NULL REFERENCES series(id),
        ts INTEGER NOT NULL,         -- ms since the Unix epoch
        value                        -- REAL for numbers; TEXT for text, JSON for lists
    );
    CREATE INDEX samples_by_series_time ON samples (series_id, ts);
    """,
    """
    CREATE TABLE rollup_1m (         -- numeric series only: one row per series and minute
        series_id INTEGER NOT NULL REFERENCES series(id),
        ts INTEGER NOT NULL,         -- start of the minute, ms since the Unix epoch
        min REAL, avg REAL, max REAL,
        count INTEGER NOT NULL,
        PRIMARY KEY (series_id, ts)
    ) WITHOUT ROWID;
    """,
]


class Bucket(NamedTuple):
    ts: int  # start of the bucket, ms
    min: float
    avg: float
    max: float
    count: int


def default_path() -> Path:
    return platformdirs.user_data_path("opserv-desktop", appauthor=False) / "history.sqlite3"


def connect(path: Path | str, readonly: bool = False) -> sqlite3.Connection:
    """Open the history, creating it (owner-only, 0600) and migrating its schema as needed."""
    path = Path(path)
    if readonly:  # as_uri() escapes '#', '?' and '%', which would otherwise end or alter the URI's path
        return sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=5)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))  # SQLite gives its -wal/-shm the same mode
    conn = sqlite3.connect(path, timeout=5, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, never corrupt
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"history {path} has schema {version}, newer than this version knows ({SCHEMA_VERSION})")
    for step in range(version, SCHEMA_VERSION):
        with conn:
            conn.executescript(_MIGRATIONS[step])
            conn.execute(f"PRAGMA user_version = {step + 1}")
    return conn


class HistoryInUse(RuntimeError):
    """Another OpServ Desktop is writing this history; two writers would interleave their data."""


def claim(path: Path) -> filelock.BaseFileLock:
    """Take the single-writer lock beside the history (released when the process ends, even by a kill)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(f"{path}.lock")
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise HistoryInUse(f"the history {path} is in use by another OpServ Desktop; close it, "
                           "or give this one another history with --db PATH") from None
    return lock


def open_or_replace_corrupt(path: Path) -> tuple[sqlite3.Connection, Path | None]:
    """Open the history for writing; a corrupt file (garbage, truncated) is moved aside under a
    timestamped name next to it and a new history started. Returns the connection and where the
    bad file went (None when it was fine): the caller tells the user."""
    try:
        return _checked(connect(path)), None
    except sqlite3.OperationalError:
        raise  # locked, read-only, no space: a condition, not a damaged file
    except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        log.error("history %s is damaged (%s); moved it to %s and started a new one", path, exc, aside)
        os.replace(path, aside)
        for suffix in ("-wal", "-shm"):  # the journal belongs to the bad file: keep the WAL with it
            side = Path(f"{path}{suffix}")
            if side.exists():
                os.replace(side, Path(f"{aside}{suffix}")) if suffix == "-wal" else side.unlink()
        return _checked(connect(path)), aside


def _checked(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Touch the schema and the last page of each table: reads that fail on a truncated file."""
    try:
        for table in ("series", "samples", "rollup_1m"):
            conn.execute(f"SELECT max(rowid) FROM {table}" if table != "rollup_1m"
                         else "SELECT max(ts) FROM rollup_1m").fetchone()
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn


def encode(key: SeriesKey, value: Any) -> Any:
    return json.dumps(value) if key.spec.kind is Kind.LIST else value


def decode(key: SeriesKey, value: Any) -> Any:
    return json.loads(value) if key.spec.kind is Kind.LIST else value


class HistoryWriter:
    """Owns the writing connection on its own thread; `append` is cheap and never blocks.

    Rows wait in memory until the next commit (at most COMMIT_INTERVAL_S later). If a commit
    fails (disk full, locked), they stay queued and the writer retries; `error` says why.
    Once a minute it also rolls raw rows up into 1-minute min/avg/max and applies retention:
    raw rows are kept `raw_days`, the roll-ups `rollup_days`, so the file stops growing.
    """

    def __init__(self, path: Path | str, raw_days: float = RAW_DAYS, rollup_days: float = ROLLUP_DAYS) -> None:
        self.path = Path(path)
        self.raw_days, self.rollup_days = raw_days, rollup_days  # read at each maintenance: settable live
        self._instance_lock = claim(self.path)
        try:
            self._conn, self.moved_aside = open_or_replace_corrupt(self.path)
        except BaseException:
            self._instance_lock.release()
            raise
        # One connection, used by the writer thread and by a `maintain` called from another thread:
        # interleaved, their implicit transactions collide ("cannot start a transaction within a transaction").
        self._conn_lock = threading.Lock()
        self._ids: dict[SeriesKey, int] = dict(self._load_ids())
        self._rows: queue.SimpleQueue[tuple[SeriesKey, int, Any] | threading.Event | None] = queue.SimpleQueue()
        self.error: str | None = None
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="opserv-history", daemon=True)
        self._thread.start()

    def _load_ids(self) -> Iterator[tuple[SeriesKey, int]]:
        for sid, comp, args, metric in self._conn.execute("SELECT id, component, args, metric FROM series"):
            yield SeriesKey(comp, args or None, metric), sid

    def append(self, key: SeriesKey, ts: int, value: Any) -> None:
        self._rows.put((key, ts, value))

    def close(self) -> None:
        """Commit everything appended so far, close, and let another instance have the file. Safe twice."""
        if self._thread.is_alive():
            self._rows.put(None)
            self._thread.join()
        self._instance_lock.release()

    def flush(self, timeout: float = 10.0) -> bool:
        """Commit what was appended so far now, without closing; True once it is on disk."""
        done = threading.Event()
        self._rows.put(done)
        return done.wait(timeout) and self.error is None

    def _run(self) -> None:
        pending: list[tuple[SeriesKey, int, Any]] = []
        flushes: list[threading.Event] = []
        commit_at: float | None = None
        maintain_at = time.monotonic()  # roll up and apply retention at start, then every minute
        stopping = False
        while not stopping or pending:
            if not stopping:
                wake = maintain_at if commit_at is None else min(commit_at, maintain_at)
                stopping = self._take(pending, flushes, max(0.0, wake - time.monotonic()))
                if pending and commit_at is None:
                    commit_at = time.monotonic() + COMMIT_INTERVAL_S
            now = time.monotonic()
            if pending and (stopping or flushes or now >= commit_at):
                if self._commit(pending):
                    pending, commit_at = [], None
                elif stopping:
                    log.error("history: %d measurements could not be written: %s", len(pending), self.error)
                    break
                else:
                    commit_at = now + COMMIT_INTERVAL_S  # keep the rows, try again
            for done in flushes:
                done.set()
            flushes.clear()
            if now >= maintain_at and not stopping:
                self.maintain()
                maintain_at = now + MAINTENANCE_INTERVAL_S
        self._conn.close()

    def _take(self, pending: list, flushes: list, timeout: float) -> bool:
        """Wait up to `timeout` s for rows and take all that wait; True once the stop mark came."""
        try:
            item = self._rows.get(timeout=timeout)
        except queue.Empty:
            return False
        while item is not None:
            (flushes if isinstance(item, threading.Event) else pending).append(item)
            try:
                item = self._rows.get_nowait()
            except queue.Empty:
                return False
        return True

    def maintain(self, now_ms: int | None = None) -> None:
        """Roll completed minutes up into rollup_1m, then drop raw and rolled-up rows past retention.

        Runs on the writer thread once a minute, and on any thread that calls it (the lock keeps the
        shared connection's transactions apart); per series, so every statement uses the index.
        """
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        # Minutes that ended ROLLUP_LAG_MS ago are complete: rows commit at most ~1 s late.
        until = (now_ms - ROLLUP_LAG_MS) // MINUTE_MS * MINUTE_MS
        raw_cutoff = now_ms - self.raw_days * DAY_MS
        rollup_cutoff = now_ms - self.rollup_days * DAY_MS
        try:
            with self._conn_lock, self._conn:
                for (sid,) in self._conn.execute("SELECT id FROM series").fetchall():
                    (done,) = self._conn.execute("SELECT max(ts) FROM rollup_1m WHERE series_id = ?", (sid,)).fetchone()
                    since = done + MINUTE_MS if done is not None else 0
                    self._conn.execute(
                        "INSERT OR REPLACE INTO rollup_1m (series_id, ts, min, avg, max, count) "
                        "SELECT series_id, ts / 60000 * 60000, min(value), avg(value), max(value), count(*) "
                        "FROM samples WHERE series_id = ? AND ts >= ? AND ts < ? "
                        "AND typeof(value) IN ('integer', 'real') GROUP BY ts / 60000",
                        (sid, since, until),
                    )
                    self._conn.execute("DELETE FROM samples WHERE series_id = ? AND ts < ?",
                                       (sid, min(raw_cutoff, until)))
                    self._conn.execute("DELETE FROM rollup_1m WHERE series_id = ? AND ts < ?", (sid, rollup_cutoff))
        except sqlite3.Error as exc:
            log.warning("history: roll-up and retention failed, will retry: %s", exc)

    def _commit(self, rows: list[tuple[SeriesKey, int, Any]]) -> bool:
        try:
            with self._conn_lock, self._conn:
                self._conn.executemany(
                    "INSERT INTO samples (series_id, ts, value) VALUES (?, ?, ?)",
                    [(self._series_id(k), ts, encode(k, v)) for k, ts, v in rows],
                )
        except sqlite3.Error as exc:
            # The rollback also undid series rows made in this transaction: forget the cached ids (they
            # refill on the next commit), or the retry would file samples under an id a later series gets.
            self._ids.clear()
            if self.error is None:
                log.warning("history: cannot write %s, will retry: %s", self.path, exc)
            self.error = str(exc)
            return False
        if self.error is not None:
            log.info("history: writing %s again", self.path)
        self.error = None
        self.written += len(rows)
        return True

    def _series_id(self, key: SeriesKey) -> int:
        sid = self._ids.get(key)
        if sid is None:
            sid = self._conn.execute(
                "INSERT INTO series (component, args, metric) VALUES (?, ?, ?) "
                "ON CONFLICT DO UPDATE SET metric = excluded.metric RETURNING id",
                (key.component, key.args or "", key.metric),
            ).fetchone()[0]
            self._ids[key] = sid
        return sid


class HistoryReader:
    """Read-only queries on a history file; open one per thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        with closing(connect(self.path, readonly=True)) as conn:
            yield conn

    def series(self) -> list[SeriesKey]:
        """Every series in the history that this version's catalog knows (a newer one may have added metrics)."""
        with self._conn() as conn:
            rows = conn.execute("SELECT component, args, metric FROM series ORDER BY component, args, metric")
            return [SeriesKey(c, a or None, m) for c, a, m in rows if (c, m) in catalog.METRICS]

    def raw(self, key: SeriesKey, start_ms: int = 0, end_ms: int = 2**62) -> list[tuple[int, Any]]:
        """Every measurement of `key` with start_ms <= ts < end_ms, oldest first."""
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT s.ts, s.value FROM samples s JOIN series k ON k.id = s.series_id "
                "WHERE k.component = ? AND k.args = ? AND k.metric = ? AND s.ts >= ? AND s.ts < ? "
                "ORDER BY s.ts",
                (key.component, key.args or "", key.metric, start_ms, end_ms),
            )
            return [(ts, decode(key, v)) for ts, v in rows]

    def iter_raw(self, key: SeriesKey, start_ms: int = 0, end_ms: int = 2**62) -> Iterator[tuple[int, Any]]:
        """Like `raw`, streamed: for exports too large to hold in memory."""
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT s.ts, s.value FROM samples s JOIN series k ON k.id = s.series_id "
                "WHERE k.component = ? AND k.args = ? AND k.metric = ? AND s.ts >= ? AND s.ts < ? ORDER BY s.ts",
                (key.component, key.args or "", key.metric, start_ms, end_ms),
            )
            if key.spec.kind is Kind.LIST:
                rows = ((ts, json.loads(value)) for ts, value in rows)
            yield from rows

    def count(self, keys: Iterable[SeriesKey], start_ms: int = 0, end_ms: int = 2**62) -> int:
        """How many raw measurements `keys` have in [start_ms, end_ms)."""
        total = 0
        with self._conn() as conn:
            for key in keys:
                total += conn.execute(
                    "SELECT count(*) FROM samples s JOIN series k ON k.id = s.series_id "
                    "WHERE k.component = ? AND k.args = ? AND k.metric = ? AND s.ts >= ? AND s.ts < ?",
                    (key.component, key.args or "", key.metric, start_ms, end_ms),
                ).fetchone()[0]
        return total

    def first_ts(self, keys: Iterable[SeriesKey]) -> int | None:
        """The oldest time any of `keys` has in the history, raw or rolled up."""
        found = []
        with self._conn() as conn:
            for key in keys:
                sid = self._series_id(conn, key)
                if sid is not None:
                    found += [t for (t,) in conn.execute(
                        "SELECT min(ts) FROM samples WHERE series_id = ? UNION ALL "
                        "SELECT min(ts) FROM rollup_1m WHERE series_id = ?", (sid, sid)) if t is not None]
        return min(found, default=None)

    def bucket_averages(self, key: SeriesKey, start_ms: int, end_ms: int, bucket_ms: int) -> list[tuple[int, float]]:
        """The average of each `bucket_ms`-long bucket aligned to the epoch, from raw rows."""
        with self._conn() as conn:
            return conn.execute(
                "SELECT s.ts / ? * ? AS b, avg(s.value) FROM samples s JOIN series k ON k.id = s.series_id "
                "WHERE k.component = ? AND k.args = ? AND k.metric = ? AND s.ts >= ? AND s.ts < ? "
                "GROUP BY b ORDER BY b",
                (bucket_ms, bucket_ms, key.component, key.args or "", key.metric, start_ms, end_ms),
            ).fetchall()

    def condensed(self, key: SeriesKey, start_ms: int, end_ms: int, buckets: int) -> list[Bucket]:
        """min/avg/max of a numeric series in `buckets` equal slices of [start_ms, end_ms); empty ones left out.

        Buckets of a minute or more read the 1-minute roll-ups (fast over any range, and the only
        data left past raw retention), plus the raw rows of minutes not rolled up yet.
        """
        if end_ms <= start_ms or buckets < 1:
            raise ValueError(f"need start_ms < end_ms and buckets >= 1, got {start_ms}, {end_ms}, {buckets}")
        width = max(1, -(-(end_ms - start_ms) // buckets))
        with self._conn() as conn:
            sid = self._series_id(conn, key)
            if sid is None:
                return []
            boundary = start_ms
            parts = []
            if width >= MINUTE_MS:
                (last,) = conn.execute("SELECT max(ts) FROM rollup_1m WHERE series_id = ?", (sid,)).fetchone()
                if last is not None:
                    boundary = min(end_ms, max(start_ms, last + MINUTE_MS))
                    parts += conn.execute(
                        "SELECT (ts - ?) / ? AS b, min(min), sum(avg * count) / sum(count), max(max), sum(count) "
                        "FROM rollup_1m WHERE series_id = ? AND ts >= ? AND ts < ? GROUP BY b",
                        (start_ms, width, sid, start_ms, boundary)).fetchall()
            parts += conn.execute(
                "SELECT (ts - ?) / ? AS b, min(value), avg(value), max(value), count(*) "
                "FROM samples WHERE series_id = ? AND ts >= ? AND ts < ? GROUP BY b",
                (start_ms, width, sid, boundary, end_ms)).fetchall()
        merged: dict[int, list] = {}
        for b, lo, avg, hi, n in parts:
            if b in merged:  # the bucket that straddles the roll-up boundary
                m = merged[b]
                m[:] = [min(m[0], lo), (m[1] * m[3] + avg * n) / (m[3] + n), max(m[2], hi), m[3] + n]
            else:
                merged[b] = [lo, avg, hi, n]
        return [Bucket(start_ms + b * width, *merged[b]) for b in sorted(merged)]

    @staticmethod
    def _series_id(conn: sqlite3.Connection, key: SeriesKey) -> int | None:
        row = conn.execute("SELECT id FROM series WHERE component = ? AND args = ? AND metric = ?",
                           (key.component, key.args or "", key.metric)).fetchone()
        return row[0] if row else None

    def size_bytes(self) -> int:
        """The history's size on disk, its WAL included."""
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())


def write_rows(path: Path | str, rows: Iterable[tuple[SeriesKey, int, Any]]) -> None:
    """Write rows synchronously (seeding a history in tests and benchmarks)."""
    writer = HistoryWriter(path)
    for row in rows:
        writer.append(*row)
    writer.close()
