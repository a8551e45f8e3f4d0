"""The agent side: serve the series being gathered in the Prometheus text format.

A custom collector reads data_manager's last values at scrape time, so serving costs nothing
between scrapes and always shows what was measured last.
"""
from __future__ import annotations

import ipaddress
import logging
from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from desktop_app import data_manager
from desktop_app.prometheus import PROM_METRICS

log = logging.getLogger(__name__)
DEFAULT_LISTEN = "127.0.0.1:9464"


class SeriesCollector(Collector):
    def __init__(self, store: data_manager.DataStore = data_manager.store) -> None:
        self._store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families: dict[str, GaugeMetricFamily] = {}
        samples: dict[str, list] = defaultdict(list)
        for key, measurement in self._store.items():
            pm = PROM_METRICS.get((key.component, key.metric))
            if pm is None:
                continue
            if pm.name not in families:
                families[pm.name] = GaugeMetricFamily(
                    pm.name, f"{pm.spec.label} ({pm.spec.component} {pm.spec.name}), measured by OpServ Desktop",
                    labels=[pm.label] if pm.label else [])
            labels = [key.args] if pm.label else []
            samples[pm.name].append((labels, measurement["value"] * pm.scale, measurement["timestamp"] / 1000))
        for name, family in families.items():
            for labels, value, ts in samples[name]:
                family.add_metric(labels, value, timestamp=ts)
            yield family


def parse_listen(text: str) -> tuple[str, int]:
    """"HOST:PORT" or "[IPv6]:PORT" -> (host, port); ValueError saying what is expected."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        if not sep or not host:
            raise ValueError
        number = int(port)
        if not 0 <= number < 65536:  # 0: any free port
            raise ValueError
        if host != "localhost":
            ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{text!r} is not an address to listen on; expected HOST:PORT such as "
                         f"{DEFAULT_LISTEN} or [::1]:9464") from None
    return host, number


class MetricsServer:
    """The HTTP endpoint; `close()` stops it. Binds only where told (localhost by default)."""

    def __init__(self, listen: str = DEFAULT_LISTEN, store: data_manager.DataStore = data_manager.store) -> None:
        host, port = parse_listen(listen)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(SeriesCollector(store))
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot serve metrics on {listen}: {exc.strerror}; "
                                     "choose another address with --metrics-listen HOST:PORT") from None
        port = self._server.server_port  # the one the OS chose when asked for port 0
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        log.info("serving Prometheus metrics on http://%s/metrics", self.address)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
