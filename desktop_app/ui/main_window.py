"""The main window: pages of metric widgets, menus, status bar, and the wiring between them.

It owns the gatherer QThread, the bridge and the rate book, and connects each widget's
intents to the public API: refresh -> queue_manager.requestData, rate -> setGatheringRate.
"""
from __future__ import annotations

import os
import time
from collections import defaultdict, deque
from pathlib import Path

import platformdirs
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QActionGroup, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app import __version__, queue_manager
from desktop_app.catalog import RATE_SLOW
from desktop_app.gathering.sources.process import ended_message
from desktop_app.gathering.sources.process_table import NAME, PID
from desktop_app.measurement import Measurement, SeriesKey
from desktop_app.prometheus.client import PrometheusClient
from desktop_app.prometheus.exporter import MetricsServer
from desktop_app.storage.history import RAW_DAYS, ROLLUP_DAYS, HistoryWriter
from desktop_app.ui.bridge import Bridge
from desktop_app.ui.export_dialog import ExportDialog
from desktop_app.ui.gatherer_thread import GathererThread
from desktop_app.ui.gui_gc import GuiThreadCollector
from desktop_app.ui.metric_widget import WINDOWS_S, MetricWidget, WidgetSpec
from desktop_app.ui.pages import LIST_METRICS, NONE_FOUND, PAGES, PROCESSES, SIDEBAR
from desktop_app.ui.preferences_dialog import PreferencesDialog
from desktop_app.ui.processes_page import DEFAULT_RATE_MS, TABLE, TABLE_ID, ProcessesPage
from desktop_app.ui.rate_book import RateBook
from desktop_app.ui.remote_page import RemotePage
from desktop_app.ui.steady_label import set_steady_text
from desktop_app.units import format_value

STATUS_INTERVAL_MS = 1000
RATE_WINDOW_S = 10  # the status bar's measurements/s is the mean over this many seconds
GRID_COLUMNS = 2


class Page(QScrollArea):
    """A scrollable grid of metric widgets; the window adds widgets as the system lists grow."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.setObjectName(f"page:{name}")
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        body = QWidget()
        self._column = QVBoxLayout(body)
        self._column.setContentsMargins(0, 0, 0, 0)
        self.empty = QLabel("Waiting for the first measurements…", objectName=f"empty:{name}")
        self.empty.setWordWrap(True)
        self._column.addWidget(self.empty)
        self.grid = QGridLayout()
        self.grid.setSpacing(8)
        self._column.addLayout(self.grid, 1)
        self.setWidget(body)
        self.widgets: dict[str, MetricWidget] = {}

    def show_none_found(self, found: bool) -> None:
        """Say plainly that this machine has nothing for the page (no GPU, no sensors), or hide that."""
        title, detail = NONE_FOUND[self.name]
        self.empty.setText(f"<p style='font-size: 15pt'>{title}</p><p style='color: gray'>{detail}</p>")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setVisible(not found)
        self._column.setStretchFactor(self.empty, 0 if found else 1)  # centred in the page when alone

    def add(self, widget: MetricWidget) -> None:
        self.empty.hide()
        n = len(self.widgets)
        self.widgets[widget.spec.id] = widget
        self.grid.addWidget(widget, n // GRID_COLUMNS, n % GRID_COLUMNS)

    def replace(self, widget: MetricWidget) -> None:
        """Put `widget` where the widget with the same id stands, and delete that one."""
        old = self.widgets[widget.spec.id]
        self.grid.replaceWidget(old, widget)
        self.widgets[widget.spec.id] = widget
        old.deleteLater()


def _ended(key: SeriesKey, message: str) -> bool:
    """Whether a problem says the series' process has exited (final), not that it is unreadable now."""
    return key.component == "process" and message == ended_message(key.args)


class _ListWatcher:
    """Bridge subscriber for the `system` lists: tells the window when one changes."""

    def __init__(self, window: MainWindow) -> None:
        self._window = window

    def on_measurements(self, key: SeriesKey, items: list[Measurement]) -> None:
        self._window.update_lists(key.metric, items[-1]["value"])

    def redraw(self) -> None:
        pass


