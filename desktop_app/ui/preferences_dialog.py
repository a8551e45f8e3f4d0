"""Edit > Preferences: how long the history keeps raw measurements and their 1-minute roll-ups."""
from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QSpinBox, QWidget

from desktop_app.prometheus.exporter import DEFAULT_LISTEN
from desktop_app.storage.history import RAW_DAYS, ROLLUP_DAYS


class PreferencesDialog(QDialog):
    def __init__(self, raw_days: int, rollup_days: int, metrics_listen: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.raw_days = QSpinBox(objectName="prefs-raw-days", minimum=1, maximum=3650, suffix=" days")
        self.raw_days.setValue(raw_days)
        self.raw_days.setToolTip(f"Every measurement is kept this long (default {RAW_DAYS} days)")
        self.rollup_days = QSpinBox(objectName="prefs-rollup-days", minimum=1, maximum=36500, suffix=" days")
        self.rollup_days.setValue(rollup_days)
        self.rollup_days.setToolTip(f"1-minute min/avg/max are kept this long (default {ROLLUP_DAYS} days)")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(QLabel("<b>History</b>"))
        form.addRow("Keep every measurement", self.raw_days)
        form.addRow("Keep 1-minute summaries", self.rollup_days)
        self.serve_metrics = QCheckBox("Serve the gathered series to Prometheus", objectName="prefs-serve-metrics")
        self.serve_metrics.setChecked(bool(metrics_listen))
        self.metrics_listen = QLineEdit(metrics_listen or DEFAULT_LISTEN, objectName="prefs-metrics-listen")
        self.metrics_listen.setToolTip("HOST:PORT; 127.0.0.1 keeps it on this machine, 0.0.0.0 opens it to the network")
        self.metrics_listen.setEnabled(self.serve_metrics.isChecked())
        self.serve_metrics.toggled.connect(self.metrics_listen.setEnabled)
        form.addRow(QLabel("<b>Prometheus</b>"))
        form.addRow(self.serve_metrics)
        form.addRow("Listen on", self.metrics_listen)
        form.addRow(buttons)

    @property
    def listen(self) -> str:
        """The address to serve metrics on, or "" for off."""
        return self.metrics_listen.text().strip() if self.serve_metrics.isChecked() else ""
