"""The sources of issue 7: the process table, ending a process, temperatures, fans and the battery.

Real psutil where this machine has the thing (processes); an injected psutil where it has not
(sensors: this VM exposes none) or where a fault cannot be produced on demand (AccessDenied as root).
"""
from __future__ import annotations

import getpass
import os
import signal
import subprocess
import sys
import time
from collections import namedtuple

import psutil
import pytest

from desktop_app import catalog, gathering, queue_manager
from desktop_app.data_manager import DataStore
from desktop_app.gathering.loop import Gatherer, default_rates
from desktop_app.gathering.sources import Priming, Unavailable, default_sources
from desktop_app.gathering.sources.process_table import (
    COLUMNS,
    CPU,
    STARTED,
    CannotSignal,
    ProcessTableSource,
    end_process,
)
from desktop_app.gathering.sources.sensors import SensorsSource, battery_status, sensor_names, split_sensor
from desktop_app.measurement import SeriesKey
from desktop_app.queue_manager import QueueHub
from desktop_app.storage.history import HistoryReader

TABLE = SeriesKey("system", None, "processtable")
Temp = namedtuple("shwtemp", "label current high critical")
Fan = namedtuple("sfan", "label current")
Battery = namedtuple("sbattery", "percent secsleft power_plugged")
SPIN = "import time\nend = time.time() + 20\nwhile time.time() < end: pass"


def table(source: ProcessTableSource) -> list[list]:
    """Read the table as the gatherer does: the first reading primes, the next comes 0.1 s later."""
    try:
        return source.read(TABLE, time.monotonic())
    except Priming:
        time.sleep(0.1)
        return source.read(TABLE, time.monotonic())


def row_of(rows: list[list], pid: int) -> list | None:
    return next((r for r in rows if r[0] == pid), None)


# -- the process table ---------------------------------------------------------------------------
def test_the_first_table_primes_then_rows_describe_each_process(child):
    src = ProcessTableSource(psutil)
    with pytest.raises(Priming):
        src.read(TABLE, time.monotonic())
    time.sleep(0.1)
    rows = src.read(TABLE, time.monotonic())
    assert {r[0] for r in rows} >= {os.getpid(), child.pid}
    for row in rows:
        assert len(row) == len(COLUMNS) + 1  # and `started`
        pid, name, user, cpu, memory, status, command, started = row
        assert isinstance(pid, int) and isinstance(name, str) and isinstance(command, str)
        assert user is None or isinstance(user, str)
        assert cpu is None or 0.0 <= cpu <= 100.0 * psutil.cpu_count()
        assert memory is None or (isinstance(memory, int) and memory >= 0)
        assert status is None or isinstance(status, str)
        assert isinstance(started, float) and started > 0
    pid, name, user, cpu, memory, status, command, started = row_of(rows, child.pid)
    assert name == psutil.Process(child.pid).name()
    assert user == getpass.getuser()
    assert memory > 1024 * 1024  # a Python interpreter holds megabytes
    assert status == "sleeping"
    assert command.startswith(sys.executable) and "time.sleep(30)" in command  # tests/conftest.py's child
    assert started == pytest.approx(psutil.Process(child.pid).create_time())


def test_a_process_seen_for_the_first_time_has_no_cpu_yet_then_one():
    """cpu_percent() answers 0.0 the first time it is asked about an object: missing, not zero."""
    src = ProcessTableSource(psutil)
    table(src)
    spin = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        first = row_of(src.read(TABLE, time.monotonic()), spin.pid)
        assert first is not None and first[CPU] is None
        time.sleep(0.5)
        assert row_of(src.read(TABLE, time.monotonic()), spin.pid)[CPU] > 20.0
    finally:
        spin.kill()
        spin.wait()


def test_an_exited_process_leaves_the_table(child):
    src = ProcessTableSource(psutil)
    assert row_of(table(src), child.pid) is not None
    child.kill()
    child.wait()
    assert row_of(src.read(TABLE, time.monotonic()), child.pid) is None


class DeniedProcess(psutil.Process):
    """A real process whose owner, state and command line the OS refuses, as for another user's."""

    def _denied(self, *args, **kwargs):
        raise psutil.AccessDenied(self.pid)

    cmdline = username = status = _denied


class DeniedPsutil:
    """Real psutil, except that Process refuses some fields."""

    Process = DeniedProcess

    def __getattr__(self, name):
        return getattr(psutil, name)


def test_fields_the_os_refuses_are_none_and_the_row_stays(child):
    rows = table(ProcessTableSource(DeniedPsutil()))
    row = row_of(rows, child.pid)
    assert row is not None
    pid, name, user, cpu, memory, status, command, started = row
    assert (user, status, command) == (None, None, "")
    assert name == psutil.Process(child.pid).name() and memory > 0


