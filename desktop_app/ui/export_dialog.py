"""File > Export CSV: choose series, time range, layout and file; the export runs off the GUI thread."""
from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import platformdirs
from PySide6.QtCore import QDateTime, Qt, QThread, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app import catalog
from desktop_app.measurement import SeriesKey
from desktop_app.storage.export import ExportCancelled, ExportError, ExportRequest, export_csv
from desktop_app.storage.history import HistoryReader

RANGES_S = {"Last 5 minutes": 300, "Last hour": 3600, "Last 24 hours": 86_400, "Last 7 days": 604_800,
            "All": None, "Custom": None}
BUCKETS_MS = {"1 s": 1000, "10 s": 10_000, "1 min": 60_000, "5 min": 300_000, "1 h": 3_600_000}


def default_export_path() -> Path:
    return platformdirs.user_documents_path() / f"opserv-{datetime.now():%Y%m%d-%H%M%S}.csv"


class ExportWorker(QThread):
    """Runs one export; `progress(done, total)`, then `done(rows)` or `failed(message)`."""

    progress = Signal(int, int)
    done = Signal(int)
    failed = Signal(str)

    def __init__(self, request: ExportRequest, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("opserv-export")
        self.request = request
        self.cancelled = False

    def run(self) -> None:
        try:
            rows = export_csv(self.request, self._on_progress)
        except ExportCancelled:
            self.failed.emit("Export cancelled; no file was written.")
        except ExportError as exc:
            self.failed.emit(str(exc))
        else:
            self.done.emit(rows)

    def _on_progress(self, done: int, total: int) -> bool:
        self.progress.emit(done, total)
        return not self.cancelled


class ExportDialog(QDialog):
    """Emits `exported(path, rows)` when a file was written; stays open on errors."""

    exported = Signal(str, int)

    def __init__(self, db_path: Path, on_screen: set[SeriesKey], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export CSV")
        self.setObjectName("export-dialog")
        self.db_path = Path(db_path)
        self.worker: ExportWorker | None = None

        self.tree = QTreeWidget()
        self.tree.setObjectName("export-series")
        self.tree.setHeaderLabels(["Series", "Unit"])
        self._fill_tree(on_screen)

        self.range_box = QComboBox(objectName="export-range")
        self.range_box.addItems(list(RANGES_S))
        self.range_box.setCurrentText("Last hour")
        now = QDateTime.currentDateTime()
        self.from_edit = QDateTimeEdit(now.addSecs(-3600), objectName="export-from", calendarPopup=True)
        self.to_edit = QDateTimeEdit(now, objectName="export-to", calendarPopup=True)
        self.range_box.currentTextChanged.connect(self._on_range_box_changed)
        self._on_range_box_changed(self.range_box.currentText())

        self.layout_box = QComboBox(objectName="export-layout")
        self.layout_box.addItem("Long: a row per measurement", "long")
        self.layout_box.addItem("Wide: a row per time bucket, a column per series", "wide")
        self.bucket_box = QComboBox(objectName="export-bucket")
        self.bucket_box.addItems(list(BUCKETS_MS))
        self.bucket_box.setCurrentText("1 min")
        self.layout_box.currentIndexChanged.connect(
            lambda: self.bucket_box.setEnabled(self.layout_box.currentData() == "wide"))
        self.bucket_box.setEnabled(False)

        self.path_edit = QLineEdit(str(default_export_path()), objectName="export-path")
        browse = QPushButton("Browse…", objectName="export-browse")
        browse.clicked.connect(self._on_browse_clicked)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)

        self.progress = QProgressBar(objectName="export-progress")
        self.progress.hide()
        self.error = QLabel(objectName="export-error")
        self.error.setStyleSheet("color: #dc2626")
        self.error.setWordWrap(True)
        self.error.hide()

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setObjectName("export-start")
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setObjectName("export-cancel")
        self.buttons.accepted.connect(self.start_export)
        self.buttons.rejected.connect(self._on_cancel)

        form = QFormLayout()
        form.addRow("Time range", self.range_box)
        form.addRow("From", self.from_edit)
        form.addRow("To", self.to_edit)
        form.addRow("Layout", self.layout_box)
        form.addRow("Bucket", self.bucket_box)
        form.addRow("File", path_row)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree, 1)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(560, 600)

    def _fill_tree(self, on_screen: set[SeriesKey]) -> None:
        try:
            keys = HistoryReader(self.db_path).series()
        except Exception as exc:  # no or unreadable history: say so in the dialog
            keys = []
            self.tree.setHeaderLabels([f"No history to export: {exc}", ""])
        groups: dict[str, list[SeriesKey]] = defaultdict(list)
        for key in keys:
            groups[key.component].append(key)
        self.items: dict[SeriesKey, QTreeWidgetItem] = {}
        for component, members in groups.items():
            parent = QTreeWidgetItem(self.tree, [catalog.COMPONENTS[component].label, ""])
            parent.setFlags(parent.flags() | Qt.ItemFlag.ItemIsAutoTristate | Qt.ItemFlag.ItemIsUserCheckable)
            for key in members:
                label = f"{key.spec.label} {key.args}" if key.args else key.spec.label
                item = QTreeWidgetItem(parent, [label, key.spec.unit])
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(0, Qt.CheckState.Checked if key in on_screen else Qt.CheckState.Unchecked)
                item.setData(0, Qt.ItemDataRole.UserRole, key)
                self.items[key] = item
        self.tree.resizeColumnToContents(0)

    def selected(self) -> list[SeriesKey]:
        return [key for key, item in self.items.items() if item.checkState(0) == Qt.CheckState.Checked]

    def request(self) -> ExportRequest:
        """The export the form describes; ValueError with a message for the user if it is incomplete."""
        series = self.selected()
        if not series:
            raise ValueError("Choose at least one series to export.")
        text = self.path_edit.text().strip()
        if not text:
            raise ValueError("Choose a file to export to.")
        choice = self.range_box.currentText()
        now_ms = int(time.time() * 1000)
        if choice == "Custom":
            start, end = self.from_edit.dateTime().toMSecsSinceEpoch(), self.to_edit.dateTime().toMSecsSinceEpoch()
            if end <= start:
                raise ValueError("The custom range ends before it starts.")
        elif RANGES_S[choice] is None:
            start, end = 0, 2**62
        else:
            start, end = now_ms - RANGES_S[choice] * 1000, 2**62
        return ExportRequest(self.db_path, Path(text).expanduser(), tuple(series), start, end,
                             self.layout_box.currentData(), BUCKETS_MS[self.bucket_box.currentText()])

    def start_export(self) -> None:
        try:
            request = self.request()
        except ValueError as exc:
            self._show_error(str(exc))
            return
        self.error.hide()
        self.export_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.worker = ExportWorker(request, self)
        self.worker.progress.connect(self._on_worker_progress)
        self.worker.done.connect(lambda rows: self._on_worker_done(request.out, rows))
        self.worker.failed.connect(self._on_worker_failed)
        self.worker.start()

    def _on_worker_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def _on_worker_done(self, out: Path, rows: int) -> None:
        self.worker.wait()
        self.exported.emit(str(out), rows)
        self.accept()

    def _on_worker_failed(self, message: str) -> None:
        self.worker.wait()
        self.worker = None
        self.progress.hide()
        self.export_button.setEnabled(True)
        self._show_error(message)

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    def _on_cancel(self) -> None:
        if self.worker is not None and self.worker.isRunning():
            self.worker.cancelled = True  # the worker removes its partial file and reports back
        else:
            self.reject()

    def _on_range_box_changed(self, text: str) -> None:
        custom = text == "Custom"
        self.from_edit.setEnabled(custom)
        self.to_edit.setEnabled(custom)

    def _on_browse_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", self.path_edit.text(), "CSV files (*.csv)")
        if path:
            self.path_edit.setText(path)

    def done(self, result: int) -> None:  # closing the dialog while exporting cancels and waits
        if self.worker is not None and self.worker.isRunning():
            self.worker.cancelled = True
            self.worker.wait()
        super().done(result)
