"""Shared fixtures: offscreen Qt, a clean public API state per test, a temporary history."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from desktop_app import data_manager, gathering, queue_manager  # noqa: E402
from desktop_app.measurement import SeriesKey  # noqa: E402
from desktop_app.prometheus.client import PrometheusClient, PrometheusError  # noqa: E402
from desktop_app.prometheus.exporter import MetricsServer  # noqa: E402

AGENT_SERIES = (SeriesKey("memory", None, "usage"), SeriesKey("cpu", "0", "usage"), SeriesKey("cpu", "0", "frequency"))


@pytest.fixture(autouse=True)
def clean_api_state():
    """Each test starts with empty data_manager and queue_manager state."""
    data_manager.store.clear()
    queue_manager.hub.clear()
    yield
    data_manager.store.clear()
    queue_manager.hub.clear()


@pytest.fixture(autouse=True)
def no_leftover_threads():
    """Fail a test that leaves a gatherer or history thread running."""
    before = set(threading.enumerate())
    yield
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()
                and t.name.startswith("opserv-")]
    for t in leftover:
        t.join(2)
    still = [t.name for t in leftover if t.is_alive()]
    assert not still, f"test left threads running: {still}"


@pytest.fixture
def child():
    """A real process that sleeps; yielded once its interpreter is up."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(30)"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        yield proc
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "history.sqlite3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (PrometheusError, OSError):
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture
def agent():
    """A headless gatherer on three series at 250 ms, and our endpoint on a free loopback port."""
    server = MetricsServer("127.0.0.1:0")
    handle = gathering.start(defaults=False, history=False)
    try:
        for key in AGENT_SERIES:
            queue_manager.setGatheringRate(key.component, key.metric, 250, key.args)
        yield server
    finally:
        server.close()
        handle.stop()


def run_prometheus(target: str, tmp_path):
    """A real Prometheus server on a free loopback port, scraping `target` every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("the prometheus binary is not installed (Debian package prometheus; .ci/run installs it)")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        f"scrape_configs:\n  - job_name: opserv\n    static_configs:\n      - targets: ['{target}']\n")
    proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: urllib.request.urlopen(f"{url}/-/ready", timeout=1).status == 200, what="Prometheus")
        yield PrometheusClient(url)
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.fixture
def prometheus(agent, tmp_path):
    """Prometheus scraping the in-process `agent`."""
    yield from run_prometheus(agent.address, tmp_path)


@pytest.fixture
def agent_process(tmp_path):
    """A headless OpServ in its own process serving metrics: the agent beside a window in a test,
    since two gatherers in one process would share the API's control queue."""
    port = free_port()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-m", "desktop_app", "--headless", "--db", str(tmp_path / "agent.sqlite3"),
                             "--metrics-listen", f"127.0.0.1:{port}"], stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": root})
    address = f"127.0.0.1:{port}"
    try:
        wait_for(lambda: b"opserv_memory_usage_percent" in urllib.request.urlopen(
            f"http://{address}/metrics", timeout=1).read(), what="the agent process")
        yield address
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.fixture
def prometheus_of_process(agent_process, tmp_path):
    """Prometheus scraping `agent_process`."""
    yield from run_prometheus(agent_process, tmp_path)