def test_the_table_is_live_only_never_in_the_history(db_path):
    """A whole table a tick would swamp the history: the catalog says so and the gatherer obeys."""
    assert catalog.metric("system", "processtable").recorded is False
    assert all(spec.recorded for key, spec in catalog.METRICS.items() if key != ("system", "processtable"))

    handle = gathering.start(defaults=False, db_path=db_path)
    try:
        queue_manager.requestData("system", "processtable")
        queue_manager.requestData("memory", "usage")
        got = queue_manager.readMeasurementFromQueue("system", "processtable", blocking=True, timeout=5)
        assert got is not None and row_of(got["value"], os.getpid()) is not None
        assert queue_manager.readMeasurementFromQueue("memory", "usage", blocking=True, timeout=5) is not None
    finally:
        handle.stop()
    series = HistoryReader(db_path).series()
    assert SeriesKey("memory", None, "usage") in series
    assert TABLE not in series


def test_publish_skips_the_history_only_for_unrecorded_metrics():
    class History:
        def __init__(self):
            self.keys = []

        def append(self, key, ts, value):
            self.keys.append(key)

    history = History()
    g = Gatherer([], history=history, data=DataStore(), queues=QueueHub())
    g.publish(TABLE, [[1, "init", "root", 0.0, 1, "sleeping", "/sbin/init", 1.0]])
    g.publish(SeriesKey("memory", None, "usage"), 50.0)
    assert history.keys == [SeriesKey("memory", None, "usage")]


def test_headless_default_set_gathers_no_table_and_no_sensors():
    """The new lists are off by default, so what headless gathers is what the Overview shows, as before."""
    rates = default_rates({})
    for metric in ("processtable", "thermals", "fans", "batteries"):
        assert SeriesKey("system", None, metric) not in rates
    assert not [k for k in rates if k.component in ("thermal", "fan", "battery")]


def test_default_sources_serve_the_new_pairs():
    served = {pair for s in default_sources() for pair in s.serves}
    assert {("system", "processtable"), ("system", "thermals"), ("thermal", "temperature"), ("fan", "speed"),
            ("battery", "charge"), ("battery", "status")} <= served


# -- ending a process ----------------------------------------------------------------------------
@pytest.mark.parametrize("force,code", [(False, -signal.SIGTERM), (True, -signal.SIGKILL)])
def test_end_process_sends_sigterm_or_sigkill(child, force, code):
    end_process(child.pid, psutil.Process(child.pid).create_time(), force=force)
    assert child.wait(timeout=5) == code


def test_a_pid_taken_over_by_another_program_is_not_signalled(child):
    """The row's creation time no longer matches: the signal would reach the wrong program."""
    with pytest.raises(CannotSignal, match="already ended"):
        end_process(child.pid, psutil.Process(child.pid).create_time() - 100.0)
    assert child.poll() is None


def test_ending_a_process_that_has_ended_says_so(child):
    child.kill()
    child.wait()
    with pytest.raises(CannotSignal, match=f"Process {child.pid} has already ended"):
        end_process(child.pid)


class RefusingProcess(psutil.Process):
    """kill(2) answers EPERM, as for another user's process (the tests run as root)."""

    def _refuse(self):
        raise psutil.AccessDenied(self.pid)

    terminate = kill = _refuse


class RefusingPsutil(DeniedPsutil):
    Process = RefusingProcess


@pytest.mark.parametrize("force,verb", [(False, "end"), (True, "kill")])
def test_a_denied_signal_is_a_clear_message(child, force, verb):
    with pytest.raises(CannotSignal) as err:
        end_process(child.pid, force=force, ps=RefusingPsutil())
    assert str(err.value).startswith(f"Permission denied: you may not {verb} process {child.pid}")
    assert child.poll() is None


# -- sensors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("labels,names", [
    (["Package id 0", "Core 0", "Core 1"], ["Package id 0", "Core 0", "Core 1"]),
    ([""], ["#1"]),
    (["", ""], ["#1", "#2"]),
    (["temp1", "temp1", "edge"], ["temp1 #1", "temp1 #2", "edge"]),
    ([" Tctl "], ["Tctl"]),
])
def test_sensor_names_are_unique_within_their_chip(labels, names):
    assert sensor_names([Temp(label, 40.0, None, None) for label in labels]) == names


@pytest.mark.parametrize("args,parts", [("coretemp/Core 0", ("coretemp", "Core 0")),
                                        ("nvme/Sensor 1/2", ("nvme", "Sensor 1/2")), ("acpitz/#1", ("acpitz", "#1"))])
def test_a_sensor_name_splits_into_chip_and_label(args, parts):
    assert split_sensor(args) == parts


@pytest.mark.parametrize("battery,text", [
    (Battery(55, 3900, False), "on battery, 1 h 05 min left"),
    (Battery(55, psutil.POWER_TIME_UNKNOWN, False), "on battery"),
    (Battery(55, psutil.POWER_TIME_UNLIMITED, True), "charging"),
    (Battery(100, psutil.POWER_TIME_UNLIMITED, True), "plugged in, full"),
    (Battery(40, 600, None), "unknown power source"),
])
def test_battery_status_in_words(battery, text):
    assert battery_status(battery) == text


