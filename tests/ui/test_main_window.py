"""The main window as a user drives it: refresh, rate sliders, closing, preferences."""
from __future__ import annotations

import re
import time

from PySide6.QtCore import Qt

from desktop_app import queue_manager
from desktop_app.measurement import SeriesKey
from desktop_app.ui.rate_slider import RATE_STEPS_MS
from tests.ui.conftest import points, widget_of

MEMORY = SeriesKey("memory", None, "usage")


def set_rate(qtbot, widget, delay_ms: int) -> None:
    """Move a widget's rate slider with the keyboard, as a user would, and let it settle."""
    slider = widget.rate_slider.slider
    slider.setFocus()
    target = RATE_STEPS_MS.index(delay_ms)
    while slider.value() != target:
        qtbot.keyClick(slider, Qt.Key.Key_Right if slider.value() < target else Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: widget.rate_slider._sent == delay_ms, timeout=1000)


def arrival_rate(qtbot, widget, count: int, timeout_ms: int = 5000) -> float:
    """Points per second arriving in the widget's first curve, timed over `count` new points."""
    qtbot.waitUntil(lambda: points(widget) > 0, timeout=timeout_ms)
    start_points, start = points(widget), time.monotonic()
    qtbot.waitUntil(lambda: points(widget) >= start_points + count, timeout=timeout_ms)
    return (points(widget) - start_points) / (time.monotonic() - start)


def test_window_opens_with_title_and_pages(open_window):
    window = open_window()
    assert window.windowTitle() == "OpServ Desktop"
    names = [window.sidebar.item(i).text() for i in range(window.sidebar.count())
             if not window.sidebar.item(i).isHidden()]
    assert names == ["Overview", "CPU", "Memory", "Network", "Disks", "GPU", "Sensors", "Processes"]


def test_refresh_button_adds_a_point_within_a_second(qtbot, open_window):
    window = open_window()
    widget = widget_of(window, "overview.memory")
    set_rate(qtbot, widget, 0)
    other = widget_of(window, "memory.usage")
    set_rate(qtbot, other, 0)
    qtbot.waitUntil(lambda: window.rate_book.effective(MEMORY) == 0, timeout=1000)
    qtbot.wait(300)  # let a measurement already under way land before counting
    before = points(widget)
    qtbot.mouseClick(widget.refresh_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: points(widget) == before + 1, timeout=1000)
    assert "%" in widget.value.text()


def test_rate_slider_100ms_gives_ten_points_a_second_and_off_stops(qtbot, open_window):
    window = open_window()
    widget = widget_of(window, "overview.memory")
    set_rate(qtbot, widget, 100)
    assert widget.rate_slider.label.text() == "Rate: 100 ms"
    rate = arrival_rate(qtbot, widget, 20)
    assert 7 <= rate <= 13, rate
    set_rate(qtbot, widget, 0)
    set_rate(qtbot, widget_of(window, "memory.usage"), 0)
    qtbot.wait(300)
    stopped_at = points(widget)
    qtbot.wait(1000)  # absence of points can only be seen by waiting
    assert points(widget) == stopped_at


def test_two_widgets_share_a_series_at_the_faster_rate(qtbot, open_window):
    window = open_window()
    overview, page = widget_of(window, "overview.memory"), widget_of(window, "memory.usage")
    set_rate(qtbot, overview, 100)
    set_rate(qtbot, page, 1000)
    assert window.rate_book.effective(MEMORY) == 100
    set_rate(qtbot, page, 0)  # turning one off does not stop the other
    assert window.rate_book.effective(MEMORY) == 100
    assert arrival_rate(qtbot, overview, 10) >= 6
    set_rate(qtbot, overview, 0)
    set_rate(qtbot, page, 500)
    assert window.rate_book.effective(MEMORY) == 500


def test_closing_stops_the_gatherer_within_two_seconds(qtbot, open_window):
    window = open_window()
    thread = window.gatherer_thread
    assert thread.isRunning()
    start = time.monotonic()
    window.close()
    assert not thread.isRunning()
    assert time.monotonic() - start < 2.0


def test_quit_shortcut_closes_the_window(qtbot, open_window):
    window = open_window()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=1000)
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=2000)
    assert not window.gatherer_thread.isRunning()


def test_preferences_survive_a_restart(qtbot, open_window):
    window = open_window()
    widget = widget_of(window, "overview.memory")
    set_rate(qtbot, widget, 5000)
    widget.window_box.setCurrentText("15 min")
    window.resize(760, 560)
    window.sidebar.setCurrentRow(2)
    window.close()

    again = open_window()
    restored = widget_of(again, "overview.memory")
    assert restored.rate_slider.delay_ms == 5000
    assert restored.rate_slider.label.text() == "Rate: 5 s"
    assert restored.window_s == 900
    assert (again.width(), again.height()) == (760, 560)
    assert again.sidebar.currentRow() == 2
    assert again.rate_book.effective(MEMORY) == 1000  # the Memory page's widget keeps its own 1 s


