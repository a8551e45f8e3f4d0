"""The command line as a user runs it: a real `python -m desktop_app` process."""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import desktop_app
from desktop_app.measurement import SeriesKey
from desktop_app.storage.history import HistoryReader

ROOT = Path(desktop_app.__file__).resolve().parent.parent


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), e.get("PYTHONPATH")]))
    e.pop("DISPLAY", None)  # headless must not need a display
    e.pop("WAYLAND_DISPLAY", None)
    return e


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True,
                          timeout=timeout, env=env(), cwd=ROOT)


def measured_count(stderr: str) -> int:
    match = re.search(r"stopped after (\d+) measurements", stderr)
    assert match, f"no final count in the log:\n{stderr}"
    return int(match.group(1))


def stored_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM samples").fetchone()[0]


def test_version_prints_the_package_version():
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"opserv-desktop {desktop_app.__version__}"


def test_headless_with_a_duration_records_the_default_set_and_exits_0(db_path):
    start = time.monotonic()
    done = run("--headless", "--duration", "2", "--db", str(db_path))
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    assert 2.0 <= elapsed < 15
    reader = HistoryReader(db_path)
    cpu = reader.raw(SeriesKey("cpu", "0", "usage"))
    assert len(cpu) >= 1 and all(0.0 <= v <= 100.0 for _, v in cpu)
    series = set(reader.series())
    for core in range(psutil.cpu_count()):
        assert SeriesKey("cpucore", str(core), "usage") in series
    assert SeriesKey("memory", None, "usage") in series
    assert SeriesKey("system", None, "networks") in series
    assert not [k for k in series if k.component == "process"], "headless gathers no per-process series"
    # a clean stop flushes: every measurement taken is in the file
    assert stored_count(db_path) == measured_count(done.stderr)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_headless_run_cleanly(db_path, sig):
    """Ctrl+C or a service manager's SIGTERM: exit 0 with everything measured so far in the history."""
    proc = subprocess.Popen([sys.executable, "-m", "desktop_app", "--headless", "--db", str(db_path)],
                            stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT)
    try:
        deadline = time.monotonic() + 15
        for line in proc.stderr:  # the handlers are in place once it says where it gathers
            if "gathering headless into" in line or time.monotonic() > deadline:
                break
        time.sleep(1.5)
        proc.send_signal(sig)
        rest = proc.stderr.read()
        code = proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert code == 0, rest
    assert "Traceback" not in rest
    count = measured_count(rest)
    assert count > 0
    assert stored_count(db_path) == count
    assert HistoryReader(db_path).raw(SeriesKey("cpu", "0", "usage"))


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--duration", "5"], "--headless"),
        (["--headless", "--duration", "0"], "positive"),
        (["--headless", "--duration", "-3"], "positive"),
        (["--headless", "--duration", "soon"], "invalid float value: 'soon'"),
        (["--headless", "--db"], "expected one argument"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_exit_non_zero_with_a_clear_message(args, fragment):
    done = run(*args)
    assert done.returncode == 2
    assert fragment in done.stderr
    assert "usage: opserv-desktop" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("kind", ["directory", "not a database", "under a file"])
def test_an_unusable_history_path_is_a_clear_error_not_a_traceback(tmp_path, kind):
    if kind == "directory":
        db = tmp_path
    elif kind == "not a database":
        db = tmp_path / "notes.txt"
        db.write_text("these are my notes, not a database\n" * 100)
    else:
        (tmp_path / "file").write_text("x")
        db = tmp_path / "file" / "history.sqlite3"
    done = run("--headless", "--duration", "1", "--db", str(db))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert str(db) in done.stderr
    if kind == "not a database":
        assert db.read_text().startswith("these are my notes"), "a file that is not ours is left alone"
