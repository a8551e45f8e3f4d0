"""The command line as a user runs it: a real `python -m desktop_app` process."""
from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
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
from desktop_app import cli
from desktop_app.measurement import SeriesKey, now_ms
from desktop_app.storage.export import ExportRequest, export_csv, iso
from desktop_app.storage.history import HistoryReader, write_rows
from tests.conftest import wait_for

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
    with launched(["--headless", "--db", str(db_path)], env()) as proc:
        deadline = time.monotonic() + 15
        for line in proc.stderr:  # the handlers are in place once it says where it gathers
            if "gathering headless into" in line or time.monotonic() > deadline:
                break
        time.sleep(1.5)
        code, rest = stop_with(proc, sig)
    assert code == 0, rest
    assert "Traceback" not in rest
    count = measured_count(rest)
    assert count > 0
    assert stored_count(db_path) == count
    assert HistoryReader(db_path).raw(SeriesKey("cpu", "0", "usage"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_closes_the_window_as_quit_does(db_path, tmp_path, sig):
    """A logout's SIGTERM, or Ctrl+C in the terminal that started it: the window closes as with
    Ctrl+Q (exit 0, its place and page saved, the history's last second written), not killed."""
    gui_env = {**env(), "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config"),
               "XDG_DATA_HOME": str(tmp_path / "data")}
    cpu = SeriesKey("cpu", "0", "usage")
    with launched(["--db", str(db_path)], gui_env) as proc:
        wait_for(lambda: proc.poll() is not None or stored_count_of(db_path, cpu) >= 2, what="the window gathering")
        assert proc.poll() is None, "the window ended by itself"
        code, rest = stop_with(proc, sig)
    assert code == 0, rest
    assert "Traceback" not in rest
    settings = (tmp_path / "config" / "OpServ" / "OpServ Desktop.conf").read_text()
    assert "geometry" in settings, "the window's place is saved as on Ctrl+Q"
    assert stored_count_of(db_path, cpu) >= 2


@contextlib.contextmanager
def launched(args: list[str], environment: dict[str, str]):
    """`python -m desktop_app ARGS` with its stderr piped; killed at the end if still running."""
    proc = subprocess.Popen([sys.executable, "-m", "desktop_app", *args], stderr=subprocess.PIPE, text=True,
                            env=environment, cwd=ROOT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def stop_with(proc: subprocess.Popen, sig: int) -> tuple[int, str]:
    """Send `sig`; the exit code and the rest of stderr."""
    proc.send_signal(sig)
    rest = proc.stderr.read()
    return proc.wait(timeout=15), rest


def stored_count_of(db: Path, key: SeriesKey) -> int:
    try:
        return len(HistoryReader(db).raw(key))
    except Exception:  # not created yet
        return 0


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


@pytest.mark.parametrize("kind", ["directory", "under a file"])
def test_an_unusable_history_path_is_a_clear_error_not_a_traceback(tmp_path, kind):
    if kind == "directory":
        db = tmp_path
    else:
        (tmp_path / "file").write_text("x")
        db = tmp_path / "file" / "history.sqlite3"
    done = run("--headless", "--duration", "1", "--db", str(db))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert str(db) in done.stderr


def test_a_file_that_is_not_a_database_is_moved_aside_not_lost(tmp_path):
    """Garbage where the history should be: gathering starts on a new history; the file is kept, renamed."""
    db = tmp_path / "notes.txt"
    db.write_text("these are my notes, not a database\n" * 100)
    done = run("--headless", "--duration", "1", "--db", str(db))
    assert done.returncode == 0, done.stderr
    [aside] = tmp_path.glob("notes.txt.corrupt-*")
    assert aside.read_text().startswith("these are my notes")
    assert str(aside) in done.stderr
    assert HistoryReader(db).series()  # the new history has data


# Export: `opserv-desktop export`, the same export_csv the File > Export CSV dialog runs.

CPU = SeriesKey("cpu", "0", "usage")
MEM = SeriesKey("memory", None, "used")
HOUR = 3_600_000


@pytest.fixture
def history(db_path):
    """Two recent hours: CPU every 10 s, memory every minute, a text row. No rows within a minute of
    "an hour ago", so `--since 1h` selects the same rows however long the process takes to start."""
    now = now_ms()
    rows = [(CPU, now - i * 10_000 - 3_000, float(i % 101)) for i in range(720)]
    rows += [(MEM, now - i * 60_000 - 7_000, float(2**33 + i)) for i in range(120)]
    rows += [(SeriesKey("network", "eth0", "info"), now - HOUR // 2, 'eth0, "uplink"\nünï')]
    write_rows(db_path, [r for r in rows if not now - HOUR - 60_000 < r[1] < now - HOUR + 60_000])
    return db_path, now


def api_export(tmp_path: Path, request: ExportRequest) -> bytes:
    """What the dialog writes for the same request (it calls export_csv with the request it builds)."""
    out = tmp_path / "api.csv"
    export_csv(dataclasses.replace(request, out=out))
    return out.read_bytes()


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize(
    "args,request_args",
    [
        ([], {}),
        (["--since", "1h"], {"start_ms": -HOUR}),
        (["--from", -90 * 60_000, "--to", -20 * 60_000], {"start_ms": -90 * 60_000, "end_ms": -20 * 60_000}),
        (["--series", "cpu/0/usage"], {"series": (CPU,)}),
        (["--series", "memory//used", "cpu//usage"], {"series": (MEM, CPU)}),  # cpu's args default to 0
        (["--format", "wide", "--bucket", "10s"], {"layout": "wide", "bucket_ms": 10_000}),
        (["--format", "wide", "--since", "1h", "--series", "cpu/0/usage", "memory//used"],
         {"layout": "wide", "start_ms": -HOUR, "series": (CPU, MEM)}),
    ],
)
def test_cli_export_writes_what_the_dialogs_export_writes(history, tmp_path, args, request_args):
    """Exit 0, and byte for byte the file export_csv writes for the same request."""
    db, now = history
    args = [iso(now + a) if isinstance(a, int) else a for a in args]  # times relative to the seeded now
    request_args = {k: now + v if k.endswith("_ms") and k != "bucket_ms" else v for k, v in request_args.items()}
    out = tmp_path / "cli.csv"
    done = run("export", "--out", str(out), "--db", str(db), *args)
    assert done.returncode == 0, done.stderr
    rows = read_csv(out)
    assert f"exported {len(rows) - 1} rows to {out}" in done.stderr
    assert out.read_bytes() == api_export(tmp_path, ExportRequest(db, out, **{"series": (), **request_args}))
    assert len(rows) > 1


def test_cli_export_selects_the_rows_its_arguments_name(history, tmp_path):
    """Independently of export_csv: --since 1h of cpu/0/usage is exactly the history's last hour of it."""
    db, now = history
    out = tmp_path / "cli.csv"
    assert run("export", "--db", str(db), "--out", str(out), "--since", "1h", "--series", "cpu/0/usage").returncode == 0
    rows = read_csv(out)[1:]
    want = HistoryReader(db).raw(CPU, now - HOUR)
    assert [(int(r[1]), float(r[5])) for r in rows] == want
    assert len(want) == 360 - 6  # the six in the minute after "an hour ago" were left out


def test_the_history_may_be_named_before_the_subcommand(history, tmp_path):
    db, _ = history
    out = tmp_path / "cli.csv"
    done = run("--db", str(db), "export", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == api_export(tmp_path, ExportRequest(db, out, ()))


@pytest.mark.parametrize(
    "args,code,fragment",
    [
        (["--series", "cpu/0/bogus"], 2, "unknown metric 'bogus' for component 'cpu'"),
        (["--series", "cpucore//usage"], 2, "needs args"),
        (["--since", "5q"], 2, "'5q' is not a duration"),
        (["--since", "infh"], 2, "'infh' is not a duration"),
        (["--format", "wide", "--bucket", "0.0001s"], 2, "'0.0001s' is not a duration"),
        (["--to", "2026-01-01T00:00"], 2, "--to goes with --from"),
        (["--from", "2026-01-02T00:00", "--to", "2026-01-01T00:00"], 2, "--to must be later than --from"),
        (["--from", "yesterday"], 2, "'yesterday' is not an ISO 8601 time"),
    ],
)
def test_bad_export_arguments_exit_non_zero_naming_the_problem(history, tmp_path, args, code, fragment):
    db, _ = history
    out = tmp_path / "out.csv"
    done = run("export", "--out", str(out), "--db", str(db), *args)
    assert done.returncode == code
    assert fragment in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


@pytest.mark.parametrize("problem", ["missing history", "not a history", "out in a missing folder",
                                     "out under a file", "out is a folder", "out is the history"])
def test_an_export_that_cannot_run_exits_1_naming_the_path(history, tmp_path, problem):
    db, _ = history
    out = tmp_path / "out.csv"
    named = out
    if problem == "missing history":
        db = named = tmp_path / "nowhere.sqlite3"
    elif problem == "not a history":
        db = named = tmp_path / "notes.txt"
        db.write_text("these are my notes\n" * 100)
    elif problem == "out in a missing folder":
        out = named = tmp_path / "missing" / "out.csv"
    elif problem == "out under a file":
        (tmp_path / "file").write_text("x")
        out = named = tmp_path / "file" / "out.csv"
    elif problem == "out is a folder":
        out = named = tmp_path
    else:
        out = named = db
    stored = HistoryReader(history[0]).raw(CPU)  # reading leaves the WAL's -wal and -shm files: list after it
    before = sorted(os.listdir(tmp_path))
    done = run("export", "--out", str(out), "--db", str(db))
    assert done.returncode == 1
    assert str(named) in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(os.listdir(tmp_path)) == before, "nothing written, not even a temporary file"
    assert HistoryReader(history[0]).raw(CPU) == stored


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2026-12-04T10:00:00.000+00:00", 1_796_378_400_000),
        ("2026-12-04T10:00Z", 1_796_378_400_000),
        ("2026-12-04T11:30:00.001+01:30", 1_796_378_400_001),
        ("1970-01-01T00:00:00.000+00:00", 0),
        # float seconds * 1000 lands a millisecond early for these: a copied row time must select its row
        ("2039-03-08T19:46:13.411+00:00", 2_183_226_373_411),
        ("2038-08-15T15:00:50.430+00:00", 2_165_497_250_430),
        ("2004-03-15T07:55:47.472+00:00", 1_079_337_347_472),
    ],
)
def test_iso_times_parse_to_the_exact_millisecond(text, expected):
    assert cli.iso_ms(text) == expected
    assert cli.iso_ms(iso(expected)) == expected


@pytest.mark.parametrize(
    "text,expected",
    [("90s", 90_000), ("30m", 1_800_000), ("1h", HOUR), ("7d", 604_800_000), ("1.5h", 5_400_000),
     ("0.001s", 1), ("5q", None), ("infh", None), ("nans", None), ("0s", None), ("-1h", None), ("", None),
     ("h", None), ("0.0001s", None), ("10", None)],
)
def test_durations(text, expected):
    if expected is None:
        with pytest.raises(argparse.ArgumentTypeError, match="is not a duration"):
            cli.duration_ms(text)
    else:
        assert cli.duration_ms(text) == expected
