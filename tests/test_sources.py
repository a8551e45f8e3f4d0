"""Contract tests of the sources against real psutil on this machine, plus the faults it cannot produce.

Every catalog entry is measured once here (types and ranges), or skipped with the reason it cannot
exist on this machine. Fakes appear only to inject a fault: AccessDenied (we may run as root), an
interface that vanishes (needs privileges to unplug one).
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from desktop_app import catalog
from desktop_app.catalog import Kind
from desktop_app.data_manager import DataStore
from desktop_app.gathering.loop import Gatherer
from desktop_app.gathering.sources import Gone, Priming, Rates, Unavailable, default_sources
from desktop_app.gathering.sources.cpu import CpuSource, busy_and_total
from desktop_app.gathering.sources.disk import VIRTUAL_DISK_PREFIXES, DiskSource, PartitionSource
from desktop_app.gathering.sources.gpu import NvmlSource
from desktop_app.gathering.sources.network import NetworkSource
from desktop_app.gathering.sources.process import ProcessSource
from desktop_app.measurement import SeriesKey
from desktop_app.queue_manager import QueueHub, SetRate

# Metrics a machine may simply not expose: None ("not measured") is then the right answer.
MAY_BE_MISSING = {
    ("cpu", "temperature"): "no CPU temperature sensor",
    ("cpucore", "temperature"): "no per-core temperature sensor",
    ("disk", "temperature"): "no disk temperature (psutil reads no SMART or drivetemp data)",
    ("cpu", "frequency"): "the OS exposes no CPU frequency",
    ("cpucore", "frequency"): "the OS exposes no per-core frequency",
    ("disk", "usage"): "the OS reports no disk busy time",
}


def measure(source, key: SeriesKey, attempts: int = 5):
    """Read like the gatherer does: a Priming reading is followed by another ~0.1 s later."""
    for _ in range(attempts):
        try:
            return source.read(key, time.monotonic())
        except Priming:
            time.sleep(0.1)
    pytest.fail(f"{key} still priming after {attempts} readings")


@pytest.fixture(scope="module")
def by_pair():
    return {pair: s for s in default_sources() for pair in s.serves}


@pytest.fixture(scope="module")
def lists(by_pair):
    return {m: by_pair[("system", m)].read(SeriesKey("system", None, m), time.monotonic())
            for m in {c.list_metric for c in catalog.COMPONENTS.values()} - {None} | {"activenetworks"}}


def args_here(component: str, lists: dict) -> str | None:
    """An args value that exists on this machine, or a skip saying why none does."""
    comp = catalog.COMPONENTS[component]
    if not comp.takes_args:
        return None
    if component == "process":
        return str(os.getpid())
    found = lists[comp.list_metric]
    if not found:
        reason = {"gpu": "no GPU NVML can see (no NVIDIA driver or nvidia-ml-py)"}.get(component)
        pytest.skip(reason or f"this machine lists no {comp.label.lower()} ({comp.list_metric} is empty)")
    if component == "network":  # prefer a real NIC over loopback
        return next((n for n in found if n not in ("lo", "lo0")), found[0])
    return found[-1]  # the last core: not core 0, which a naive per-cpu lookup would hit anyway


def check_range(spec: catalog.MetricSpec, value) -> None:
    if spec.kind is Kind.TEXT:
        assert isinstance(value, str) and value.strip(), value
        return
    if spec.name == "processtable":  # rows, not args: tests/test_sources_extra.py checks them in detail
        assert isinstance(value, list) and value and all(isinstance(row, list) for row in value), value
        return
    if spec.kind is Kind.LIST:
        assert isinstance(value, list) and all(isinstance(v, str) and v for v in value), value
        assert len(value) == len(set(value)), "a list of args names each thing once"
        return
    assert isinstance(value, (int, float)) and not isinstance(value, bool), value
    if spec.unit == "%":
        top = 100.0 * (psutil.cpu_count() or 1) if spec.component == "process" else 100.0  # threads add up
        assert 0.0 <= value <= top
    elif spec.unit in ("bytes", "bytes/s"):
        assert value >= 0
    elif spec.unit == "MHz":
        assert 0 < value < 20_000
    elif spec.unit == "degC":
        assert -40 < value < 150
    elif spec.unit == "rpm":
        assert 0 <= value < 100_000
    else:
        pytest.fail(f"no range known for unit {spec.unit!r}: add one here")


@pytest.mark.parametrize("pair", list(catalog.METRICS), ids="/".join)
def test_every_catalog_entry_is_measured_here(by_pair, lists, pair):
    component, metric = pair
    spec = catalog.METRICS[pair]
    assert pair in by_pair, f"no source serves {pair}"
    if component == "gpu" and not lists["gpus"]:
        with pytest.raises(Unavailable, match="GPU"):  # the contract where there is none
            by_pair[pair].read(SeriesKey("gpu", "0", metric), time.monotonic())
    key = SeriesKey(component, args_here(component, lists), metric)
    value = measure(by_pair[pair], key)
    if value is None:
        if pair in MAY_BE_MISSING:
            pytest.skip(f"{key}: {MAY_BE_MISSING[pair]} on this machine "
                        f"(psutil sensors: {sorted(getattr(psutil, 'sensors_temperatures', dict)())})")
        pytest.fail(f"{key} measured nothing, yet every machine has it")
    check_range(spec, value)


def test_system_lists_name_what_exists(lists):
    """The UI builds its pages from these lists: each entry must be a thing the other sources can read."""
    assert lists["cpus"] == ["0"]
    assert lists["cpucores"] == [str(i) for i in range(psutil.cpu_count())]
    assert str(os.getpid()) in lists["processes"]
    assert set(lists["networks"]) <= set(psutil.net_if_stats())
    stats = psutil.net_if_stats()
    assert set(lists["activenetworks"]) <= set(lists["networks"])
    assert all(stats[nic].isup for nic in lists["activenetworks"]), "a down interface is not active"
    assert "lo" not in lists["activenetworks"]
    up = [nic for nic in lists["networks"] if stats[nic].isup and "loopback" not in stats[nic].flags]
    assert lists["activenetworks"] == up, "every interface that is up and not the loopback"
    assert all(os.path.ismount(p) for p in lists["partitions"])
    assert not [d for d in lists["disks"] if d.startswith(VIRTUAL_DISK_PREFIXES)]
    assert set(lists["disks"]) <= set(psutil.disk_io_counters(perdisk=True) or {})


def test_memory_values_agree_with_each_other(by_pair):
    src = by_pair[("memory", "total")]
    now = time.monotonic()
    total, free, used, usage = (src.read(SeriesKey("memory", None, m), now) for m in ("total", "free", "used", "usage"))
    assert 0 < used <= total and 0 < free <= total
    # "free" is what programs can still get (available), and usage is the share that is not.
    assert usage == pytest.approx(100 * (total - free) / total, abs=0.06)  # one snapshot; percent is rounded


def test_partition_values_agree_with_each_other(by_pair, lists):
    mount = args_here("partition", lists)
    src = by_pair[("partition", "total")]
    total, free, used, usage = (src.read(SeriesKey("partition", mount, m), 0)
                                for m in ("total", "free", "used", "usage"))
    assert used + free <= total * 1.0001
    assert usage == pytest.approx(100 * used / (used + free), abs=0.2)


@pytest.mark.parametrize(
    "component,metric",
    [("cpu", "usage"), ("cpucore", "usage"), ("network", "receivepersec"), ("network", "transmitpersec"),
     ("disk", "readpersec"), ("disk", "writepersec"), ("disk", "usage"), ("process", "cpuusage")],
)
def test_first_reading_of_a_rate_primes_instead_of_reporting_zero(lists, component, metric):
    """Missing is not zero: a first reading of 0.0 would draw a false dip at the start of every plot."""
    fresh = {s_pair: s for s in default_sources() for s_pair in s.serves}[(component, metric)]
    key = SeriesKey(component, args_here(component, lists), metric)
    with pytest.raises(Priming):
        fresh.read(key, time.monotonic())
    time.sleep(0.1)
    check_range(key.spec, fresh.read(key, time.monotonic()))


def burn(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


# A real-looking per-core cpu_times row: with busy = total - idle, an idle step here rounds busy *down*.
_BASE = dict(user=671.82, nice=4237.17, system=3818.87, idle=1275.35, iowait=2477.18, irq=2247.46,
             softirq=3257.96, steal=3943.62, guest=469.3, guest_nice=141.74)


@pytest.mark.parametrize(
    "step,expected",
    [({"idle": 0.1}, 0.0), ({"user": 0.1}, 100.0), ({"user": 0.05, "idle": 0.05}, 50.0),
     ({"system": 0.02, "softirq": 0.01, "idle": 0.07}, 30.0), ({"iowait": 0.1}, 0.0)],
)
def test_core_usage_from_two_cpu_times_readings(step, expected):
    """Pure arithmetic: an idle core reads 0 %, not a 'counter reset' that primes again and leaves a gap."""
    times_type = type(psutil.cpu_times())
    fields = {k: v for k, v in _BASE.items() if k in times_type._fields}
    first = times_type(**fields)
    second = first._replace(**{k: round(getattr(first, k) + d, 2) for k, d in step.items() if k in fields})
    rates = Rates()
    with pytest.raises(Priming):
        rates.ratio("core", *busy_and_total(first))
    assert rates.ratio("core", *busy_and_total(second)) == pytest.approx(expected, abs=0.01)


@pytest.mark.skipif((psutil.cpu_count() or 1) < 2, reason="needs two logical cores")
def test_reading_a_core_does_not_disturb_the_whole_cpus_next_reading():
    """Per-series state: cpucore 1 read between two cpu 0 readings must not shorten cpu 0's interval.

    The window is busy then idle, with the core reads at the switch: shared state would report
    only the idle half. A second source that never reads the core is the reference.
    """
    src, ref = CpuSource(psutil), CpuSource(psutil)
    cpu0, core1 = SeriesKey("cpu", "0", "usage"), SeriesKey("cpucore", "1", "usage")
    for s in (src, ref):
        with pytest.raises(Priming):
            s.read(cpu0, time.monotonic())
    burn(0.4)
    for _ in range(10):
        try:
            src.read(core1, time.monotonic())
        except Priming:
            pass
        time.sleep(0.01)
    time.sleep(0.4)
    disturbed, reference = src.read(cpu0, time.monotonic()), ref.read(cpu0, time.monotonic())
    assert disturbed == pytest.approx(reference, abs=5.0)
    assert reference > 5.0, "the busy half must show"


@pytest.mark.skipif("lo" not in psutil.net_io_counters(pernic=True), reason="no loopback interface named lo")
def test_network_rate_is_bytes_over_the_measured_interval():
    """Send a known amount over loopback between two readings: rate x measured interval >= that amount."""
    src = NetworkSource(psutil)
    key = SeriesKey("network", "lo", "receivepersec")
    t0 = time.monotonic()
    with pytest.raises(Priming):
        src.read(key, t0)
    payload = 4 * 1024 * 1024
    server = socket.create_server(("127.0.0.1", 0))
    received = []

    def sink():
        conn, _ = server.accept()
        with conn:
            got = 0
            while got < payload:
                chunk = conn.recv(1 << 16)
                if not chunk:
                    break
                got += len(chunk)
        received.append(got)

    reader = threading.Thread(target=sink)
    reader.start()
    with socket.create_connection(server.getsockname()) as client:
        client.sendall(b"x" * payload)
    reader.join(10)
    server.close()
    assert received == [payload]
    time.sleep(0.05)
    t1 = time.monotonic()
    rate = src.read(key, t1)
    assert rate * (t1 - t0) >= payload * 0.99


def test_process_metrics_of_a_real_child_then_gone_once_it_exits(child):
    src = ProcessSource(psutil)
    pid = str(child.pid)
    keys = {m: SeriesKey("process", pid, m) for m in ("cpuusage", "memusage", "name")}
    assert measure(src, keys["memusage"]) > 1024 * 1024  # a Python interpreter holds megabytes
    assert measure(src, keys["name"]) == Path(sys.executable).name[:15]  # Linux truncates comm to 15
    assert 0.0 <= measure(src, keys["cpuusage"]) < 20.0  # it sleeps
    child.kill()
    child.wait()
    for key in keys.values():
        with pytest.raises(Gone, match=pid):
            src.read(key, time.monotonic())


def test_a_busy_process_shows_its_cpu_usage():
    spin = "import time\nend = time.time() + 20\nwhile time.time() < end: pass"
    busy = subprocess.Popen([sys.executable, "-c", spin])
    try:
        src = ProcessSource(psutil)
        key = SeriesKey("process", str(busy.pid), "cpuusage")
        with pytest.raises(Priming):
            src.read(key, time.monotonic())
        time.sleep(0.5)
        assert src.read(key, time.monotonic()) > 20.0
    finally:
        busy.kill()
        busy.wait()


def test_two_series_of_one_process_keep_separate_state(child):
    """cpuusage and memusage of one pid read in any order: neither resets the other's interval."""
    src = ProcessSource(psutil)
    pid = str(child.pid)
    with pytest.raises(Priming):
        src.read(SeriesKey("process", pid, "cpuusage"), 0)
    for _ in range(5):
        assert src.read(SeriesKey("process", pid, "memusage"), 0) > 0
    assert src.read(SeriesKey("process", pid, "cpuusage"), 0) >= 0.0


