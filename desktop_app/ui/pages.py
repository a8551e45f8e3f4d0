"""Which widgets each page shows, derived from the `system` lists (cores, interfaces, disks...).

Qt-free: a page is a function from the current lists to WidgetSpecs, so a new interface or
mount yields a new spec, and one that vanished is simply no longer listed.
"""
from __future__ import annotations

from collections.abc import Callable

from desktop_app.gathering.sources.sensors import split_sensor
from desktop_app.measurement import SeriesKey
from desktop_app.ui.metric_widget import WidgetSpec

Lists = dict[str, list[str]]


def K(component: str, args: str | None, metric: str) -> SeriesKey:
    return SeriesKey(component, args, metric)


def _cpu_overview(lists: Lists) -> list[WidgetSpec]:
    cores = [(K("cpucore", c, "usage"), f"core {c}") for c in lists.get("cpucores", [])]
    return [WidgetSpec("overview.cpu", "CPU usage", ((K("cpu", "0", "usage"), "total"), *cores),
                       info=K("cpu", "0", "info"))]


def _networks(page: str, nics: list[str]) -> list[WidgetSpec]:
    return [
        WidgetSpec(f"{page}.network.{nic}", f"Network {nic}",
                   ((K("network", nic, "receivepersec"), "received"), (K("network", nic, "transmitpersec"), "sent")),
                   info=K("network", nic, "info"))
        for nic in nics
    ]


def _disks_io(page: str, lists: Lists) -> list[WidgetSpec]:
    return [
        WidgetSpec(f"{page}.disk.{d}", f"Disk {d}",
                   ((K("disk", d, "readpersec"), "read"), (K("disk", d, "writepersec"), "write")))
        for d in lists.get("disks", [])
    ]


def _partition_usage(page: str, lists: Lists) -> list[WidgetSpec]:
    return [WidgetSpec(f"{page}.partition.{m}", f"Partition {m}", ((K("partition", m, "usage"), "used"),))
            for m in lists.get("partitions", [])]


def overview(lists: Lists) -> list[WidgetSpec]:
    return [
        *_cpu_overview(lists),
        WidgetSpec("overview.memory", "Memory usage", ((K("memory", None, "usage"), "used"),)),
        *_networks("overview", lists.get("activenetworks", [])),  # the Network page has them all
        *_disks_io("overview", lists),
        *_partition_usage("overview", lists),
    ]


def cpu(lists: Lists) -> list[WidgetSpec]:
    cores = lists.get("cpucores", [])
    return [
        *(WidgetSpec(f"cpu.core.{c}", f"Core {c}", ((K("cpucore", c, "usage"), "usage"),)) for c in cores),
        WidgetSpec("cpu.frequency", "Frequency",
                   ((K("cpu", "0", "frequency"), "cpu"),
                    *((K("cpucore", c, "frequency"), f"core {c}") for c in cores))),
        WidgetSpec("cpu.temperature", "Temperature",
                   ((K("cpu", "0", "temperature"), "package"),
                    *((K("cpucore", c, "temperature"), f"core {c}") for c in cores))),
    ]


def memory(lists: Lists) -> list[WidgetSpec]:
    return [
        WidgetSpec("memory.usage", "Memory usage", ((K("memory", None, "usage"), "used"),)),
        WidgetSpec("memory.bytes", "Memory", ((K("memory", None, "used"), "used"),
                                              (K("memory", None, "free"), "available"))),
    ]


def network(lists: Lists) -> list[WidgetSpec]:
    return _networks("network", lists.get("networks", []))


def disks(lists: Lists) -> list[WidgetSpec]:
    busy = [WidgetSpec(f"disks.busy.{d}", f"Disk {d} busy", ((K("disk", d, "usage"), "busy"),))
            for d in lists.get("disks", [])]
    space = [WidgetSpec(f"disks.space.{m}", f"Partition {m}",
                        ((K("partition", m, "used"), "used"), (K("partition", m, "free"), "free")))
             for m in lists.get("partitions", [])]
    return [*_disks_io("disks", lists), *busy, *_partition_usage("disks", lists), *space]


def gpu(lists: Lists) -> list[WidgetSpec]:
    specs = []
    for g in lists.get("gpus", []):
        specs += [
            WidgetSpec(f"gpu.usage.{g}", f"GPU {g} usage", ((K("gpu", g, "usage"), "usage"),),
                       info=K("gpu", g, "info")),
            WidgetSpec(f"gpu.vram.{g}", f"GPU {g} memory", ((K("gpu", g, "vramusage"), "used"),)),
            WidgetSpec(f"gpu.temperature.{g}", f"GPU {g} temperature", ((K("gpu", g, "temperature"), "temperature"),)),
            WidgetSpec(f"gpu.clocks.{g}", f"GPU {g} clocks",
                       ((K("gpu", g, "gpuclock"), "core"), (K("gpu", g, "memclock"), "memory"))),
        ]
    return specs


def _by_chip(names: list[str]) -> dict[str, list[str]]:
    """Sensor names ("coretemp/Core 0") grouped by chip, in the order the list gives them."""
    chips: dict[str, list[str]] = {}
    for name in names:
        chips.setdefault(split_sensor(name)[0], []).append(name)
    return chips


def sensors(lists: Lists) -> list[WidgetSpec]:
    """One widget per sensor group: a chip's temperatures, a chip's fans, the battery."""
    specs = []
    for chip, names in _by_chip(lists.get("thermals", [])).items():
        specs.append(WidgetSpec(f"sensors.temperature.{chip}", f"Temperatures: {chip}",
                                tuple((K("thermal", n, "temperature"), split_sensor(n)[1]) for n in names)))
    for chip, names in _by_chip(lists.get("fans", [])).items():
        specs.append(WidgetSpec(f"sensors.fans.{chip}", f"Fans: {chip}",
                                tuple((K("fan", n, "speed"), split_sensor(n)[1]) for n in names)))
    for b in lists.get("batteries", []):
        specs.append(WidgetSpec(f"sensors.battery.{b}", "Battery" if b == "0" else f"Battery {b}",
                                ((K("battery", b, "charge"), "charge"),), info=K("battery", b, "status")))
    return specs


PAGES: dict[str, Callable[[Lists], list[WidgetSpec]]] = {
    "Overview": overview,
    "CPU": cpu,
    "Memory": memory,
    "Network": network,
    "Disks": disks,
    "GPU": gpu,
    "Sensors": sensors,
}
PROCESSES = "Processes"  # the table page: not a grid of widgets built from the lists
SIDEBAR = (*PAGES, PROCESSES)  # new pages go last: the saved page index of earlier versions keeps its meaning
LIST_METRICS = ("cpus", "cpucores", "gpus", "partitions", "networks", "activenetworks", "disks", "thermals", "fans",
                "batteries")
# What a page says when this machine has nothing for it to show.
NONE_FOUND = {
    "GPU": ("No supported GPU found",
            "OpServ reads NVIDIA GPUs through NVML: it needs the NVIDIA driver and the optional "
            "<tt>gpu</tt> extra (<tt>pip install \"opserv-desktop[gpu]\"</tt>)."),
    "Sensors": ("No temperature, fan or battery sensors found on this machine",
                "The operating system exposes none (as in most virtual machines)."),
}
