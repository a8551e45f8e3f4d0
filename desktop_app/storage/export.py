"""CSV export of the history: a long layout (a row per measurement) and a wide one (a row per bucket).

The file appears atomically: rows go to a hidden temporary file beside the target, which is
renamed over it only when complete, so a failed or cancelled export leaves nothing behind.
"""
from __future__ import annotations

import csv
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path

from desktop_app.measurement import SeriesKey
from desktop_app.storage.history import HistoryReader

LONG_HEADER = ["timestamp", "timestamp_ms", "component", "args", "metric", "value", "unit"]
PROGRESS_EVERY = 20_000  # rows between progress reports


class ExportCancelled(Exception):
    """The user cancelled; the partial file was removed."""


class ExportError(Exception):
    """The export could not be written; the message names the path and the reason."""


@dataclass(frozen=True)
class ExportRequest:
    db: Path
    out: Path
    series: tuple[SeriesKey, ...]  # empty: every series in the history
    start_ms: int = 0
    end_ms: int = 2**62
    layout: str = "long"  # or "wide"
    bucket_ms: int = 60_000  # wide layout only


_minutes: dict[int, str] = {}  # minute -> its local "YYYY-mm-ddTHH:MM:" and UTC offset, see iso()


def iso(ts_ms: int) -> str:
    """ISO 8601 in local time with its UTC offset, to the millisecond.

    The date, hour, minute and offset are formatted once per minute (offsets change on minute
    boundaries at most): a million rows would otherwise spend most of an export in datetime.
    """
    minute, in_minute = divmod(ts_ms, 60_000)
    head = _minutes.get(minute)
    if head is None:
        if len(_minutes) > 100_000:
            _minutes.clear()
        stamp = datetime.fromtimestamp(minute * 60).astimezone()
        offset = stamp.isoformat()[19:]  # "+01:00"
        head = _minutes[minute] = stamp.strftime("%Y-%m-%dT%H:%M:") + "{:06.3f}" + offset
    return head.format(in_minute / 1000)


def export_csv(request: ExportRequest, progress: Callable[[int, int], bool] | None = None) -> int:
    """Write the CSV and return the number of data rows.

    `progress(done, total)` is called every few thousand rows; returning False cancels
    (ExportCancelled). An unwritable target or an unreadable history raises ExportError; none of
    these leaves a file.
    """
    reader = HistoryReader(request.db)
    out = Path(request.out)
    if out.is_dir():
        raise ExportError(f"cannot write {out}: it is a folder; choose a file name")
    if out.exists() and Path(request.db).exists() and os.path.samefile(out, request.db):
        raise ExportError(f"cannot write {out}: it is the history being exported; choose another file name")
    try:
        keys = list(dict.fromkeys(request.series)) or reader.series()  # a series named twice is exported once
        total = reader.count(keys, request.start_ms, request.end_ms)
    except sqlite3.Error as exc:
        raise ExportError(f"cannot read the history {request.db}: {exc}") from exc
    try:
        handle, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            if request.layout == "wide":
                header, rows = wide_header(keys), _wide_rows(reader, keys, request)
            else:
                header, rows = LONG_HEADER, _long_rows(reader, keys, request)
            writer.writerow(header)
            done = 0
            while chunk := list(islice(rows, PROGRESS_EVERY)):
                writer.writerows(chunk)
                done += len(chunk)
                if progress is not None and len(chunk) == PROGRESS_EVERY and progress(done, total) is False:
                    raise ExportCancelled(f"export to {out} cancelled after {done} rows")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException as exc:  # cancelled, failed, or a bug: never leave the partial file behind
        tmp.unlink(missing_ok=True)
        if isinstance(exc, sqlite3.Error):
            raise ExportError(f"cannot read the history {request.db}: {exc}") from exc
        if isinstance(exc, OSError):
            raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from exc
        raise
    if progress is not None:
        progress(done, total)
    return done


def _long_rows(reader: HistoryReader, keys: Iterable[SeriesKey], request: ExportRequest) -> Iterator[list]:
    for key in keys:
        unit = key.spec.unit
        for ts, value in reader.iter_raw(key, request.start_ms, request.end_ms):
            yield [iso(ts), ts, key.component, key.args or "", key.metric,
                   json.dumps(value) if isinstance(value, list) else value, unit]


def wide_header(keys: Iterable[SeriesKey]) -> list[str]:
    """timestamp, timestamp_ms, then a "component/args/metric (unit)" column per numeric series."""
    return ["timestamp", "timestamp_ms", *(f"{k} ({k.spec.unit})" for k in keys if k.spec.is_numeric)]


def _wide_rows(reader: HistoryReader, keys: list[SeriesKey], request: ExportRequest) -> Iterator[list]:
    """One row per bucket with each numeric series' average in its own column (empty: no data)."""
    numeric = [k for k in keys if k.spec.is_numeric]
    table: dict[int, list] = {}
    for i, key in enumerate(numeric):
        for bucket, avg in reader.bucket_averages(key, request.start_ms, request.end_ms, request.bucket_ms):
            table.setdefault(bucket, [""] * len(numeric))[i] = avg
    for bucket in sorted(table):
        yield [iso(bucket), bucket, *table[bucket]]

