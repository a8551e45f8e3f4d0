"""Series keys, measurements and their validation: the vocabulary of the public API."""
from __future__ import annotations

import math
import time
from typing import Any, NamedTuple

from desktop_app import catalog

Measurement = dict[str, Any]  # {"timestamp": int ms since the Unix epoch, "value": number | str | list}


class SeriesKey(NamedTuple):
    """One series: what is measured (component, metric) of which thing (args)."""

    component: str
    args: str | None
    metric: str

    @property
    def spec(self) -> catalog.MetricSpec:
        return catalog.METRICS[(self.component, self.metric)]

    def __str__(self) -> str:
        return f"{self.component}/{self.args or ''}/{self.metric}"

    @classmethod
    def parse(cls, text: str) -> SeriesKey:
        """Parse "component/args/metric" (args may be empty or contain slashes, like "/home")."""
        head, sep, metric_name = text.rpartition("/")
        comp, sep2, args = head.partition("/")
        if not sep or not sep2:
            raise ValueError(f"series {text!r} is not of the form component/args/metric, e.g. cpu/0/usage")
        return series_key(comp, metric_name, args or None)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def series_key(component: object, metric: object, args: object = None) -> SeriesKey:
    """Validate a (component, metric, args) triple from the public API into a SeriesKey."""
    spec = catalog.metric(component, metric)
    comp = catalog.COMPONENTS[spec.component]
    if isinstance(args, int) and not isinstance(args, bool):
        args = str(args)
    if args is not None and not isinstance(args, str):
        raise TypeError(f"args must be a string or None, not {type(args).__name__}")
    if not comp.takes_args:
        if args not in (None, ""):
            raise ValueError(f"component {comp.name!r} takes no args, got {args!r}")
        return SeriesKey(comp.name, None, spec.name)
    if args in (None, ""):
        if comp.default_args is None:
            raise ValueError(f"component {comp.name!r} needs args: a {comp.args_label}")
        args = comp.default_args
    return SeriesKey(comp.name, args, spec.name)


def validate_measurement(measurement: object, key: SeriesKey | None = None) -> Measurement:
    """Check a measurement dict (and, given its series, that the value fits the metric's kind).

    Raises ValueError/TypeError saying what is expected; returns a normalised copy.
    """
    expected = 'expected {"timestamp": <int milliseconds since the Unix epoch>, "value": <number | str | list>}'
    if not isinstance(measurement, dict):
        raise TypeError(f"measurement must be a dict, not {type(measurement).__name__}; {expected}")
    if "timestamp" not in measurement or "value" not in measurement:
        missing = [k for k in ("timestamp", "value") if k not in measurement]
        raise ValueError(f"measurement lacks {' and '.join(missing)}; {expected}")
    ts = measurement["timestamp"]
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts) or ts < 0:
        raise ValueError(f"measurement timestamp {ts!r} is not a non-negative number; {expected}")
    value = measurement["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float, str, list)):
        raise ValueError(f"measurement value of type {type(value).__name__} is not allowed; {expected}")
    if key is not None:
        kind = key.spec.kind
        fits = {
            catalog.Kind.NUMBER: isinstance(value, (int, float)),
            catalog.Kind.TEXT: isinstance(value, str),
            catalog.Kind.LIST: isinstance(value, list),
        }[kind]
        if not fits:
            raise ValueError(f"{key} holds {kind.value} values, got {type(value).__name__} {value!r:.40}")
    return {"timestamp": int(ts), "value": value}
