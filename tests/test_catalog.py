"""The catalog matches the issue's table, and series keys validate and parse as documented."""
from __future__ import annotations

import pytest

from desktop_app import catalog
from desktop_app.catalog import Kind
from desktop_app.measurement import SeriesKey, series_key

# The table of issue 2, "Components & metrics": the spec the catalog must match, metric by metric.
SPEC: dict[str, dict[str, tuple[str, Kind]]] = {
    "cpu": {"usage": ("%", Kind.NUMBER), "frequency": ("MHz", Kind.NUMBER),
            "temperature": ("degC", Kind.NUMBER), "info": ("", Kind.TEXT)},
    "cpucore": {"usage": ("%", Kind.NUMBER), "frequency": ("MHz", Kind.NUMBER),
                "temperature": ("degC", Kind.NUMBER), "info": ("", Kind.TEXT)},
    "gpu": {"usage": ("%", Kind.NUMBER), "vramusage": ("bytes", Kind.NUMBER),
            "temperature": ("degC", Kind.NUMBER), "gpuclock": ("MHz", Kind.NUMBER),
            "memclock": ("MHz", Kind.NUMBER), "info": ("", Kind.TEXT)},
    "memory": {"total": ("bytes", Kind.NUMBER), "free": ("bytes", Kind.NUMBER),
               "used": ("bytes", Kind.NUMBER), "usage": ("%", Kind.NUMBER)},
    "disk": {"readpersec": ("bytes/s", Kind.NUMBER), "writepersec": ("bytes/s", Kind.NUMBER),
             "usage": ("%", Kind.NUMBER), "temperature": ("degC", Kind.NUMBER), "status": ("", Kind.TEXT)},
    "partition": {"total": ("bytes", Kind.NUMBER), "free": ("bytes", Kind.NUMBER),
                  "used": ("bytes", Kind.NUMBER), "usage": ("%", Kind.NUMBER)},
    "process": {"cpuusage": ("%", Kind.NUMBER), "memusage": ("bytes", Kind.NUMBER), "name": ("", Kind.TEXT)},
    "network": {"receivepersec": ("bytes/s", Kind.NUMBER), "transmitpersec": ("bytes/s", Kind.NUMBER),
                "info": ("", Kind.TEXT)},
    "system": {m: ("", Kind.LIST) for m in ("cpus", "cpucores", "gpus", "partitions", "processes",
                                             "networks", "activenetworks", "disks", "thermals", "fans", "batteries",
                                             "processtable")},
    # Issue 7: the Sensors page.
    "thermal": {"temperature": ("degC", Kind.NUMBER)},
    "fan": {"speed": ("rpm", Kind.NUMBER)},
    "battery": {"charge": ("%", Kind.NUMBER), "status": ("", Kind.TEXT)},
}
# Which components take args, and the default when the caller passes none (issue table, "args").
ARGS = {"cpu": "0", "cpucore": None, "gpu": None, "memory": "-", "disk": None, "partition": None,
        "process": None, "network": None, "system": "-", "thermal": None, "fan": None,
        "battery": None}  # "-": takes no args


def test_catalog_has_exactly_the_components_and_metrics_of_the_spec():
    """Every widget, the history and the export read the catalog: a missing metric is a missing feature."""
    assert set(catalog.COMPONENTS) == set(SPEC)
    for comp, metrics in SPEC.items():
        assert {m.name for m in catalog.metrics_of(comp)} == set(metrics), comp


@pytest.mark.parametrize("comp,name", [(c, m) for c, ms in SPEC.items() for m in ms])
def test_each_metric_carries_its_unit_and_kind(comp, name):
    """Axis labels, plotting (number) vs text display, and JSON storage of lists all follow these."""
    spec = catalog.metric(comp, name)
    assert (spec.unit, spec.kind) == SPEC[comp][name]
    assert spec.is_numeric == (spec.kind is Kind.NUMBER)
    assert spec.label.strip(), "every metric needs a label for its widget"


@pytest.mark.parametrize("comp", sorted(SPEC))
def test_components_take_args_as_the_spec_says(comp):
    """cpu defaults to "0"; memory and system take none; the rest must be told which thing."""
    spec = catalog.component(comp)
    if ARGS[comp] == "-":
        assert not spec.takes_args and spec.default_args is None
    else:
        assert spec.takes_args and spec.default_args == ARGS[comp]


@pytest.mark.parametrize("comp", [c for c in SPEC if ARGS[c] != "-"])
def test_every_component_with_args_is_listed_by_a_system_metric(comp):
    """The UI discovers cores, disks, interfaces... from the `system` lists: each needs one."""
    list_metric = catalog.component(comp).list_metric
    assert catalog.metric("system", list_metric).kind is Kind.LIST


def test_labels_are_unique_within_a_component():
    """Two widgets with the same title on one page cannot be told apart."""
    for comp in SPEC:
        labels = [m.label for m in catalog.metrics_of(comp)]
        assert len(labels) == len(set(labels)), comp


