"""Plugging into Prometheus: serve our series to it (exporter), read other hosts' from it (client).

Qt-free. Metric names follow Prometheus conventions and are derived from the catalog, so the
exporter and the client agree on them without a second table.
"""
from __future__ import annotations

from dataclasses import dataclass

from desktop_app import catalog
from desktop_app.measurement import SeriesKey

# Catalog unit -> Prometheus base-unit suffix and the factor to reach that base unit.
UNITS = {"%": ("percent", 1.0), "bytes": ("bytes", 1.0), "bytes/s": ("bytes_per_second", 1.0),
         "MHz": ("hertz", 1e6), "degC": ("celsius", 1.0), "rpm": ("rpm", 1.0), "s": ("seconds", 1.0)}
# The label that carries a series' args, per component.
LABELS = {"cpu": "cpu", "cpucore": "core", "gpu": "gpu", "disk": "device", "partition": "mountpoint",
          "process": "pid", "network": "interface", "thermal": "sensor", "fan": "fan", "battery": "battery"}


@dataclass(frozen=True)
class PromMetric:
    """How one numeric catalog metric appears in Prometheus."""

    spec: catalog.MetricSpec
    name: str  # e.g. opserv_network_receive_bytes_per_second
    label: str | None  # e.g. "interface"; None for components without args
    scale: float  # multiply our value by this to get Prometheus' base unit

    def series_key(self, labels: dict[str, str]) -> SeriesKey:
        return SeriesKey(self.spec.component, labels.get(self.label) if self.label else None, self.spec.name)


def prom_metric(spec: catalog.MetricSpec) -> PromMetric | None:
    """The Prometheus form of a metric; None for text and lists, which are not samples."""
    if not spec.is_numeric:
        return None
    suffix, scale = UNITS.get(spec.unit, ("value", 1.0))
    base = spec.name.removesuffix("persec")  # the suffix already says "per second"
    return PromMetric(spec, f"opserv_{spec.component}_{base}_{suffix}", LABELS.get(spec.component), scale)


PROM_METRICS: dict[tuple[str, str], PromMetric] = {
    pair: pm for pair, spec in catalog.METRICS.items() if (pm := prom_metric(spec)) is not None
}