class FakeSensors:
    """psutil's sensors functions on a laptop: two chips of temperatures, a fan, a battery.

    Everything but the sensors is real psutil; `temps`, `fans` and `battery` can be changed.
    """

    def __init__(self):
        self.temps = {"coretemp": [Temp("Package id 0", 52.0, 84.0, 100.0), Temp("Core 0", 50.0, 84.0, 100.0),
                                   Temp("Core 1", 48.0, 84.0, 100.0)],
                      "acpitz": [Temp("", 27.8, None, None)]}
        self.fans = {"thinkpad": [Fan("", 2400)]}
        self.battery = Battery(80, 3900, False)
        self.calls = 0

    def sensors_temperatures(self):
        self.calls += 1
        return self.temps

    def sensors_fans(self):
        return self.fans

    def sensors_battery(self):
        return self.battery

    def __getattr__(self, name):
        return getattr(psutil, name)


def read(source, component, metric, args=None):
    return source.read(SeriesKey(component, args, metric), time.monotonic())


def test_sensors_are_listed_and_read_by_name():
    src = SensorsSource(FakeSensors())
    assert read(src, "system", "thermals") == ["coretemp/Package id 0", "coretemp/Core 0", "coretemp/Core 1",
                                               "acpitz/#1"]
    assert read(src, "system", "fans") == ["thinkpad/#1"]
    assert read(src, "system", "batteries") == ["0"]
    assert read(src, "thermal", "temperature", "coretemp/Core 1") == 48.0
    assert read(src, "thermal", "temperature", "acpitz/#1") == 27.8
    assert read(src, "fan", "speed", "thinkpad/#1") == 2400.0
    assert read(src, "battery", "charge", "0") == 80.0
    assert read(src, "battery", "status", "0") == "on battery, 1 h 05 min left"


def test_a_list_and_its_sensors_share_one_reading():
    fake = FakeSensors()
    src = SensorsSource(fake)
    now = time.monotonic()
    src.read(SeriesKey("system", None, "thermals"), now)
    for name in ("coretemp/Package id 0", "coretemp/Core 0", "acpitz/#1"):
        src.read(SeriesKey("thermal", name, "temperature"), now)
    assert fake.calls == 1


def test_a_sensor_or_battery_that_goes_is_unavailable_then_comes_back():
    fake = FakeSensors()
    src = SensorsSource(fake)
    key = SeriesKey("thermal", "coretemp/Core 1", "temperature")
    assert src.read(key, 0.0) == 48.0
    fake.temps = {"coretemp": fake.temps["coretemp"][:2]}
    fake.battery = None
    with pytest.raises(Unavailable, match="'coretemp/Core 1' is not present"):
        src.read(key, 10.0)
    with pytest.raises(Unavailable, match="no battery"):
        src.read(SeriesKey("battery", "0", "charge"), 10.0)
    assert src.read(SeriesKey("system", None, "batteries"), 10.0) == []
    fake.temps["coretemp"].append(Temp("Core 1", 47.0, None, None))
    assert src.read(key, 20.0) == 47.0


class NoSensorFunctions:
    """psutil where the platform has no sensors_* functions at all (macOS has no temperatures)."""

    def __getattr__(self, name):
        if name.startswith("sensors_"):
            raise AttributeError(name)
        return getattr(psutil, name)


def test_a_platform_without_sensor_functions_lists_nothing():
    src = SensorsSource(NoSensorFunctions())
    for metric in ("thermals", "fans", "batteries"):
        assert read(src, "system", metric) == []
    with pytest.raises(Unavailable):
        read(src, "thermal", "temperature", "coretemp/Core 0")


def test_real_sensor_lists_name_what_psutil_reports():
    """On this machine (a VM) psutil reports no sensors: the lists are empty, and the UI says so."""
    src = SensorsSource(psutil)
    temps = psutil.sensors_temperatures() if hasattr(psutil, "sensors_temperatures") else {}
    fans = psutil.sensors_fans() if hasattr(psutil, "sensors_fans") else {}
    battery = psutil.sensors_battery() if hasattr(psutil, "sensors_battery") else None
    assert read(src, "system", "thermals") == [f"{chip}/{name}" for chip, entries in temps.items()
                                               for name in sensor_names(entries)]
    assert len(read(src, "system", "fans")) == sum(len(entries) for entries in fans.values())
    assert read(src, "system", "batteries") == ([] if battery is None else ["0"])
    for name in read(src, "system", "thermals"):
        assert -40 < read(src, "thermal", "temperature", name) < 150


def test_rows_carry_their_creation_time_for_pid_reuse(child):
    row = row_of(table(ProcessTableSource(psutil)), child.pid)
    assert row[STARTED] == pytest.approx(psutil.Process(child.pid).create_time())