@pytest.mark.parametrize("pid", ["999999999", "not-a-pid"])
def test_a_pid_that_does_not_exist_is_gone(pid):
    with pytest.raises(Gone):
        ProcessSource(psutil).read(SeriesKey("process", pid, "memusage"), 0)


@pytest.mark.parametrize(
    "source,key,fragment",
    [
        (lambda: CpuSource(psutil), SeriesKey("cpu", "1", "usage"), "cpu 0"),
        (lambda: CpuSource(psutil), SeriesKey("cpucore", str(psutil.cpu_count()), "usage"),
         f"0..{psutil.cpu_count() - 1}"),
        (lambda: CpuSource(psutil), SeriesKey("cpucore", "x", "frequency"), "'x'"),
        (lambda: DiskSource(psutil), SeriesKey("disk", "nosuchdisk", "readpersec"), "not present"),
        (lambda: NetworkSource(psutil), SeriesKey("network", "nosuchnic0", "receivepersec"), "not present"),
        (lambda: NetworkSource(psutil), SeriesKey("network", "nosuchnic0", "info"), "not present"),
        (lambda: NvmlSource(None), SeriesKey("gpu", "0", "usage"), "NVML"),
    ],
)
def test_a_thing_that_is_not_here_is_unavailable_with_a_reason(source, key, fragment):
    with pytest.raises(Unavailable) as err:
        source().read(key, time.monotonic())
    assert fragment in str(err.value)
    assert not isinstance(err.value, Gone), "it may appear later: its rate must go on"


