"""Prometheus: our endpoint scraped by a real Prometheus server, and read back through the client."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from desktop_app import queue_manager
from desktop_app.measurement import SeriesKey
from desktop_app.prometheus import PROM_METRICS
from desktop_app.prometheus.client import PrometheusClient, PrometheusError, quote_label
from desktop_app.prometheus.exporter import MetricsServer, parse_listen
from tests.conftest import free_port, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMORY = SeriesKey("memory", None, "usage")
CPU = SeriesKey("cpu", "0", "usage")


def test_the_endpoint_speaks_prometheus_with_help_type_and_catalog_names(agent):
    def scraped() -> bytes:
        return urllib.request.urlopen(f"http://{agent.address}/metrics").read()

    wait_for(lambda: all(name in scraped() for name in (b"opserv_cpu_frequency_hertz", b"opserv_cpu_usage_percent",
                                                         b"opserv_memory_usage_percent")), what="gathered series")
    text = urllib.request.urlopen(f"http://{agent.address}/metrics").read().decode()
    assert "# HELP opserv_memory_usage_percent" in text and "# TYPE opserv_memory_usage_percent gauge" in text
    assert 'opserv_cpu_usage_percent{cpu="0"}' in text
    hertz = [line for line in text.splitlines() if line.startswith("opserv_cpu_frequency_hertz")]
    assert float(hertz[0].split()[1]) > 1e8  # MHz exported in base units


def test_prometheus_scrapes_the_agent_and_the_viewer_reads_back_what_was_gathered(prometheus, agent):
    wait_for(lambda: agent.address in prometheus.instances(), what="the agent's instance")
    assert {MEMORY, CPU} <= set(prometheus.series(agent.address))
    end = time.time()
    wait_for(lambda: len(prometheus.range(MEMORY, agent.address, end - 60, time.time(), 1)) >= 3,
             what="three scraped samples")
    gathered = {m["value"] for m in queue_manager.hub.drain({MEMORY})[MEMORY]}
    points = prometheus.range(MEMORY, agent.address, end - 60, time.time(), 1)
    assert points and all(value in gathered for _, value in points)
    low = prometheus.range(MEMORY, agent.address, end - 60, time.time(), 5, over="min")
    high = prometheus.range(MEMORY, agent.address, end - 60, time.time(), 5, over="max")
    assert low and high and min(v for _, v in low) <= max(v for _, v in high)
    assert prometheus.range(MEMORY, "no-such-host:1", end - 60, time.time(), 1) == []


def test_a_server_that_is_down_is_a_clear_error():
    client = PrometheusClient(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(PrometheusError, match="cannot reach Prometheus at http://127.0.0.1"):
        client.instances()


@pytest.mark.parametrize("url", ["localhost:9090", "ftp://x", "http://", ""])
def test_a_bad_url_is_rejected_with_an_example(url):
    with pytest.raises(ValueError, match="http://localhost:9090"):
        PrometheusClient(url)


@pytest.mark.parametrize("text", ["9464", "localhost", "127.0.0.1:99999", "host.example:80", "1.2.3.4:x"])
def test_a_bad_listen_address_names_the_expected_form(text):
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen(text)


def test_an_address_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(OSError, match=f"cannot serve metrics on {address}.*--metrics-listen"):
            MetricsServer(address)


def test_label_values_are_quoted_as_data():
    assert quote_label('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


def test_every_numeric_metric_has_a_distinct_prometheus_name():
    names = [pm.name for pm in PROM_METRICS.values()]
    assert len(names) == len(set(names))
    assert PROM_METRICS[("network", "receivepersec")].name == "opserv_network_receive_bytes_per_second"


def test_headless_metrics_listen_serves_the_default_set(tmp_path):
    """`opserv-desktop --headless --metrics-listen ADDR`: what a Prometheus scrape config points at."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "desktop_app", "--headless", "--db", str(tmp_path / "h.sqlite3"),
                             "--metrics-listen", f"127.0.0.1:{port}"], stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_for(lambda: b'opserv_cpu_usage_percent{cpu="0"}' in urllib.request.urlopen(
            f"http://127.0.0.1:{port}/metrics", timeout=1).read(), what="the headless endpoint")
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        assert "opserv_network_receive_bytes_per_second{interface=" in text
        assert 'opserv_partition_usage_percent{mountpoint="/"}' in text
    finally:
        proc.terminate()
        assert proc.wait(15) == 0


def test_metrics_listen_on_an_address_in_use_exits_with_a_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        done = subprocess.run([sys.executable, "-m", "desktop_app", "--headless", "--duration", "1", "--db",
                               str(tmp_path / "h.sqlite3"), "--metrics-listen", address],
                              capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert f"cannot serve metrics on {address}" in done.stderr and "Traceback" not in done.stderr
