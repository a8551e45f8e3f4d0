"""The Processes page: a sortable, filterable table of every process, and plots of the selected one.

The table is a model over the rows of system/processtable, which the gatherer reads off the GUI
thread; each new snapshot updates the model in place (dataChanged, inserted and removed rows), so
sorting, selection and scroll position survive every refresh. Ending a process is the one psutil
call made here, through the core's end_process: a single kill(2) that cannot block.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.gathering.sources.process_table import (
    COLUMNS,
    COMMAND,
    CPU,
    MEMORY,
    NAME,
    PID,
    STARTED,
    STATUS,
    USER,
    CannotSignal,
    end_process,
)
from desktop_app.measurement import Measurement, SeriesKey
from desktop_app.ui.metric_widget import MetricWidget
from desktop_app.ui.rate_slider import RateSlider
from desktop_app.units import format_value

TABLE = SeriesKey("system", None, "processtable")
TABLE_ID = "processes.table"  # owner of the table's rate, and its preference key
DEFAULT_RATE_MS = 2000
SORT_ROLE = Qt.ItemDataRole.UserRole  # raw values, as the proxy compares them
FILTER_ROLE = Qt.ItemDataRole.UserRole + 1  # "pid name user command line", what the filter box matches
HEADERS = {"pid": "PID", "name": "Name", "user": "User", "cpu": "CPU", "memory": "Memory", "status": "Status",
           "command": "Command line"}
HEADER_TIPS = {CPU: "Share of one CPU core since the last reading: a process busy on several cores passes 100 %",
               MEMORY: "Resident memory (RSS): what the process holds in RAM now",
               STATUS: "running, sleeping, disk-sleep (waiting for I/O), stopped, zombie (ended, not yet reaped)"}
_NUMERIC = (PID, CPU, MEMORY)
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_MISSING = "–"


def _filter_text(row: list[Any]) -> str:
    return f"{row[PID]} {row[NAME]} {row[USER] or ''} {row[COMMAND]}"


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Sorted indices as (first, last) runs of consecutive numbers: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


class ProcessTableModel(QAbstractTableModel):
    """The rows of the last process table, in arrival order (the proxy sorts). GUI thread only.

    `update` applies a new snapshot in place: removed rows for exits, dataChanged over the rows
    that differ, inserted rows for arrivals. Only the first snapshot resets the model.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[list[Any]] = []
        self._filters: list[str] = []
        self.updates = 0  # snapshots applied

    # -- the Qt model interface ------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return HEADERS[COLUMNS[section]]
            if role == Qt.ItemDataRole.TextAlignmentRole and section in _NUMERIC:
                return _RIGHT
            if role == Qt.ItemDataRole.ToolTipRole:
                return HEADER_TIPS.get(section)
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row, column = self._rows[index.row()], index.column()
        value = row[column]
        if role == Qt.ItemDataRole.DisplayRole:
            if value is None:
                return _MISSING
            if column == CPU:
                return format_value(value, "%")
            if column == MEMORY:
                return format_value(value, "bytes")
            if column == COMMAND and not value:
                return f"[{row[NAME]}]"  # a kernel thread has no command line: ps shows its name so
            return value if column != PID else str(value)
        if role == SORT_ROLE:
            if value is None:
                return -1 if column in _NUMERIC else ""
            return value
        if role == FILTER_ROLE:
            return self._filters[index.row()]
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC:
            return _RIGHT
        if role == Qt.ItemDataRole.ToolTipRole and column == COMMAND and value:
            return value
        if role == Qt.ItemDataRole.ForegroundRole and (value is None or (column == COMMAND and not value)):
            return QColor("gray")
        return None

    # -- snapshots -------------------------------------------------------------------------
    def row(self, source_row: int) -> list[Any]:
        return self._rows[source_row]

    def update(self, rows: list[list[Any]]) -> None:
        """Show a new snapshot: in place, so views keep their selection, sort and scroll position."""
        self.updates += 1
        if not self._rows:
            self.beginResetModel()
            self._rows = [list(r) for r in rows]
            self._filters = [_filter_text(r) for r in self._rows]
            self.endResetModel()
            return
        new = {r[PID]: r for r in rows}
        gone = [i for i, r in enumerate(self._rows) if r[PID] not in new]
        for first, last in reversed(_runs(gone)):  # from the end: earlier indices stay valid
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._rows[first:last + 1]
            del self._filters[first:last + 1]
            self.endRemoveRows()
        changed = []
        for i, old in enumerate(self._rows):
            fresh = new.pop(old[PID])
            if fresh != old:
                changed.append((i, fresh))
        # One signal per run of changed rows, not one over their whole span: the proxy re-sorts every
        # row a signal spans, and most rows (idle processes) do not change from one table to the next.
        # Each run is written just before its signal: the proxy places the rows it re-sorts by binary
        # search among the others, which must still hold the values it sorted them by.
        for first, last in _runs([i for i, _ in changed]):
            for i, fresh in changed[:last - first + 1]:
                self._rows[i] = list(fresh)
                self._filters[i] = _filter_text(fresh)
            del changed[:last - first + 1]
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))
        if new:  # what is left are arrivals, appended
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(new) - 1)
            self._rows.extend(list(r) for r in new.values())
            self._filters.extend(_filter_text(r) for r in new.values())
            self.endInsertRows()