def test_a_directory_that_is_not_a_mountpoint_is_unavailable(tmp_path):
    """disk_usage() of a plain folder answers with its parent's numbers: the source must not report those."""
    with pytest.raises(Unavailable, match="nothing is mounted"):
        PartitionSource(psutil).read(SeriesKey("partition", str(tmp_path), "usage"), 0)


# -- injected faults ------------------------------------------------------------------------------
class DeniedPsutil:
    """psutil whose Process answers AccessDenied, as for another user's process without privileges."""

    NoSuchProcess, AccessDenied = psutil.NoSuchProcess, psutil.AccessDenied

    class Process:
        def __init__(self, pid):
            self.pid = pid

        def is_running(self):
            return True

        def _denied(self, *a, **kw):
            raise psutil.AccessDenied(self.pid)

        cpu_percent = memory_info = name = _denied


@pytest.mark.parametrize("metric", ["cpuusage", "memusage", "name"])
def test_access_denied_is_unavailable_not_gone(metric):
    with pytest.raises(Unavailable, match="denied") as err:
        ProcessSource(DeniedPsutil()).read(SeriesKey("process", "1", metric), 0)
    assert not isinstance(err.value, Gone)


def test_access_denied_is_logged_once_and_the_rate_goes_on(caplog):
    caplog.set_level(logging.INFO)
    key = SeriesKey("process", "1", "memusage")
    clock = [0.0]
    g = Gatherer([ProcessSource(DeniedPsutil())], data=DataStore(), queues=QueueHub(), clock=lambda: clock[0])
    g.handle(SetRate(key, 100))
    for _ in range(20):
        clock[0] += g.run_once(clock[0])
    assert g.rates == {key: 100}
    assert len([r for r in caplog.records if str(key) in r.getMessage()]) == 1


