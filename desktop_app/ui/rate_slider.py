"""A gathering-rate slider with discrete steps from Off to 60 s and a label showing the choice."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget

RATE_STEPS_MS = (0, 50, 100, 250, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000)
DEBOUNCE_MS = 150  # a drag or held arrow key sends one rate change, after it settles


def rate_text(delay_ms: int) -> str:
    if delay_ms == 0:
        return "Off"
    return f"{delay_ms} ms" if delay_ms < 1000 else f"{delay_ms // 1000} s"


def nearest_step(delay_ms: int) -> int:
    """The index of the step closest to delay_ms (a saved or default rate between steps)."""
    return min(range(len(RATE_STEPS_MS)), key=lambda i: abs(RATE_STEPS_MS[i] - delay_ms))


class RateSlider(QWidget):
    """Emits `rate_changed(delay_ms)` once per settled change; `delay_ms` is the current choice."""

    rate_changed = Signal(int)

    def __init__(self, delay_ms: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, len(RATE_STEPS_MS) - 1)
        self.slider.setPageStep(1)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.slider.setToolTip("How often this plot is measured (Off stops it)")
        self.label = QLabel()
        self.label.setMinimumWidth(self.label.fontMetrics().horizontalAdvance("Rate: 250 ms"))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit)
        self._sent = None
        self.set_delay(delay_ms)
        self.slider.valueChanged.connect(self._on_slider_value_changed)
        self.slider.sliderReleased.connect(self._emit)

    @property
    def delay_ms(self) -> int:
        return RATE_STEPS_MS[self.slider.value()]

    def set_delay(self, delay_ms: int) -> None:
        """Show a rate without emitting (restoring preferences)."""
        self.slider.blockSignals(True)
        self.slider.setValue(nearest_step(delay_ms))
        self.slider.blockSignals(False)
        self._sent = self.delay_ms
        self.label.setText(f"Rate: {rate_text(self.delay_ms)}")

    def _on_slider_value_changed(self, _index: int) -> None:
        self.label.setText(f"Rate: {rate_text(self.delay_ms)}")
        if not self.slider.isSliderDown():
            self._debounce.start()

    def _emit(self) -> None:
        self._debounce.stop()
        if self.delay_ms != self._sent:
            self._sent = self.delay_ms
            self.rate_changed.emit(self.delay_ms)
