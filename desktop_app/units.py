"""Human-readable values for the catalog's units: 45 %, 1.2 GiB, 3.4 MB/s, 2,596 MHz, 54 °C."""
from __future__ import annotations

from typing import Any

_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_DECIMAL = ("B/s", "kB/s", "MB/s", "GB/s", "TB/s")


def _scaled(value: float, step: float, names: tuple[str, ...]) -> str:
    i = 0
    while abs(value) >= step and i < len(names) - 1:
        value /= step
        i += 1
    digits = 0 if i == 0 or abs(value) >= 100 else 1
    return f"{value:.{digits}f} {names[i]}"


def format_value(value: Any, unit: str) -> str:
    """Format one measurement's value for a label; text and lists pass through."""
    if value is None:
        return "–"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    if isinstance(value, str):
        return value
    if unit == "%":
        return f"{value:.0f} %" if abs(value) >= 10 else f"{value:.1f} %"
    if unit == "bytes":
        return _scaled(float(value), 1024.0, _BINARY)  # sizes: what file managers show
    if unit == "bytes/s":
        return _scaled(float(value), 1000.0, _DECIMAL)  # throughput: network convention
    if unit == "degC":
        return f"{value:.0f} °C"
    if unit == "MHz":
        return f"{value:,.0f} MHz"
    return f"{value:g}"
