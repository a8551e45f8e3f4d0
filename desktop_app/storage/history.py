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

import platformdirs

from desktop_app.catalog import Kind
from desktop_app.measurement import SeriesKey

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
COMMIT_INTERVAL_S = 1.0

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


def encode(key: SeriesKey, value: Any) -> Any:
    return json.dumps(value) if key.spec.kind is Kind.LIST else value


def decode(key: SeriesKey, value: Any) -> Any:
    return json.loads(value) if key.spec.kind is Kind.LIST else value


class HistoryWriter:
    """Owns the writing connection on its own thread; `append` is cheap and never blocks.

    Rows wait in memory until the next commit (at most COMMIT_INTERVAL_S later). If a commit
    fails (disk full, locked), they stay queued and the writer retries; `error` says why.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn = connect(self.path)
        self._ids: dict[SeriesKey, int] = dict(self._load_ids())
        self._rows: queue.SimpleQueue[tuple[SeriesKey, int, Any] | None] = queue.SimpleQueue()
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
        """Commit everything appended so far and close. Safe to call twice."""
        if self._thread.is_alive():
            self._rows.put(None)
            self._thread.join()

    def _run(self) -> None:
        pending: list[tuple[SeriesKey, int, Any]] = []
        deadline = None
        running = True
        while running or pending:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._rows.get(timeout=timeout) if running else None
            except queue.Empty:
                item = ()
            if item is None:
                running = False
            elif item:
                pending.append(item)
                while True:  # take what else is waiting without blocking
                    try:
                        more = self._rows.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        running = False
                        break
                    pending.append(more)
                if deadline is None:
                    deadline = time.monotonic() + COMMIT_INTERVAL_S
            if pending and (not running or time.monotonic() >= deadline):
                if self._commit(pending):
                    pending, deadline = [], None
                elif not running:
                    log.error("history: %d measurements could not be written: %s", len(pending), self.error)
                    break
                else:
                    deadline = time.monotonic() + COMMIT_INTERVAL_S  # retry later, keep the rows
        self._conn.close()

    def _commit(self, rows: list[tuple[SeriesKey, int, Any]]) -> bool:
        try:
            with self._conn:
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
        with self._conn() as conn:
            rows = conn.execute("SELECT component, args, metric FROM series ORDER BY component, args, metric")
            return [SeriesKey(c, a or None, m) for c, a, m in rows]

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

    def condensed(self, key: SeriesKey, start_ms: int, end_ms: int, buckets: int) -> list[Bucket]:
        """min/avg/max of a numeric series in `buckets` equal slices of [start_ms, end_ms); empty ones left out."""
        if end_ms <= start_ms or buckets < 1:
            raise ValueError(f"need start_ms < end_ms and buckets >= 1, got {start_ms}, {end_ms}, {buckets}")
        width = max(1, -(-(end_ms - start_ms) // buckets))
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT (s.ts - ?) / ? AS b, min(s.value), avg(s.value), max(s.value), count(*) "
                "FROM samples s JOIN series k ON k.id = s.series_id "
                "WHERE k.component = ? AND k.args = ? AND k.metric = ? AND s.ts >= ? AND s.ts < ? "
                "GROUP BY b ORDER BY b",
                (start_ms, width, key.component, key.args or "", key.metric, start_ms, end_ms),
            )
            return [Bucket(start_ms + b * width, lo, avg, hi, n) for b, lo, avg, hi, n in rows]

    def size_bytes(self) -> int:
        """The history's size on disk, its WAL included."""
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())


def write_rows(path: Path | str, rows: Iterable[tuple[SeriesKey, int, Any]]) -> None:
    """Write rows synchronously (seeding a history in tests and benchmarks)."""
    writer = HistoryWriter(path)
    for row in rows:
        writer.append(*row)
    writer.close()
