"""One metric widget: a title, the current value, a live time plot, refresh and rate controls.

It takes a WidgetSpec in and sends intents out (`refresh_requested`, `rate_changed`); the main
window wires those to the gatherer. The bridge calls `on_measurements` and `redraw`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.measurement import Measurement, SeriesKey
from desktop_app.ui.rate_slider import RateSlider
from desktop_app.ui.series_buffer import SeriesBuffer
from desktop_app.ui.steady_label import set_steady_text
from desktop_app.units import format_value

WINDOWS_S = {"1 min": 60, "5 min": 300, "15 min": 900, "1 h": 3600, "24 h": 86_400, "7 days": 604_800, "All": 0}
ALL = 0  # the window "All": from the oldest measurement in the history
DEFAULT_WINDOW_S = 300
PALETTE = ("#3b82f6", "#f97316", "#10b981", "#e11d48", "#8b5cf6", "#eab308", "#06b6d4", "#84cc16")
_AXIS_UNITS = {"bytes": "B", "bytes/s": "B/s", "MHz": "Hz", "degC": "°C"}  # pyqtgraph adds SI prefixes
_AXIS_SCALE = {"MHz": 1e6}
_PLAIN_AXIS = {"rpm": "RPM"}  # units an SI prefix would garble ("kRPM")
HISTORY_DEBOUNCE_MS = 200  # wait for a zoom or pan to settle before asking the history
SCROLL_HEADROOM = 0.05  # the time axis moves in steps of this part of the window


def nice_ceiling(value: float) -> float:
    """The next of 1, 2, 2.5, 5 x 10^n at or above value: a y range that changes rarely."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def format_reading(value: object, unit: str) -> str:
    """format_value, plus the units it leaves bare."""
    if unit == "rpm" and isinstance(value, (int, float)):
        return f"{value:,.0f} RPM"
    return format_value(value, unit)


class _Band:
    """A curve's history beyond its live buffer: the bucket averages and a min-max band."""

    def __init__(self, plot: pg.PlotWidget, colour: str) -> None:
        fill = pg.mkColor(colour)
        fill.setAlpha(60)
        self.avg = plot.plot(pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine))
        edge = pg.mkPen(fill)  # a pen-less curve has no path for FillBetweenItem to fill between
        self.low = plot.plot(pen=edge)
        self.high = plot.plot(pen=edge)
        self.fill = pg.FillBetweenItem(self.low, self.high, brush=fill)
        plot.addItem(self.fill)
        self.hide()

    def show_buckets(self, buckets: list, scale: float) -> None:
        if not buckets:
            self.hide()
            return
        rows = np.array([(b.ts, b.min, b.avg, b.max) for b in buckets], dtype=float)
        t = rows[:, 0] / 1000.0
        self.avg.setData(t, rows[:, 2] * scale)
        self.low.setData(t, rows[:, 1] * scale)
        self.high.setData(t, rows[:, 3] * scale)
        for item in (self.avg, self.low, self.high, self.fill):
            item.show()

    def hide(self) -> None:
        for item in (self.avg, self.low, self.high, self.fill):
            item.hide()

    @property
    def visible(self) -> bool:
        return self.fill.isVisible() and self.avg.getData()[0] is not None


@dataclass(frozen=True)
class WidgetSpec:
    """What one widget shows: an id (stable, for preferences and objectName), a title, curves."""

    id: str
    title: str
    curves: tuple[tuple[SeriesKey, str], ...]  # (series, legend label)
    info: SeriesKey | None = None  # a text series shown under the title

    @property
    def unit(self) -> str:
        return self.curves[0][0].spec.unit

    @property
    def default_rate_ms(self) -> int:
        return min(key.spec.default_rate_ms for key, _ in self.curves)

    @property
    def keys(self) -> list[SeriesKey]:
        return [key for key, _ in self.curves]