def test_f5_refreshes_every_visible_widget(qtbot, open_window):
    window = open_window()
    widgets = [w for w in window.pages["Overview"].widgets.values()]
    for w in widgets:
        set_rate(qtbot, w, 0)
    for w in window.all_widgets():
        if w not in widgets:
            set_rate(qtbot, w, 0)
    qtbot.wait(300)
    before = {w.spec.id: points(w) for w in widgets}
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=1000)
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: all(points(w) > before[w.spec.id] or w.status.isVisible()
                                for w in widgets if w.isVisible()), timeout=2000)


def test_unavailable_series_says_so(qtbot, open_window):
    """No temperature sensors here: the widget says "Not available" instead of staying blank."""
    window = open_window(wait_for="cpu.temperature")
    window.sidebar.setCurrentRow(1)
    widget = widget_of(window, "cpu.temperature")
    qtbot.waitUntil(lambda: widget.status.isVisible(), timeout=15_000)
    assert "Not available" in widget.status.text()


def test_new_interface_appears_and_vanished_one_greys_out(qtbot, open_window):
    window = open_window()
    nics = list(window.lists["networks"])
    listed = {"timestamp": int(time.time() * 1000), "value": nics + ["opserv-test0"]}
    queue_manager.putMeasurementIntoQueue("system", "networks", listed)
    qtbot.waitUntil(lambda: widget_of(window, "network.network.opserv-test0") is not None, timeout=1000)
    gone = {"timestamp": int(time.time() * 1000), "value": nics}
    queue_manager.putMeasurementIntoQueue("system", "networks", gone)
    widget = widget_of(window, "network.network.opserv-test0")
    qtbot.waitUntil(lambda: not widget.isEnabled(), timeout=1000)
    assert "(gone)" in widget.title.text()


def test_overview_shows_the_interfaces_that_are_up_and_the_network_page_all(qtbot, open_window):
    """The loopback and the interfaces that are down (here ifb0, ifb1) would fill the Overview with
    flat lines; it shows the ones that carry traffic, and follows one that comes up."""
    window = open_window()
    qtbot.waitUntil(lambda: "activenetworks" in window.lists, timeout=5000)
    active, every = window.lists["activenetworks"], window.lists["networks"]
    assert set(active) < set(every) and "lo" in every and "lo" not in active
    assert {w for w in window.pages["Overview"].widgets if ".network." in w} == {
        f"overview.network.{nic}" for nic in active}
    assert {w for w in window.pages["Network"].widgets} >= {f"network.network.{nic}" for nic in every}
    coming_up = next(nic for nic in every if nic not in active)
    queue_manager.putMeasurementIntoQueue("system", "activenetworks", {
        "timestamp": int(time.time() * 1000), "value": sorted([*active, coming_up])})
    qtbot.waitUntil(lambda: widget_of(window, f"overview.network.{coming_up}") is not None, timeout=1000)


def test_cpu_widget_gets_a_curve_per_core_and_follows_a_new_core(qtbot, open_window):
    window = open_window()
    widget = widget_of(window, "overview.cpu")
    cores = window.lists["cpucores"]
    assert [label for _, label in widget.spec.curves] == ["total"] + [f"core {c}" for c in cores]
    more = {"timestamp": int(time.time() * 1000), "value": cores + [str(len(cores))]}
    queue_manager.putMeasurementIntoQueue("system", "cpucores", more)
    qtbot.waitUntil(lambda: len(widget_of(window, "overview.cpu").curves) == len(cores) + 2, timeout=1000)
    new_widget = widget_of(window, "overview.cpu")
    assert new_widget is not widget
    qtbot.waitUntil(new_widget.isVisible, timeout=1000)
    assert window.rate_book.effective(SeriesKey("cpucore", str(len(cores)), "usage")) == 1000


def test_status_bar_rate_is_steady(qtbot, open_window):
    """The series of one rate are measured in one burst a second, so a count per second would jump
    (19, then 36 when the 10 s series come too); the status bar shows the mean over the last 10 s."""
    window = open_window()
    rates: list[int] = []

    def read_rate() -> None:
        found = re.search(r"(\d+) measurements/s", window.status.text())
        rates.append(int(found.group(1)) if found else 0)

    window._status_timer.timeout.connect(read_rate)  # after the window's own update
    qtbot.waitUntil(lambda: len(rates) >= 22, timeout=35_000)
    last = rates[-11:]  # ten seconds: the 10 s series' burst is among them
    assert min(last) > 0 and max(last) <= 1.3 * min(last), f"the rate jumps: {rates}"


def test_plot_menu_offers_only_what_applies_to_live_curves(open_window):
    """Right-click keeps the view's range and mouse options and Export; "Plot Options" (FFT, log,
    downsampling, made for another kind of curve) would half-apply and raise."""
    window = open_window()
    item = widget_of(window, "overview.memory").plot.getPlotItem()
    assert item.getContextMenus(None) is None
    assert item.getViewBox().menuEnabled()