class MainWindow(QMainWindow):
    def __init__(self, db_path: Path, settings: QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("OpServ Desktop")
        self.db_path = Path(db_path)
        self.settings = settings if settings is not None else QSettings()
        self.history = HistoryWriter(self.db_path,
                                     raw_days=int(self.settings.value("history/raw_days", RAW_DAYS)),
                                     rollup_days=int(self.settings.value("history/rollup_days", ROLLUP_DAYS)))
        self.gatherer_thread = GathererThread(self.history)
        self.gatherer_thread.problem.connect(self._on_gatherer_problem)
        self.bridge = Bridge(self.db_path, parent=self)
        self.rate_book = RateBook(lambda key, ms: queue_manager.setGatheringRate(
            key.component, key.metric, ms, key.args))
        self.lists: dict[str, list[str]] = {}
        self.widgets_by_key: dict[SeriesKey, list[MetricWidget]] = defaultdict(list)
        self._problems: dict[SeriesKey, str] = {}
        # (monotonic s, measurements taken) at the last status updates: the rate shown is over 10 s,
        # since the series of one rate are measured together, in one burst a second or every 10 s
        self._measured_at: deque[tuple[float, int]] = deque(maxlen=RATE_WINDOW_S + 1)
        self._started = False
        self.remote: RemotePage | None = None  # File > Connect to Prometheus
        self.metrics_server: MetricsServer | None = None  # Edit > Preferences > serve to Prometheus
        self._collector = GuiThreadCollector(self)

        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setFixedWidth(130)
        self.stack = QStackedWidget()
        self.processes = self._make_processes_page()
        self.pages: dict[str, Page | ProcessesPage] = {}
        for name in SIDEBAR:
            page = self.pages[name] = self.processes if name == PROCESSES else Page(name)
            self.stack.addWidget(page)
            self.sidebar.addItem(name)
        self.sidebar.currentRowChanged.connect(self.stack.setCurrentIndex)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(4, 4, 4, 4)
        row.addWidget(self.sidebar)
        row.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.status = QLabel()
        self.status.setObjectName("status")
        self.statusBar().addPermanentWidget(self.status)
        self._status_timer = QTimer(self, interval=STATUS_INTERVAL_MS)
        self._status_timer.timeout.connect(self._update_status)

        self._build_menus()
        self._restore_window()

    # -- menus ---------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        export = file_menu.addAction("&Export CSV…", self.open_export_dialog)
        export.setShortcut(QKeySequence("Ctrl+E"))
        file_menu.addAction("Export plot as &PNG…", self._on_export_png_triggered)
        file_menu.addAction("&Connect to Prometheus…", self._on_connect_triggered)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit", self.close)
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))  # StandardKey.Quit is empty on Windows and offscreen
        quit_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.quit_action = quit_action

        edit = self.menuBar().addMenu("&Edit")
        prefs = edit.addAction("&Preferences…", self.open_preferences)
        prefs.setShortcut(QKeySequence("Ctrl+,"))

        view = self.menuBar().addMenu("&View")
        refresh = view.addAction("&Refresh visible plots", self.refresh_visible)
        refresh.setShortcut(QKeySequence.StandardKey.Refresh)
        windows = view.addMenu("&Time window")
        for label, seconds in WINDOWS_S.items():
            windows.addAction(label, lambda s=seconds: self.set_time_window(s))
        pages = view.addMenu("&Pages")
        for i, name in enumerate(SIDEBAR):
            action = pages.addAction(name, lambda i=i: self.sidebar.setCurrentRow(i))
            action.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
        theme = view.addMenu("T&heme")
        group = QActionGroup(self)
        for name in ("System", "Light", "Dark"):
            action = theme.addAction(name, lambda n=name: self.set_theme(n))
            action.setCheckable(True)
            action.setChecked(name == self.settings.value("theme", "System"))
            group.addAction(action)

        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("&About OpServ Desktop", self._on_about_triggered)

    def open_export_dialog(self) -> ExportDialog:
        on_screen = {key for w in self.stack.currentWidget().widgets.values() for key in w.spec.keys}
        dialog = ExportDialog(self.db_path, on_screen, self)
        dialog.exported.connect(
            lambda path, rows: self.statusBar().showMessage(f"Exported {rows:,} rows to {path}", 10_000))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _on_connect_triggered(self) -> None:
        url, ok = QInputDialog.getText(self, "Connect to Prometheus", "Prometheus server URL:",
                                       text=str(self.settings.value("remote/url", "http://localhost:9090")))
        if ok:
            self.connect_prometheus(url)

    def connect_prometheus(self, url: str) -> RemotePage | None:
        """Show the hosts a Prometheus server knows on a "Remote" page (replacing an earlier one)."""
        try:
            client = PrometheusClient(url)
        except ValueError as exc:
            QMessageBox.warning(self, "Connect to Prometheus", str(exc))
            return None
        self.settings.setValue("remote/url", client.url)
        self._close_remote()
        self.remote = RemotePage(client)
        self.stack.addWidget(self.remote)
        self.sidebar.addItem("Remote")
        self.sidebar.setCurrentRow(self.sidebar.count() - 1)
        return self.remote

    def _close_remote(self) -> None:
        if self.remote is not None:
            self.remote.close_page()
            self.sidebar.takeItem(self.stack.indexOf(self.remote))
            self.stack.removeWidget(self.remote)
            self.remote.deleteLater()
            self.remote = None

    def serve_metrics(self, listen: str) -> None:
        """Serve the gathered series to Prometheus on `listen` ("" stops); errors are shown, not raised."""
        if self.metrics_server is not None:
            self.metrics_server.close()
            self.metrics_server = None
        self.settings.setValue("prometheus/listen", listen)
        if listen:
            try:
                self.metrics_server = MetricsServer(listen)
            except (OSError, ValueError) as exc:
                self.settings.setValue("prometheus/listen", "")
                QMessageBox.warning(self, "Serve metrics to Prometheus", str(exc))

    def open_preferences(self) -> PreferencesDialog:
        listen = "" if self.metrics_server is None else self.metrics_server.address
        dialog = PreferencesDialog(int(self.history.raw_days), int(self.history.rollup_days), listen, self)
        dialog.accepted.connect(lambda: self._apply_preferences(dialog))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _apply_preferences(self, dialog: PreferencesDialog) -> None:
        # The writer reads these at its next maintenance (within a minute); plain ints, set atomically.
        self.history.raw_days = dialog.raw_days.value()
        self.history.rollup_days = dialog.rollup_days.value()
        self.settings.setValue("history/raw_days", self.history.raw_days)
        self.settings.setValue("history/rollup_days", self.history.rollup_days)
        current = "" if self.metrics_server is None else self.metrics_server.address
        if dialog.listen != current:
            self.serve_metrics(dialog.listen)

    def _on_export_png_triggered(self) -> None:
        widgets = [w for w in self.stack.currentWidget().widgets.values() if w.isEnabled()]
        if not widgets:
            return
        titles = [w.spec.title for w in widgets]
        title, ok = QInputDialog.getItem(self, "Export plot as PNG", "Plot", titles, 0, False)
        if not ok:
            return
        widget = widgets[titles.index(title)]
        default = platformdirs.user_pictures_path() / f"opserv-{widget.spec.id}.png"
        path, _ = QFileDialog.getSaveFileName(self, "Export plot as PNG", str(default), "PNG images (*.png)")
        if path:
            try:
                widget.export_png(Path(path))
            except OSError as exc:
                QMessageBox.warning(self, "Export plot as PNG", f"Cannot write {path}: {exc.strerror or exc}")
            else:
                self.statusBar().showMessage(f"Saved {path}", 10_000)

    def _on_about_triggered(self) -> None:
        QMessageBox.about(self, "About OpServ Desktop",
                          f"<b>OpServ Desktop</b> {__version__}<br>A system monitor: live plots of "
                          f"CPU, memory, network and disks, with history.<br>History: {self.db_path}")

    # -- lifetime ------------------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._started:
            self._started = True
            self.start()

    def start(self) -> None:
        """Start gathering and draining; ask for the system lists, which create the widgets."""
        if self.settings.value("prometheus/listen", ""):
            self.serve_metrics(str(self.settings.value("prometheus/listen")))
        if self.history.moved_aside is not None:
            notice = QMessageBox(QMessageBox.Icon.Warning, "History was damaged",
                                 "The history file could not be read, so OpServ Desktop started a new one.\n"
                                 f"The damaged file was kept as:\n{self.history.moved_aside}", parent=self)
            notice.setObjectName("history-damaged")
            notice.open()  # not modal to the app: gathering starts behind it
        self._collector.start()  # before any thread: from now on cycles are collected here only
        self.gatherer_thread.start()
        self.bridge.start()
        self._status_timer.start()
        watcher = self._list_watcher = _ListWatcher(self)
        keys = [SeriesKey("system", None, m) for m in LIST_METRICS]
        self.bridge.subscribe(watcher, keys)
        self.rate_book.set("window.lists", keys, RATE_SLOW)  # re-read: new or vanished devices show up
        self.bridge.subscribe(self.processes, [TABLE])

    def closeEvent(self, event) -> None:
        self._close_remote()
        if self.metrics_server is not None:
            self.metrics_server.close()
            self.metrics_server = None
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/page", self.sidebar.currentRow())
        self.settings.sync()
        self._status_timer.stop()
        self.bridge.stop()
        self.gatherer_thread.stop()
        self._collector.stop()
        super().closeEvent(event)

    def _restore_window(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1200, 800)
        self.sidebar.setCurrentRow(int(self.settings.value("window/page", 0)))
        self.set_theme(str(self.settings.value("theme", "System")))

    # -- widgets from the system lists -------------------------------------------------------
    def update_lists(self, metric: str, value: list[str]) -> None:
        if self.lists.get(metric) == value:
            return
        self.lists[metric] = list(value)
        if not all(m in self.lists for m in LIST_METRICS):
            return  # build once every list is known, so no widget is built twice at start
        for name, specs_of in PAGES.items():
            page = self.pages[name]
            specs = {spec.id: spec for spec in specs_of(self.lists)}
            for spec_id, spec in specs.items():
                if spec_id not in page.widgets:
                    page.add(self._make_widget(spec))
                elif page.widgets[spec_id].spec != spec:  # its curves changed (a core came online)
                    self._forget_widget(page.widgets[spec_id])
                    page.replace(self._make_widget(spec))
            for spec_id, widget in page.widgets.items():
                widget.set_present(spec_id in specs)
            if name in NONE_FOUND:
                page.show_none_found(bool(specs))

    def _make_widget(self, spec: WidgetSpec) -> MetricWidget:
        prefix = f"widgets/{spec.id}"
        rate = int(self.settings.value(f"{prefix}/rate", spec.default_rate_ms))
        window = int(self.settings.value(f"{prefix}/window", 300))
        widget = MetricWidget(spec, self.bridge.buffers, rate, window)
        widget.refresh_requested.connect(lambda w=widget: self.refresh(w))
        widget.rate_changed.connect(lambda ms, w=widget: self._on_widget_rate_changed(w, ms))
        widget.window_changed.connect(lambda s, p=prefix: self.settings.setValue(f"{p}/window", s))
        widget.history_wanted.connect(
            lambda start, end, n, w=widget: self.bridge.load_history(w, w.spec.keys, start, end, n))
        keys = spec.keys + ([spec.info] if spec.info else [])
        self.bridge.subscribe(widget, keys)
        for key in spec.keys:
            self.widgets_by_key[key].append(widget)
            if key in self._problems:
                widget.set_problem(key, self._problems[key], _ended(key, self._problems[key]))
        self.rate_book.set(spec.id, spec.keys, rate)
        if spec.info is not None:
            queue_manager.requestData(spec.info.component, spec.info.metric, spec.info.args)
        widget.set_dark(self._dark)
        return widget

    def _forget_widget(self, widget: MetricWidget, drop_buffers: bool = False) -> None:
        self.rate_book.release(widget.spec.id)
        self.bridge.unsubscribe(widget, drop_buffers)
        for key in widget.spec.keys:
            self.widgets_by_key[key].remove(widget)
            if not self.widgets_by_key[key]:
                del self.widgets_by_key[key]

    # -- the Processes page ----------------------------------------------------------------------
    def _make_processes_page(self) -> ProcessesPage:
        prefix = f"widgets/{TABLE_ID}"
        page = ProcessesPage(PROCESSES, int(self.settings.value(f"{prefix}/rate", DEFAULT_RATE_MS)))
        page.refresh_requested.connect(lambda: queue_manager.requestData(TABLE.component, TABLE.metric))
        page.rate_changed.connect(lambda ms: self.settings.setValue(f"{prefix}/rate", ms))
        page.gathering_changed.connect(lambda ms: self.rate_book.set(TABLE_ID, [TABLE], ms))
        page.process_selected.connect(self._on_process_selected)
        page.message.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        return page

    def _on_process_selected(self, row: list) -> None:
        """Plot the chosen process; the previous one's series stop being gathered and their buffers go."""
        for old in self.processes.widgets.values():
            self._forget_widget(old, drop_buffers=True)
            for key in old.spec.keys:
                self._problems.pop(key, None)
        pid, name = str(row[PID]), row[NAME]
        specs = (WidgetSpec("processes.cpu", f"CPU · {name}", ((SeriesKey("process", pid, "cpuusage"), "CPU"),)),
                 WidgetSpec("processes.memory", f"Memory · {name}", ((SeriesKey("process", pid, "memusage"), "RSS"),)))
        self.processes.show_process(row, [self._make_widget(spec) for spec in specs])

    # -- intents from widgets ----------------------------------------------------------------
    def refresh(self, widget: MetricWidget) -> None:
        for key in widget.spec.keys + ([widget.spec.info] if widget.spec.info else []):
            queue_manager.requestData(key.component, key.metric, key.args)

    def refresh_visible(self) -> None:
        if self.stack.currentWidget() is self.processes:
            self.processes.refresh_requested.emit()
        if self.stack.currentWidget() is self.remote:
            for widget in self.remote.widgets.values():
                self.remote.poll(widget)
            return
        for widget in self.stack.currentWidget().widgets.values():
            if widget.isVisible() and widget.isEnabled():
                self.refresh(widget)

    def _on_widget_rate_changed(self, widget: MetricWidget, delay_ms: int) -> None:
        self.rate_book.set(widget.spec.id, widget.spec.keys, delay_ms)
        self.settings.setValue(f"widgets/{widget.spec.id}/rate", delay_ms)

    def set_time_window(self, seconds: int) -> None:
        for page in self.pages.values():
            for widget in page.widgets.values():
                widget.set_window(seconds)

    def all_widgets(self) -> list[MetricWidget]:
        return [w for page in self.pages.values() for w in page.widgets.values()]

    # -- gatherer feedback and status ---------------------------------------------------------
    def _on_gatherer_problem(self, key: SeriesKey, message: str) -> None:
        if message:
            self._problems[key] = message
        else:
            self._problems.pop(key, None)
        ended = _ended(key, message)
        for widget in self.widgets_by_key.get(key, []):
            widget.set_problem(key, message, ended)
            if ended and widget.ended:
                self.rate_book.release(widget.spec.id)  # the gatherer has dropped it; the status bar should too

    def _update_status(self) -> None:
        self._measured_at.append((time.monotonic(), self.gatherer_thread.gatherer.measured))
        (t0, n0), (t1, n1) = self._measured_at[0], self._measured_at[-1]
        per_second = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
        try:
            size = sum(os.stat(p).st_size for p in (self.db_path, f"{self.db_path}-wal") if os.path.exists(p))
        except OSError:
            size = 0
        text = (f"{self.rate_book.gathered()} series gathered · {per_second:.0f} measurements/s"
                f" · history {format_value(size, 'bytes')}")
        if self.history.error:  # disk full, read-only, locked: plots go on, rows wait in memory
            text = f"⚠ History not written ({self.history.error}); retrying · " + text
        style = "color: #d97706" if self.history.error else ""
        restyled = self.status.styleSheet() != style
        if restyled:  # restyling re-polishes the label: only on a change
            self.status.setStyleSheet(style)
        set_steady_text(self.status, text, refit=restyled)

    # -- theme -------------------------------------------------------------------------------
    @property
    def _dark(self) -> bool:
        choice = str(self.settings.value("theme", "System"))
        if choice == "System":
            return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark
        return choice == "Dark"

    def set_theme(self, name: str) -> None:
        self.settings.setValue("theme", name)
        scheme = {"Light": Qt.ColorScheme.Light, "Dark": Qt.ColorScheme.Dark}.get(name, Qt.ColorScheme.Unknown)
        QApplication.styleHints().setColorScheme(scheme)
        for widget in self.all_widgets():
            widget.set_dark(self._dark)