class ProcessProxy(QSortFilterProxyModel):
    """Sorts and filters the table for the view.

    `lessThan` reads the model's rows directly: one Python call per comparison instead of two
    data() round trips through QVariant, which halves the cost of re-sorting 1 000s of rows.
    """

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:
        model = self.sourceModel()
        column = left.column()
        a, b = model.row(left.row())[column], model.row(right.row())[column]
        if a is None or b is None:  # unknown sorts below every value
            return a is None and b is not None
        if isinstance(a, str):
            return a.casefold() < b.casefold()
        return a < b


class ProcessesPage(QWidget):
    """The table, its filter, refresh and rate, and the selected process's plots. GUI thread.

    Intents out: `refresh_requested`; `rate_changed(ms)`, the slider's choice; `gathering_changed(ms)`,
    what to gather now (the slider's rate while the page is shown, 0 while hidden: the table is
    not recorded, so reading it unseen would be waste); `process_selected(row)`; `message(text)`.
    The window answers a selection with `show_process`, giving the plots it built and wired.
    """

    refresh_requested = Signal()
    rate_changed = Signal(int)
    gathering_changed = Signal(int)
    process_selected = Signal(object)
    message = Signal(str)

    def __init__(self, name: str, rate_ms: int = DEFAULT_RATE_MS, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.setObjectName(f"page:{name}")
        self.widgets: dict[str, MetricWidget] = {}  # the selected process's plots, by spec id
        self.selected_row: list[Any] | None = None  # the process the plots show
        self.context_menu: QMenu | None = None

        self.model = ProcessTableModel(self)
        # Connected before the proxy is: slots run in connection order, and the proxy removes its rows,
        # which makes the view move its selection, from this same signal.
        self.model.rowsAboutToBeRemoved.connect(self._on_model_rows_about_to_be_removed)
        self.proxy = ProcessProxy(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterRole(FILTER_ROLE)
        self.proxy.setFilterKeyColumn(0)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setDynamicSortFilter(True)

        self.filter = QLineEdit(objectName="processes.filter", clearButtonEnabled=True)
        self.filter.setPlaceholderText("Filter by name, command line, user or pid")
        self.filter.setAccessibleName("Filter processes")
        self.filter.textChanged.connect(self._on_filter_text_changed)
        self.count = QLabel(objectName="processes.count")
        self.count.setStyleSheet("color: gray")
        self.rate_slider = RateSlider(rate_ms)
        self.rate_slider.slider.setObjectName(f"rate:{TABLE_ID}")
        self.rate_slider.slider.setToolTip("How often the table is read (Off stops it); only while it is shown")
        self.rate_slider.rate_changed.connect(self._on_rate_slider_changed)
        self.refresh_button = QToolButton(text="↻", objectName=f"refresh:{TABLE_ID}")
        self.refresh_button.setToolTip("Read the process table now (F5)")
        self.refresh_button.clicked.connect(self.refresh_requested)

        self.table = QTableView(objectName="processes.table")
        self.table.setAccessibleName("Processes")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(CPU, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setShowGrid(False)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        rows = self.table.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # no per-row size hints: cheap with 1 000s of rows
        rows.setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        em = self.fontMetrics().horizontalAdvance("M")
        for column, width in ((PID, 6), (NAME, 13), (USER, 7), (CPU, 5), (MEMORY, 6), (STATUS, 6)):
            self.table.setColumnWidth(column, width * em)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._on_table_context_menu_requested)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.proxy.rowsInserted.connect(self._update_count)
        self.proxy.rowsRemoved.connect(self._update_count)
        self.proxy.modelReset.connect(self._update_count)
        self.proxy.layoutChanged.connect(self._update_count)

        self.detail_title = QLabel("Select a process to plot its CPU and memory use.", objectName="processes.detail")
        self.detail_title.setTextFormat(Qt.TextFormat.RichText)
        self.detail_title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail_title.setStyleSheet("padding: 2px")
        self._plots = QHBoxLayout()
        self._plots.setSpacing(8)

        toolbar = QHBoxLayout()
        toolbar.addWidget(self.filter, 3)
        toolbar.addWidget(self.count)
        toolbar.addSpacing(12)
        toolbar.addWidget(self.rate_slider, 2)
        toolbar.addWidget(self.refresh_button)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addLayout(toolbar)
        top_layout.addWidget(self.table, 1)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.detail_title)
        bottom_layout.addLayout(self._plots, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(bottom)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self._update_count()

    # -- the table's data, from the bridge ---------------------------------------------------
    def on_measurements(self, key: SeriesKey, items: list[Measurement]) -> None:
        self.model.update(items[-1]["value"])  # only the newest snapshot matters

    def redraw(self) -> None:
        pass

    def _update_count(self, *_args) -> None:
        total, shown = self.model.rowCount(), self.proxy.rowCount()
        if not total:
            self.count.setText("reading…")
        else:
            self.count.setText(f"{total:,} processes" if shown == total else f"{shown:,} of {total:,} processes")

    def _on_filter_text_changed(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())
        self._update_count()

    # -- gathering only while shown ------------------------------------------------------------
    @property
    def gathering_ms(self) -> int:
        return self.rate_slider.delay_ms if self.isVisible() else 0

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.gathering_changed.emit(self.gathering_ms)
        self.refresh_requested.emit()  # what was read while hidden is stale: a fresh table at once

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self.gathering_changed.emit(0)

    def _on_rate_slider_changed(self, delay_ms: int) -> None:
        self.rate_changed.emit(delay_ms)
        self.gathering_changed.emit(self.gathering_ms)

    # -- selection and the selected process's plots ----------------------------------------------
    def row_at(self, proxy_row: int) -> list[Any]:
        return self.model.row(self.proxy.mapToSource(self.proxy.index(proxy_row, 0)).row())

    def proxy_row_of(self, pid: int) -> int | None:
        for i in range(self.proxy.rowCount()):
            if self.proxy.index(i, PID).data(SORT_ROLE) == pid:
                return i
        return None

    @property
    def selected_pid(self) -> int | None:
        """The pid of the selected row, None when no row is selected (the process ended, or a filter hides it)."""
        rows = self.table.selectionModel().selectedRows()
        return self.row_at(rows[0].row())[PID] if rows else None

    def select_pid(self, pid: int) -> bool:
        row = self.proxy_row_of(pid)
        if row is None:
            return False
        self.table.selectRow(row)
        self.table.scrollTo(self.proxy.index(row, 0))
        return True

    def _on_selection_changed(self, *_args) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return  # an ended or filtered-out process keeps its plots until another is chosen
        row = self.row_at(rows[0].row())
        shown = self.selected_row
        if shown is None or (row[PID], row[STARTED]) != (shown[PID], shown[STARTED]):
            self.selected_row = list(row)
            self.process_selected.emit(list(row))

    def _on_model_rows_about_to_be_removed(self, _parent: QModelIndex, first: int, last: int) -> None:
        # In single selection a view moves the selection to the next row when the current one goes:
        # an exiting process would silently hand its plots to a neighbour. Nothing selected instead.
        current = self.proxy.mapToSource(self.table.currentIndex())
        if current.isValid() and first <= current.row() <= last:
            self.table.selectionModel().clear()

    def show_process(self, row: list[Any], widgets: list[MetricWidget]) -> None:
        """Show `widgets`, the plots of process `row`, in place of the previous process's (deleted)."""
        for old in self.widgets.values():
            self._plots.removeWidget(old)
            old.deleteLater()
        self.widgets = {w.spec.id: w for w in widgets}
        for widget in widgets:
            self._plots.addWidget(widget, 1)
        command = row[COMMAND] or f"[{row[NAME]}]"
        user = f" · {row[USER]}" if row[USER] else ""
        self.detail_title.setText(f"<b>{_html(row[NAME])}</b> · pid {row[PID]}{_html(user)}"
                                  f"<br><span style='color: gray'>{_html(_elide(command, 160))}</span>")
        self.detail_title.setToolTip(command)

    # -- ending a process ---------------------------------------------------------------------
    def _on_table_context_menu_requested(self, pos) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        row = list(self.row_at(index.row()))
        menu = QMenu(self, objectName="processes.menu")
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.addAction("End process", lambda: self.end_process(row, force=False)).setObjectName("end")
        menu.addAction("Kill process", lambda: self.end_process(row, force=True)).setObjectName("kill")
        self.context_menu = menu
        menu.popup(self.table.viewport().mapToGlobal(pos))

    def end_process(self, row: list[Any], force: bool) -> bool:
        """Confirm, then send SIGTERM (or SIGKILL with `force`) to the row's process; True if sent."""
        pid, name = row[PID], row[NAME]
        verb = "Kill" if force else "End"
        how = ("It is stopped at once (SIGKILL) and cannot save its work." if force
               else "It is asked to exit (SIGTERM), so it can save its work first.")
        answer = QMessageBox.question(
            self, f"{verb} process", f"{verb} {name} (pid {pid})?\n\n{how}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        try:
            end_process(pid, row[STARTED], force=force)
        except CannotSignal as exc:
            box = QMessageBox(QMessageBox.Icon.Warning, f"{verb} process", str(exc), QMessageBox.StandardButton.Ok,
                              self, objectName="processes.error")
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()  # window-modal, not a nested event loop: the table goes on updating behind it
            return False
        self.message.emit(f"{'Killed' if force else 'Asked to end'} {name} (pid {pid})")
        self.refresh_requested.emit()
        return True


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _elide(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