class MetricWidget(QFrame):
    """Intents out: refresh_requested, rate_changed(ms), window_changed(s), and
    history_wanted(start_ms, end_ms, buckets) when the view reaches past the live buffers."""

    refresh_requested = Signal()
    rate_changed = Signal(int)
    window_changed = Signal(int)
    history_wanted = Signal(object, object, int)  # ms values overflow a C int

    def __init__(self, spec: WidgetSpec, buffers: dict[SeriesKey, SeriesBuffer], rate_ms: int,
                 window_s: int = DEFAULT_WINDOW_S, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self._buffers = buffers
        self._scale = _AXIS_SCALE.get(spec.unit, 1.0)
        self._problems: dict[SeriesKey, str] = {}
        self._ended: set[SeriesKey] = set()  # series of a process that has exited
        # A process's CPU % adds up over its threads: 250 % is four busy threads, not an error.
        self._may_pass_100 = any(key.component == "process" for key in spec.keys)
        self._history_asked: tuple[int, int] | None = None
        self._oldest_in_history: float | None = None  # seconds; known once "All" was loaded
        self._history_check = QTimer(self, singleShot=True, interval=HISTORY_DEBOUNCE_MS)
        self._history_check.timeout.connect(self._check_history)
        self.setObjectName(f"widget:{spec.id}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

        self.title = QLabel(f"<b>{spec.title}</b>")
        self.value = QLabel("–")
        self.value.setObjectName(f"value:{spec.id}")
        self.value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        font = self.value.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.value.setFont(font)
        self.value.setAutoFillBackground(True)  # opaque: a new value repaints the label, not the frame under it
        self.info = QLabel()
        self.info.setObjectName(f"info:{spec.id}")
        self.info.setVisible(spec.info is not None)
        self.status = QLabel()
        self.status.setObjectName(f"status:{spec.id}")
        self.status.setStyleSheet("color: #d97706")
        self.status.setWordWrap(True)
        self.status.hide()

        self.window_box = QComboBox()
        self.window_box.setObjectName(f"window:{spec.id}")
        self.window_box.setToolTip("Time shown in the plot")
        self.window_box.addItems(list(WINDOWS_S))
        self.set_window(window_s)
        self.window_box.currentTextChanged.connect(self._on_window_box_changed)

        self.pause_button = QToolButton(text="Pause", checkable=True)
        self.pause_button.setObjectName(f"pause:{spec.id}")
        self.pause_button.setToolTip("Stop scrolling with time (zooming or panning pauses too)")
        self.pause_button.toggled.connect(self._on_pause_button_toggled)

        self.refresh_button = QToolButton(text="↻")
        self.refresh_button.setObjectName(f"refresh:{spec.id}")
        self.refresh_button.setToolTip("Measure now (F5: every visible plot)")
        self.refresh_button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.refresh_button.clicked.connect(self.refresh_requested)

        self.rate_slider = RateSlider(rate_ms)
        self.rate_slider.slider.setObjectName(f"rate:{spec.id}")
        self.rate_slider.rate_changed.connect(self.rate_changed)

        self.cursor = QLabel()
        self.cursor.setObjectName(f"cursor:{spec.id}")
        self.cursor.setStyleSheet("color: gray")

        self.plot = self._build_plot()

        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addStretch(1)
        header.addWidget(self.value)
        controls = QHBoxLayout()
        controls.addWidget(self.rate_slider, 1)
        controls.addWidget(self.window_box)
        controls.addWidget(self.pause_button)
        controls.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(3)
        layout.addLayout(header)
        layout.addWidget(self.info)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.cursor)
        layout.addLayout(controls)

    # -- building ----------------------------------------------------------------------
    def _build_plot(self) -> pg.PlotWidget:
        plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        plot.setObjectName(f"plot:{self.spec.id}")
        plot.setMinimumHeight(140)
        # The view's menu (ranges, mouse) and the scene's Export; not "Plot Options", whose FFT, log
        # and downsampling switches are for PlotDataItems, not these curves.
        plot.setMenuEnabled(enableMenu=False, enableViewBoxMenu=True)
        plot.setMouseEnabled(x=True, y=False)
        plot.hideButtons()
        item = plot.getPlotItem()
        unit = self.spec.unit
        if unit in _AXIS_UNITS:
            item.setLabel("left", units=_AXIS_UNITS[unit])
        elif unit in _PLAIN_AXIS:
            item.setLabel("left", _PLAIN_AXIS[unit])
        if unit == "%":
            plot.setYRange(0, 100, padding=0.02)
        if len(self.spec.curves) > 1:
            item.addLegend(offset=(1, 1), labelTextSize="8pt", colCount=min(4, len(self.spec.curves)))
        self.curves: dict[SeriesKey, pg.PlotCurveItem] = {}
        self.bands: dict[SeriesKey, _Band] = {}  # history past the live buffer: average and min-max
        for i, (key, label) in enumerate(self.spec.curves):
            # Width 1 and no antialiasing: a wide antialiased pen costs ~100x to paint a jagged curve.
            # A bare PlotCurveItem fed only what the view shows (SeriesBuffer.visible): "finite" breaks
            # the line at a gap (NaN).
            curve = pg.PlotCurveItem(name=label, pen=pg.mkPen(PALETTE[i % len(PALETTE)], width=1), connect="finite")
            plot.addItem(curve)
            self.curves[key] = curve
            if key.spec.is_numeric:
                self.bands[key] = _Band(plot, PALETTE[i % len(PALETTE)])
        for name in ("left", "bottom"):  # redrawn from a cached pixmap while the curves change under them
            item.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        if item.legend is not None:
            for part in (item.legend, *item.legend.childItems()):
                part.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        item.getViewBox().sigRangeChangedManually.connect(self._on_view_range_changed_manually)
        item.getViewBox().sigXRangeChanged.connect(self._on_x_range_changed)
        item.getViewBox().sigResized.connect(self._on_view_resized)
        plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        return plot

    # -- preferences and intents ----------------------------------------------------------
    @property
    def window_s(self) -> int:
        return WINDOWS_S[self.window_box.currentText()]

    def set_window(self, seconds: int) -> None:
        label = min(WINDOWS_S, key=lambda k: abs(WINDOWS_S[k] - seconds))
        self.window_box.setCurrentText(label)

    @property
    def paused(self) -> bool:
        return self.pause_button.isChecked()

    def _on_window_box_changed(self, _text: str) -> None:
        self.window_changed.emit(self.window_s)
        self.redraw()

    def _on_pause_button_toggled(self, paused: bool) -> None:
        self.pause_button.setText("Live" if paused else "Pause")
        self.redraw()  # paused: the whole buffer, to pan through; live: the window again

    def _on_view_range_changed_manually(self, *_args) -> None:
        self.pause_button.setChecked(True)  # the user looks at a moment: stop scrolling away from it

    def _on_view_resized(self, *_args) -> None:
        self._draw_curves()  # as many points as the new width has columns

    def _on_x_range_changed(self, *_args) -> None:
        self._history_check.start()
        if self.paused:  # panned or zoomed: draw what the view now shows
            self._draw_curves()

    # -- data from the bridge ---------------------------------------------------------------
    def on_measurements(self, key: SeriesKey, items: list[Measurement]) -> None:
        if key == self.spec.info:
            self.info.setText(str(items[-1]["value"]))
        if key in self._problems:
            self.set_problem(key, "")

    def redraw(self) -> None:
        """Show the buffers' data; skipped while hidden (a page not shown), done again on show."""
        self._update_value()
        if not self.isVisible():
            return
        if not self.paused:
            now = time.time()
            start = self._window_start(now)
            self._scroll(start, now)
            if self.spec.unit != "%":
                self._fit_y(start)
            elif self._may_pass_100:
                self._fit_y(start, floor=100.0)
        self._draw_curves()

    def _draw_curves(self) -> None:
        x0, x1 = self.plot.getPlotItem().getViewBox().viewRange()[0]
        columns = max(1, self.plot.width())
        for key, curve in self.curves.items():
            buffer = self._buffers.get(key)
            if buffer is not None and len(buffer):
                t, v = buffer.visible(x0, x1, columns)
                curve.setData(t, v * self._scale if self._scale != 1.0 else v)

    def _scroll(self, start: float, now: float) -> None:
        """Keep `now` in view, moving the time axis in steps of a twentieth of the window.

        Moving it a pixel per new point would rebuild and repaint both axes on every tick, which
        costs more than the curves; in steps, most ticks repaint only the curves."""
        x0, x1 = self.plot.getPlotItem().getViewBox().viewRange()[0]
        headroom = (now - start) * SCROLL_HEADROOM
        if now <= x1 and abs((x1 - x0) - (now + headroom - start)) < 1e-6 * (x1 - x0):
            return  # now is still in view, and the window is the same
        self.plot.setXRange(start, now + headroom, padding=0)

    def _window_start(self, now: float) -> float:
        if self.window_s != ALL:
            return now - self.window_s
        oldest = [b.view()[0][0] for b in self._live_buffers()]
        if self._oldest_in_history is not None:
            oldest.append(self._oldest_in_history)
        return min(oldest, default=now - 3600)

    def _live_buffers(self) -> list[SeriesBuffer]:
        return [b for key in self.curves if (b := self._buffers.get(key)) is not None and len(b)]

    # -- history past the live buffers ------------------------------------------------------
    def _check_history(self) -> None:
        """Ask for condensed history when the view starts before the live buffers do."""
        if not self.bands:
            return
        x0, x1 = self.plot.getPlotItem().getViewBox().viewRange()[0]
        live_from = min((b.view()[0][0] for b in self._live_buffers()), default=time.time())
        if self.window_s == ALL and not self.paused:
            x0 = 0.0  # "All": from the first measurement, wherever it is
        if x0 >= live_from - 1:
            for band in self.bands.values():
                band.hide()  # zoomed back in: raw points only
            self._history_asked = None
            return
        start_ms, end_ms = int(x0 * 1000), int(min(x1, live_from) * 1000)
        asked = self._history_asked
        if asked is not None and abs(asked[0] - start_ms) + abs(asked[1] - end_ms) < 0.02 * (end_ms - start_ms):
            return  # live scrolling moved the view a hair: what is drawn still holds
        self._history_asked = (start_ms, end_ms)
        self.history_wanted.emit(start_ms, end_ms, max(50, self.plot.width()))

    def show_history(self, key: SeriesKey, buckets: list) -> None:
        """Draw condensed history (Bucket rows: ts, min, avg, max, count) for one curve."""
        band = self.bands.get(key)
        if band is None:
            return
        if self.window_s == ALL and buckets:
            self._oldest_in_history = buckets[0].ts / 1000.0
        band.show_buckets(buckets, self._scale)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.redraw()

    def _fit_y(self, since: float, floor: float = 0.0) -> None:
        top = 0.0
        for buffer in self._live_buffers():
            t, v = buffer.view()
            visible = v[np.searchsorted(t, since):]
            if len(visible) and np.isfinite(visible).any():
                top = max(top, float(np.nanmax(visible)))
        top *= self._scale
        for band in self.bands.values():
            if band.visible:
                top = max(top, float(np.nanmax(band.high.getData()[1])))
        top = floor * 1.02 if floor and top <= floor else nice_ceiling(top * 1.05)
        if self.plot.getPlotItem().getViewBox().viewRange()[1] != [0, top]:  # rebuild the axis only on a change
            self.plot.setYRange(0, top, padding=0)

    def _update_value(self) -> None:
        parts = []
        for key, label in self.spec.curves[:2]:
            buffer = self._buffers.get(key)
            last = buffer.last() if buffer is not None else None
            if last is not None:
                text = format_reading(last[1], self.spec.unit)
                parts.append(f"{label} {text}" if len(self.spec.curves) > 1 else text)
        set_steady_text(self.value, "  ".join(parts) or "–")

    # -- state shown to the user -------------------------------------------------------------
    def set_problem(self, key: SeriesKey, message: str, ended: bool = False) -> None:
        """Say a series is not available (message), or that it is again (""). `ended`: the message
        says its process has exited, which no refresh will undo."""
        if message:
            self._problems[key] = message
        else:
            self._problems.pop(key, None)
        if ended and message:
            self._ended.add(key)
        else:
            self._ended.discard(key)
        self._show_state()

    @property
    def ended(self) -> bool:
        return bool(self._ended) and self._ended >= set(self.spec.keys)

    def _show_state(self) -> None:
        ended = self.ended
        if ended:
            self.status.setText("Process ended")
            self.status.setStyleSheet("color: #dc2626; font-weight: bold")
        else:
            text = "; ".join(sorted(set(self._problems.values())))
            self.status.setText(f"Not available: {text}" if text else "")
            self.status.setStyleSheet("color: #d97706")
        self.status.setVisible(bool(self.status.text()))
        self.title.setText(f"<b>{self.spec.title}</b>" + (" (ended)" if ended else ""))
        for control in (self.refresh_button, self.rate_slider):
            control.setEnabled(not ended)  # nothing left to measure

    def set_present(self, present: bool) -> None:
        """Grey the widget out when its device or interface has vanished; back when it returns."""
        self.setEnabled(present)
        self.title.setText(f"<b>{self.spec.title}</b>" + ("" if present else " (gone)"))

    def export_png(self, path: Path) -> None:
        """Save the plot as a PNG with pyqtgraph's exporter (the plot's context menu offers it too)."""
        ImageExporter(self.plot.getPlotItem()).export(str(path))
        if not path.exists():  # the exporter reports a failed save only through QImage.save's result
            raise OSError(f"the image could not be saved to {path}")

    def set_dark(self, dark: bool) -> None:
        self.plot.setBackground("#1f2125" if dark else "w")
        ink = pg.mkPen("#c8c8c8" if dark else "#404040")
        for name in ("left", "bottom"):
            axis = self.plot.getPlotItem().getAxis(name)
            axis.setPen(ink)
            axis.setTextPen(ink)

    def _on_mouse_moved(self, pos) -> None:
        view = self.plot.getPlotItem().getViewBox()
        if not self.plot.sceneBoundingRect().contains(pos):
            return
        x = view.mapSceneToView(pos).x()
        parts = []
        for key, label in self.spec.curves[:4]:
            buffer = self._buffers.get(key)
            if buffer is None or not len(buffer):
                continue
            t, v = buffer.view()
            i = int(np.clip(np.searchsorted(t, x), 0, len(t) - 1))
            if i > 0 and abs(t[i - 1] - x) < abs(t[i] - x):
                i -= 1
            stamp = time.strftime("%H:%M:%S", time.localtime(t[i]))
            parts.append(f"{label} {format_reading(v[i], self.spec.unit)}")
        if parts:
            self.cursor.setText(f"{stamp}  " + "  ".join(parts))
