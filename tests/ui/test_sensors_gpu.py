"""The Sensors and GPU pages: what they plot where the hardware exists, and what they say where not.

This machine (a VM) has no sensors and no NVIDIA GPU, so the pages are shown once with a fake
psutil and a fake NVML handed to the real sources (feature injection, the rest of the app is
real), and once for real, where they must say plainly that there is nothing.
"""
from __future__ import annotations

from types import SimpleNamespace

import psutil
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSlider

from desktop_app.gathering.sources import default_sources
from desktop_app.gathering.sources.gpu import NvmlSource
from desktop_app.gathering.sources.sensors import SensorsSource
from desktop_app.gathering.sources.system import SystemSource
from desktop_app.measurement import SeriesKey
from desktop_app.ui import gatherer_thread
from desktop_app.ui.pages import SIDEBAR
from tests.test_sources_extra import FakeSensors
from tests.ui.conftest import points
from tests.ui.test_main_window import arrival_rate, set_rate


class FakeNvml:
    """The part of pynvml that NvmlSource uses, answering for one GPU."""

    NVML_TEMPERATURE_GPU, NVML_CLOCK_GRAPHICS, NVML_CLOCK_MEM = 0, 0, 2

    class NVMLError_NotSupported(Exception):
        pass

    def nvmlDeviceGetCount(self):
        return 1

    def nvmlDeviceGetHandleByIndex(self, index):
        return SimpleNamespace(index=index)

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu=42, memory=17)

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(used=3 * 2**30, total=8 * 2**30, free=5 * 2**30)

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return 61

    def nvmlDeviceGetClockInfo(self, handle, clock):
        return 1800 if clock == self.NVML_CLOCK_GRAPHICS else 7000

    def nvmlDeviceGetName(self, handle):
        return b"NVIDIA Fake 9000"


@pytest.fixture
def inject(monkeypatch):
    """Have the window's gatherer use these sensors and this NVML instead of the machine's."""

    def inject_(sensors=None, nvml=None) -> None:
        def sources():
            kept = [s for s in default_sources() if not isinstance(s, (NvmlSource, SystemSource, SensorsSource))]
            gpus = NvmlSource(nvml)
            return [*kept, gpus, SystemSource(psutil, gpus), SensorsSource(sensors or psutil)]

        monkeypatch.setattr(gatherer_thread, "default_sources", sources)

    return inject_


def show_page(window, name: str):
    window.sidebar.setCurrentRow(SIDEBAR.index(name))
    return window.pages[name]


def test_sensors_page_plots_each_group_with_refresh_and_rate(qtbot, open_window, inject):
    inject(sensors=FakeSensors())
    window = open_window(wait_for="sensors.battery.0")
    page = show_page(window, "Sensors")
    assert list(page.widgets) == ["sensors.temperature.coretemp", "sensors.temperature.acpitz",
                                  "sensors.fans.thinkpad", "sensors.battery.0"]
    assert not page.empty.isVisible()
    temps, acpi, fans, battery = page.widgets.values()
    assert [label for _, label in temps.spec.curves] == ["Package id 0", "Core 0", "Core 1"]
    assert temps.title.text() == "<b>Temperatures: coretemp</b>"
    expected = {temps: "Package id 0 52 °C  Core 0 50 °C", acpi: "28 °C", fans: "2,400 RPM", battery: "80 %"}
    for widget, text in expected.items():  # each curve's first point may land in a different drain
        qtbot.waitUntil(lambda w=widget, t=text: points(w) >= 1 and w.value.text() == t, timeout=5000)
    assert fans.plot.getPlotItem().getAxis("left").labelText == "RPM"
    qtbot.waitUntil(lambda: battery.info.text() == "on battery, 1 h 05 min left", timeout=2000)

    before = points(fans)  # sensors are read every 10 s: a refresh shows at once
    qtbot.mouseClick(fans.refresh_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: points(fans) >= before + 1, timeout=1000)
    assert window.findChild(QSlider, "rate:sensors.temperature.coretemp") is temps.rate_slider.slider
    set_rate(qtbot, acpi, 100)
    assert arrival_rate(qtbot, acpi, 10) >= 5


def test_sensors_page_says_so_when_the_machine_has_none(qtbot, open_window):
    here = SensorsSource(psutil)
    if any(here.read(SeriesKey("system", None, m), 0.0) for m in ("thermals", "fans", "batteries")):
        pytest.skip("this machine has sensors: the injected test above covers the page")
    window = open_window()
    page = show_page(window, "Sensors")
    qtbot.waitUntil(lambda: "No temperature, fan or battery sensors found on this machine" in page.empty.text(),
                    timeout=5000)
    assert page.empty.isVisible() and page.widgets == {}


def test_gpu_page_plots_usage_memory_temperature_and_clocks(qtbot, open_window, inject):
    inject(nvml=FakeNvml())
    window = open_window(wait_for="gpu.clocks.0")
    page = show_page(window, "GPU")
    assert list(page.widgets) == ["gpu.usage.0", "gpu.vram.0", "gpu.temperature.0", "gpu.clocks.0"]
    assert not page.empty.isVisible()
    usage, vram, temperature, clocks = page.widgets.values()
    expected = {usage: "42 %", vram: "3.0 GiB", temperature: "61 °C", clocks: "core 1,800 MHz  memory 7,000 MHz"}
    for widget, text in expected.items():
        qtbot.waitUntil(lambda w=widget, t=text: points(w) >= 1 and w.value.text() == t, timeout=5000)
    qtbot.waitUntil(lambda: usage.info.text() == "NVIDIA Fake 9000", timeout=2000)
    before = points(temperature)  # read every 10 s: a refresh shows at once
    qtbot.mouseClick(temperature.refresh_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: points(temperature) >= before + 1, timeout=1000)


def test_gpu_page_says_so_when_there_is_none(qtbot, open_window):
    if NvmlSource.open().indices():
        pytest.skip("this machine has an NVIDIA GPU: the injected test above covers the page")
    window = open_window()
    page = show_page(window, "GPU")
    assert not window.sidebar.item(SIDEBAR.index("GPU")).isHidden()  # the page is there, and says why it is empty
    qtbot.waitUntil(lambda: "No supported GPU found" in page.empty.text(), timeout=5000)
    assert page.empty.isVisible() and page.widgets == {}
    assert "NVML" in page.empty.text()