def test_default_rates_are_off_or_at_least_the_minimum():
    """A default faster than the 50 ms the API allows would be clamped with a warning at every start."""
    from desktop_app.queue_manager import MIN_RATE_MS

    for spec in catalog.METRICS.values():
        assert spec.default_rate_ms == catalog.RATE_OFF or spec.default_rate_ms >= MIN_RATE_MS, spec


@pytest.mark.parametrize("bad", ["CPU", "ram", "", None, 3, "cpu "])
def test_unknown_component_error_lists_the_valid_ones(bad):
    with pytest.raises(ValueError) as err:
        catalog.component(bad)
    assert repr(bad) in str(err.value)
    for name in SPEC:
        assert name in str(err.value)


@pytest.mark.parametrize("comp,bad", [("cpu", "load"), ("memory", "usage%"), ("system", None), ("disk", "Usage")])
def test_unknown_metric_error_lists_the_components_metrics(comp, bad):
    with pytest.raises(ValueError) as err:
        catalog.metric(comp, bad)
    message = str(err.value)
    assert repr(bad) in message and repr(comp) in message
    for name in SPEC[comp]:
        assert name in message


@pytest.mark.parametrize(
    "component,metric,args,expected",
    [
        ("cpu", "usage", None, SeriesKey("cpu", "0", "usage")),  # cpu's default args
        ("cpu", "usage", "", SeriesKey("cpu", "0", "usage")),
        ("cpu", "usage", "0", SeriesKey("cpu", "0", "usage")),
        ("cpucore", "usage", 3, SeriesKey("cpucore", "3", "usage")),  # an int index is accepted as text
        ("cpucore", "frequency", "1", SeriesKey("cpucore", "1", "frequency")),
        ("memory", "used", None, SeriesKey("memory", None, "used")),
        ("memory", "used", "", SeriesKey("memory", None, "used")),
        ("partition", "usage", "/home/user", SeriesKey("partition", "/home/user", "usage")),
        ("process", "name", "1234", SeriesKey("process", "1234", "name")),
        ("network", "info", "eth0", SeriesKey("network", "eth0", "info")),
        ("system", "disks", None, SeriesKey("system", None, "disks")),
    ],
)
def test_series_key_normalises_valid_input(component, metric, args, expected):
    assert series_key(component, metric, args) == expected


@pytest.mark.parametrize(
    "component,metric,args,error,fragments",
    [
        ("gpu", "usage", None, ValueError, ["needs args", "gpu index"]),
        ("cpucore", "usage", "", ValueError, ["needs args", "core index"]),
        ("partition", "free", None, ValueError, ["mountpoint"]),
        ("process", "name", None, ValueError, ["pid"]),
        ("memory", "usage", "0", ValueError, ["takes no args", "'0'"]),
        ("system", "cpus", "x", ValueError, ["takes no args"]),
        ("network", "info", 1.5, TypeError, ["args must be a string or None", "float"]),
        ("cpu", "usage", True, TypeError, ["args must be a string or None", "bool"]),
        ("cpu", "usage", ["0"], TypeError, ["list"]),
        ("Cpu", "usage", None, ValueError, ["unknown component 'Cpu'", "cpucore"]),
        ("cpu", "cpuusage", None, ValueError, ["unknown metric 'cpuusage'", "frequency"]),
    ],
)
def test_series_key_rejects_bad_input_saying_what_is_allowed(component, metric, args, error, fragments):
    with pytest.raises(error) as err:
        series_key(component, metric, args)
    for fragment in fragments:
        assert fragment in str(err.value)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("cpu/0/usage", SeriesKey("cpu", "0", "usage")),
        ("cpu//usage", SeriesKey("cpu", "0", "usage")),  # empty args: the component's default
        ("memory//total", SeriesKey("memory", None, "total")),
        ("partition///usage", SeriesKey("partition", "/", "usage")),  # args with slashes
        ("partition//home/user/free", SeriesKey("partition", "/home/user", "free")),
        ("network/eth0/receivepersec", SeriesKey("network", "eth0", "receivepersec")),
        ("system//processes", SeriesKey("system", None, "processes")),
    ],
)
def test_series_key_parse(text, expected):
    assert SeriesKey.parse(text) == expected


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("cpu/usage", "component/args/metric"),
        ("usage", "component/args/metric"),
        ("", "component/args/metric"),
        ("ram/0/usage", "valid components"),
        ("cpu/0/load", "valid metrics"),
        ("partition//usage", "needs args"),
        ("memory/0/usage", "takes no args"),
    ],
)
def test_series_key_parse_rejects_malformed_text(text, fragment):
    with pytest.raises(ValueError, match=fragment):
        SeriesKey.parse(text)


@pytest.mark.parametrize("args", [None, "0", "7", "/", "/mnt/usb stick", "eth0.100", "C:\\"])
def test_every_series_survives_str_then_parse(args):
    """The CSV export and the history name series by str(key); reading them back must give the same key."""
    for spec in catalog.METRICS.values():
        comp = catalog.COMPONENTS[spec.component]
        if comp.takes_args and args is None and comp.default_args is None:
            continue
        key = series_key(spec.component, spec.name, args if comp.takes_args else None)
        assert SeriesKey.parse(str(key)) == key
