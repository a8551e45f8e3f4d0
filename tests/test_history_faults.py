"""History faults: a damaged file at start, a second writer, a locked database."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.measurement import SeriesKey, now_ms
from desktop_app.storage.history import HistoryInUse, HistoryReader, HistoryWriter, write_rows

ROOT = Path(__file__).resolve().parent.parent
CPU = SeriesKey("cpu", "0", "usage")


def seed(db: Path, n: int = 20_000) -> None:
    t = now_ms()
    write_rows(db, [(CPU, t + i, float(i % 100)) for i in range(n)])
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, as after a clean stop


def truncate(db: Path) -> None:
    with open(db, "r+b") as f:
        f.truncate(os.path.getsize(db) // 2)


def garbage(db: Path) -> None:
    db.write_bytes(os.urandom(64 * 1024))


@pytest.mark.parametrize("damage", [truncate, garbage], ids=["truncated", "garbage"])
def test_a_damaged_history_is_moved_aside_and_a_new_one_started(db_path, damage):
    seed(db_path)
    damage(db_path)
    bad = db_path.read_bytes()
    writer = HistoryWriter(db_path)
    try:
        assert writer.moved_aside is not None and writer.moved_aside.name.startswith("history.sqlite3.corrupt-")
        assert writer.moved_aside.read_bytes() == bad  # kept for the user, byte for byte
        writer.append(CPU, now_ms(), 5.0)
    finally:
        writer.close()
    assert [v for _, v in HistoryReader(db_path).raw(CPU)] == [5.0]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_sound_history_is_not_moved(db_path):
    seed(db_path, 100)
    writer = HistoryWriter(db_path)
    writer.close()
    assert writer.moved_aside is None
    assert len(HistoryReader(db_path).raw(CPU)) == 100


def test_a_second_writer_on_the_same_history_is_refused_clearly(db_path):
    first = HistoryWriter(db_path)
    try:
        with pytest.raises(HistoryInUse, match="in use by another OpServ Desktop.*--db"):
            HistoryWriter(db_path)
    finally:
        first.close()
    HistoryWriter(db_path).close()  # free again once the first one closed


def test_a_second_headless_instance_says_so_and_leaves_the_first_alone(db_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen([sys.executable, "-m", "desktop_app", "--headless", "--duration", "8", "--db",
                              str(db_path)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        for line in first.stderr:
            if "gathering headless into" in line:
                break
        second = subprocess.run([sys.executable, "-m", "desktop_app", "--headless", "--duration", "1", "--db",
                                 str(db_path)], env=env, capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        assert "in use by another OpServ Desktop" in second.stderr and "Traceback" not in second.stderr
        first.stderr.read()
        assert first.wait(30) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        first.stderr.close()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_database_locked_by_another_process_delays_rows_but_loses_none(db_path):
    """Another program holding a write lock (a backup tool, sqlite3 shell): the writer retries."""
    writer = HistoryWriter(db_path)
    blocker = sqlite3.connect(db_path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        t = now_ms()
        for i in range(50):
            writer.append(CPU, t + i, float(i))
        assert not writer.flush(timeout=15)  # could not commit while locked...
        assert writer.error and "locked" in writer.error
    finally:
        blocker.rollback()
        blocker.close()
    assert writer.flush(timeout=15)  # ...and everything went in once the lock was gone
    writer.close()
    assert [v for _, v in HistoryReader(db_path).raw(CPU)] == [float(i) for i in range(50)]
