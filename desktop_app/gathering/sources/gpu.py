"""NVIDIA GPUs through NVML (the optional `gpu` extra, nvidia-ml-py). Absent elsewhere."""
from __future__ import annotations

import logging
from typing import Any

from desktop_app.gathering.sources import Unavailable
from desktop_app.measurement import SeriesKey

log = logging.getLogger(__name__)


class NvmlSource:
    serves = frozenset(
        ("gpu", m) for m in ("usage", "vramusage", "temperature", "gpuclock", "memclock", "info")
    )

    def __init__(self, nvml: Any | None) -> None:
        self._nvml = nvml

    @classmethod
    def open(cls) -> NvmlSource:
        """The NVML source if a driver answers; else one that reports no GPUs. Logs why once."""
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception as exc:  # ImportError, or NVMLError when no driver or no GPU exists
            log.info("no NVIDIA GPU support: %s", exc)
            return cls(None)
        return cls(pynvml)

    def indices(self) -> list[str]:
        if self._nvml is None:
            return []
        return [str(i) for i in range(self._nvml.nvmlDeviceGetCount())]

    def read(self, key: SeriesKey, now: float) -> Any:
        nv = self._nvml
        if nv is None or key.args not in self.indices():
            raise Unavailable(f"no supported GPU {key.args!r} (NVIDIA GPUs through NVML only)")
        handle = nv.nvmlDeviceGetHandleByIndex(int(key.args))
        try:
            if key.metric == "usage":
                return float(nv.nvmlDeviceGetUtilizationRates(handle).gpu)
            if key.metric == "vramusage":
                return float(nv.nvmlDeviceGetMemoryInfo(handle).used)
            if key.metric == "temperature":
                return float(nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU))
            if key.metric == "gpuclock":
                return float(nv.nvmlDeviceGetClockInfo(handle, nv.NVML_CLOCK_GRAPHICS))
            if key.metric == "memclock":
                return float(nv.nvmlDeviceGetClockInfo(handle, nv.NVML_CLOCK_MEM))
            name = nv.nvmlDeviceGetName(handle)
            return name.decode() if isinstance(name, bytes) else name
        except nv.NVMLError_NotSupported:
            return None
