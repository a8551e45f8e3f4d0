"""The one declaration of every component and metric: units, kinds, args and default rates.

The UI, the history, the export and the validation of the public API all read from here, so
adding a metric is one entry here plus the source code that measures it.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    """What a metric's value is: drives plotting, storage and export."""

    NUMBER = "number"
    TEXT = "text"
    LIST = "list"


@dataclass(frozen=True)
class MetricSpec:
    component: str
    name: str
    label: str
    unit: str  # "%", "bytes", "bytes/s", "MHz", "degC", "rpm", "" for text and lists
    kind: Kind = Kind.NUMBER
    default_rate_ms: int = 1000  # 0: not gathered unless asked for
    recorded: bool = True  # False: live only, never written to the history (a whole table per tick)

    @property
    def is_numeric(self) -> bool:
        return self.kind is Kind.NUMBER


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    label: str
    args_label: str | None  # what args names ("core index", "pid"); None: takes no args
    default_args: str | None = None  # used when the caller passes args=None
    list_metric: str | None = None  # the `system` metric that lists this component's args

    @property
    def takes_args(self) -> bool:
        return self.args_label is not None


SECOND = 1000
RATE_FAST = 1 * SECOND  # usage and per-second rates
RATE_SLOW = 10 * SECOND  # totals, frequencies and the system lists
RATE_OFF = 0  # text info and costly lists: only on request

_N, _T, _L = Kind.NUMBER, Kind.TEXT, Kind.LIST

COMPONENTS: dict[str, ComponentSpec] = {
    c.name: c
    for c in (
        ComponentSpec("cpu", "CPU", "cpu index", default_args="0", list_metric="cpus"),
        ComponentSpec("cpucore", "CPU core", "core index", list_metric="cpucores"),
        ComponentSpec("gpu", "GPU", "gpu index", list_metric="gpus"),
        ComponentSpec("memory", "Memory", None),
        ComponentSpec("disk", "Disk", "device name", list_metric="disks"),
        ComponentSpec("partition", "Partition", "mountpoint", list_metric="partitions"),
        ComponentSpec("process", "Process", "pid", list_metric="processes"),
        ComponentSpec("network", "Network", "interface", list_metric="networks"),
        ComponentSpec("thermal", "Temperature sensor", "sensor name", list_metric="thermals"),
        ComponentSpec("fan", "Fan", "fan name", list_metric="fans"),
        ComponentSpec("battery", "Battery", "battery index", list_metric="batteries"),
        ComponentSpec("system", "System", None),
    )
}

