"""A kill during steady gathering loses at most the last second or so, and the file opens cleanly."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from desktop_app.measurement import SeriesKey, now_ms
from desktop_app.storage.history import HistoryReader, HistoryWriter

ROOT = Path(__file__).resolve().parent.parent
MEMORY = SeriesKey("memory", None, "usage")  # gathered every second in the default set


def newest(db: Path) -> int:
    try:
        rows = HistoryReader(db).raw(MEMORY)
    except sqlite3.Error:  # not created yet
        return 0
    return rows[-1][0] if rows else 0


def test_sigkill_loses_at_most_the_last_second_and_the_file_opens_cleanly(tmp_path):
    db = tmp_path / "history.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "desktop_app", "--headless", "--db", str(db)],
                            env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while newest(db) == 0 or time.monotonic() < deadline - 15:  # steady: several commits done
            assert time.monotonic() < deadline and proc.poll() is None, "headless run never wrote history"
            time.sleep(0.2)
        killed_at = now_ms()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with sqlite3.connect(db) as conn:  # WAL recovery on open, then a full consistency check
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # Rows are measured every 1 s and committed at least once a second: the newest one kept is
    # at most ~2 s old (one commit interval plus one measurement interval), never more.
    assert killed_at - newest(db) <= 2_500, killed_at - newest(db)
    writer = HistoryWriter(db)  # and the app can go on writing to it
    writer.append(MEMORY, now_ms(), 1.0)
    writer.close()
    assert newest(db) > killed_at