class VanishingNics:
    """Real psutil, except that the interfaces in `hidden` are unplugged."""

    def __init__(self):
        self.hidden: set[str] = set()

    def __getattr__(self, name):
        return getattr(psutil, name)

    def net_io_counters(self, pernic=False):
        return {k: v for k, v in psutil.net_io_counters(pernic=True).items() if k not in self.hidden}

    def net_if_stats(self):
        return {k: v for k, v in psutil.net_if_stats().items() if k not in self.hidden}


def test_an_interface_that_vanishes_is_unavailable_then_comes_back():
    nics = VanishingNics()
    nic = sorted(psutil.net_io_counters(pernic=True))[0]
    src = NetworkSource(nics)
    rx = SeriesKey("network", nic, "receivepersec")
    assert measure(src, rx) >= 0
    nics.hidden.add(nic)
    time.sleep(0.05)  # past the shared snapshot's age
    for key in (rx, SeriesKey("network", nic, "info")):
        with pytest.raises(Unavailable, match="not present") as err:
            src.read(key, time.monotonic())
        assert not isinstance(err.value, Gone)
    nics.hidden.clear()
    time.sleep(0.05)
    assert measure(src, rx) >= 0


def test_receive_and_transmit_share_one_counter_read():
    """Two metrics needing the same psutil call in the same instant cost one call."""
    calls = []

    class Counting(VanishingNics):
        def net_io_counters(self, pernic=False):
            calls.append(pernic)
            return super().net_io_counters(pernic)

    src = NetworkSource(Counting())
    nic = sorted(psutil.net_io_counters(pernic=True))[0]
    now = time.monotonic()
    for metric in ("receivepersec", "transmitpersec"):
        with pytest.raises(Priming):
            src.read(SeriesKey("network", nic, metric), now)
    assert len(calls) == 1