METRICS: dict[tuple[str, str], MetricSpec] = {
    (m.component, m.name): m
    for m in (
        MetricSpec("cpu", "usage", "CPU usage", "%", _N, RATE_FAST),
        MetricSpec("cpu", "frequency", "CPU frequency", "MHz", _N, RATE_SLOW),
        MetricSpec("cpu", "temperature", "CPU temperature", "degC", _N, RATE_SLOW),
        MetricSpec("cpu", "info", "CPU model", "", _T, RATE_OFF),
        MetricSpec("cpucore", "usage", "Core usage", "%", _N, RATE_FAST),
        MetricSpec("cpucore", "frequency", "Core frequency", "MHz", _N, RATE_SLOW),
        MetricSpec("cpucore", "temperature", "Core temperature", "degC", _N, RATE_SLOW),
        MetricSpec("cpucore", "info", "Core model", "", _T, RATE_OFF),
        MetricSpec("gpu", "usage", "GPU usage", "%", _N, RATE_FAST),
        MetricSpec("gpu", "vramusage", "VRAM used", "bytes", _N, RATE_FAST),
        MetricSpec("gpu", "temperature", "GPU temperature", "degC", _N, RATE_SLOW),
        MetricSpec("gpu", "gpuclock", "GPU clock", "MHz", _N, RATE_SLOW),
        MetricSpec("gpu", "memclock", "Memory clock", "MHz", _N, RATE_SLOW),
        MetricSpec("gpu", "info", "GPU model", "", _T, RATE_OFF),
        MetricSpec("memory", "total", "Memory total", "bytes", _N, RATE_SLOW),
        MetricSpec("memory", "free", "Memory available", "bytes", _N, RATE_FAST),
        MetricSpec("memory", "used", "Memory used", "bytes", _N, RATE_FAST),
        MetricSpec("memory", "usage", "Memory usage", "%", _N, RATE_FAST),
        MetricSpec("disk", "readpersec", "Disk read", "bytes/s", _N, RATE_FAST),
        MetricSpec("disk", "writepersec", "Disk write", "bytes/s", _N, RATE_FAST),
        MetricSpec("disk", "usage", "Disk busy", "%", _N, RATE_FAST),
        MetricSpec("disk", "temperature", "Disk temperature", "degC", _N, RATE_SLOW),
        MetricSpec("disk", "status", "Disk status", "", _T, RATE_OFF),
        MetricSpec("partition", "total", "Partition size", "bytes", _N, RATE_SLOW),
        MetricSpec("partition", "free", "Partition free", "bytes", _N, RATE_SLOW),
        MetricSpec("partition", "used", "Partition used", "bytes", _N, RATE_SLOW),
        MetricSpec("partition", "usage", "Partition usage", "%", _N, RATE_SLOW),
        MetricSpec("process", "cpuusage", "Process CPU", "%", _N, RATE_FAST),
        MetricSpec("process", "memusage", "Process memory", "bytes", _N, RATE_FAST),
        MetricSpec("process", "name", "Process name", "", _T, RATE_OFF),
        MetricSpec("network", "receivepersec", "Received", "bytes/s", _N, RATE_FAST),
        MetricSpec("network", "transmitpersec", "Sent", "bytes/s", _N, RATE_FAST),
        MetricSpec("network", "info", "Interface", "", _T, RATE_OFF),
        MetricSpec("thermal", "temperature", "Temperature", "degC", _N, RATE_SLOW),
        MetricSpec("fan", "speed", "Fan speed", "rpm", _N, RATE_SLOW),
        MetricSpec("battery", "charge", "Battery charge", "%", _N, RATE_SLOW),
        MetricSpec("battery", "status", "Battery status", "", _T, RATE_OFF),
        MetricSpec("system", "cpus", "CPUs", "", _L, RATE_SLOW),
        MetricSpec("system", "cpucores", "CPU cores", "", _L, RATE_SLOW),
        MetricSpec("system", "gpus", "GPUs", "", _L, RATE_SLOW),
        MetricSpec("system", "partitions", "Partitions", "", _L, RATE_SLOW),
        MetricSpec("system", "processes", "Processes", "", _L, RATE_OFF),
        MetricSpec("system", "networks", "Network interfaces", "", _L, RATE_SLOW),
        MetricSpec("system", "activenetworks", "Network interfaces that are up (loopback aside)", "", _L, RATE_SLOW),
        MetricSpec("system", "disks", "Disks", "", _L, RATE_SLOW),
        # Off by default, so headless gathers no sensors and its default set stays what the Overview shows.
        MetricSpec("system", "thermals", "Temperature sensors", "", _L, RATE_OFF),
        MetricSpec("system", "fans", "Fans", "", _L, RATE_OFF),
        MetricSpec("system", "batteries", "Batteries", "", _L, RATE_OFF),
        # One row per process (see sources/process_table.py): shown live, too big to keep every tick.
        MetricSpec("system", "processtable", "Process table", "", _L, RATE_OFF, recorded=False),
    )
}


def metrics_of(component: str) -> list[MetricSpec]:
    return [m for (c, _), m in METRICS.items() if c == component]


def component(name: object) -> ComponentSpec:
    """The spec of a component, or a ValueError that lists the valid ones."""
    if not isinstance(name, str) or name not in COMPONENTS:
        raise ValueError(f"unknown component {name!r}; valid components: {', '.join(COMPONENTS)}")
    return COMPONENTS[name]


def metric(component_name: object, name: object) -> MetricSpec:
    """The spec of a metric, or a ValueError that lists the component's valid metrics."""
    comp = component(component_name)
    if not isinstance(name, str) or (comp.name, name) not in METRICS:
        valid = ", ".join(m.name for m in metrics_of(comp.name))
        raise ValueError(f"unknown metric {name!r} for component {comp.name!r}; valid metrics: {valid}")
    return METRICS[(comp.name, name)]
