"""The Processes page as a user drives it: sort, filter, select, end or kill, on real processes.

The table comes from the real gatherer thread reading real psutil; the children are real processes
this test starts (and always reaps). Only the confirmation dialog is answered by a stub, and a
refused signal is injected, since the tests run as root.
"""
from __future__ import annotations

import functools
import gc
import getpass
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest
import shiboken6
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop_app import queue_manager
from desktop_app.gathering.sources.process_table import COLUMNS, CPU, NAME, PID, end_process
from desktop_app.measurement import SeriesKey
from desktop_app.ui import processes_page
from desktop_app.ui.pages import SIDEBAR
from desktop_app.ui.processes_page import FILTER_ROLE, SORT_ROLE, TABLE
from tests.ui.conftest import points
from tests.ui.test_main_window import set_rate

YES, CANCEL = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.Cancel


@pytest.fixture
def children():
    """Start sleeping child processes on demand; every one is killed and reaped at the end."""
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def open_processes(qtbot, open_window):
    """The main window on its Processes page, once the first table has arrived."""
    window = open_window()
    window.sidebar.setCurrentRow(SIDEBAR.index("Processes"))
    page = window.processes
    qtbot.waitUntil(lambda: page.model.rowCount() > 0, timeout=5000)
    return window, page


def wait_for_row(qtbot, page, pid: int) -> None:
    qtbot.waitUntil(lambda: page.proxy_row_of(pid) is not None, timeout=5000)


def click_row(qtbot, page, pid: int, button=Qt.MouseButton.LeftButton) -> None:
    """Click the process's row as a user does (scrolled into view first)."""
    index = page.proxy.index(page.proxy_row_of(pid), NAME)
    page.table.scrollTo(index)
    qtbot.mouseClick(page.table.viewport(), button, pos=page.table.visualRect(index).center())


def choose_from_menu(qtbot, page, pid: int, text: str) -> None:
    """Right-click the process's row and click `text` in the context menu that opens."""
    index = page.proxy.index(page.proxy_row_of(pid), NAME)
    page.table.scrollTo(index)
    viewport = page.table.viewport()
    pos = page.table.visualRect(index).center()
    QApplication.sendEvent(viewport, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, viewport.mapToGlobal(pos)))
    menu = page.context_menu
    qtbot.waitUntil(lambda: menu.isVisible(), timeout=1000)
    action = next(a for a in menu.actions() if a.text() == text)
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())


def shown(page, column: int, role=SORT_ROLE) -> list:
    return [page.proxy.index(r, column).data(role) for r in range(page.proxy.rowCount())]


def sorted_as_the_proxy_sorts(values: list, descending: bool) -> bool:
    key = [v.casefold() if isinstance(v, str) else v for v in values]
    pairs = list(zip(key, key[1:]))
    return all(b <= a for a, b in pairs) if descending else all(a <= b for a, b in pairs)


def test_the_table_lists_real_processes_with_their_fields(qtbot, open_window, children):
    child = children()
    window, page = open_processes(qtbot, open_window)
    assert [page.proxy.headerData(c, Qt.Orientation.Horizontal) for c in range(len(COLUMNS))] == [
        "PID", "Name", "User", "CPU", "Memory", "Status", "Command line"]
    wait_for_row(qtbot, page, child.pid)
    row = page.proxy_row_of(child.pid)
    text = [page.proxy.index(row, c).data() for c in range(len(COLUMNS))]
    assert text[0] == str(child.pid)
    assert text[1] == psutil.Process(child.pid).name()
    assert text[2] == getpass.getuser()
    assert text[4].endswith("MiB")
    assert text[5] == "sleeping"
    assert text[6].endswith("-c import time; time.sleep(60)")
    assert page.count.text() == f"{page.model.rowCount():,} processes"
    assert window.rate_book.effective(TABLE) == 2000  # the default while the page is shown
    window.sidebar.setCurrentRow(0)  # hidden, the table is not read: it is not recorded either
    qtbot.waitUntil(lambda: window.rate_book.effective(TABLE) == 0, timeout=1000)


def test_sorting_by_any_column_both_ways(qtbot, open_window, children):
    for _ in range(3):
        children()
    window, page = open_processes(qtbot, open_window)
    assert (page.proxy.sortColumn(), page.proxy.sortOrder()) == (CPU, Qt.SortOrder.DescendingOrder)
    header = page.table.horizontalHeader()
    for column in range(len(COLUMNS)):
        for _ in range(2):  # the first click sorts by the column, the second reverses it
            before = (page.proxy.sortColumn(), page.proxy.sortOrder())
            x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
            qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))
            assert (page.proxy.sortColumn(), page.proxy.sortOrder()) != before
            assert page.proxy.sortColumn() == column
            descending = page.proxy.sortOrder() == Qt.SortOrder.DescendingOrder
            assert sorted_as_the_proxy_sorts(shown(page, column), descending), COLUMNS[column]


def test_filter_box_matches_pid_name_command_line_and_user(qtbot, open_window, children):
    child = children()
    window, page = open_processes(qtbot, open_window)
    wait_for_row(qtbot, page, child.pid)
    page.filter.setFocus()

    def filter_by(text: str) -> list[int]:
        page.filter.clear()
        qtbot.keyClicks(page.filter, text)
        return shown(page, PID)

    assert child.pid in filter_by(str(child.pid))
    assert all(str(child.pid) in text for text in shown(page, PID, FILTER_ROLE))
    assert child.pid in filter_by("TIME.SLEEP(60)")  # the command line, any case
    assert psutil.Process().pid not in shown(page, PID)
    assert child.pid in filter_by(psutil.Process(child.pid).name())
    assert child.pid in filter_by(getpass.getuser())
    assert filter_by("no-such-process-anywhere") == []
    assert page.count.text() == f"0 of {page.model.rowCount():,} processes"
    page.filter.clear()
    assert page.proxy.rowCount() == page.model.rowCount()


def test_selecting_a_process_plots_it_and_releases_the_one_before(qtbot, open_window, children):
    first, second = children(), children()
    window, page = open_processes(qtbot, open_window)
    wait_for_row(qtbot, page, first.pid)
    wait_for_row(qtbot, page, second.pid)
    assert page.widgets == {} and "Select a process" in page.detail_title.text()

    click_row(qtbot, page, first.pid)
    qtbot.waitUntil(lambda: set(page.widgets) == {"processes.cpu", "processes.memory"}, timeout=1000)
    cpu, memory = page.widgets["processes.cpu"], page.widgets["processes.memory"]
    old_keys = [SeriesKey("process", str(first.pid), "cpuusage"), SeriesKey("process", str(first.pid), "memusage")]
    assert cpu.spec.keys + memory.spec.keys == old_keys
    assert f"pid {first.pid}" in page.detail_title.text()
    qtbot.waitUntil(lambda: points(cpu) >= 2 and points(memory) >= 2, timeout=5000)  # cpu primes first
    assert memory.value.text().endswith("MiB") and cpu.value.text().endswith("%")
    assert cpu.rate_slider.slider.objectName() == "rate:processes.cpu"
    assert memory.refresh_button.objectName() == "refresh:processes.memory"

    click_row(qtbot, page, second.pid)
    qtbot.waitUntil(lambda: page.widgets["processes.cpu"].spec.keys[0].args == str(second.pid), timeout=1000)
    for key in old_keys:
        assert window.rate_book.effective(key) == 0
        assert key not in window.bridge.buffers and key not in window.widgets_by_key
    gatherer = window.gatherer_thread.gatherer
    qtbot.waitUntil(lambda: not set(old_keys) & set(gatherer.rates), timeout=2000)  # no longer gathered
    qtbot.waitUntil(lambda: not shiboken6.isValid(cpu), timeout=1000)  # the old plots are deleted
    new_memory = page.widgets["processes.memory"]
    qtbot.waitUntil(lambda: points(new_memory) >= 2, timeout=5000)
    assert page.selected_pid == second.pid


@pytest.mark.parametrize("action,code", [("End process", -signal.SIGTERM), ("Kill process", -signal.SIGKILL)])
def test_ending_a_child_from_the_context_menu_turns_its_plots_to_ended(qtbot, open_window, children, monkeypatch,
                                                                       action, code):
    asked = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *args, **kw: asked.append(args[2]) or YES))
    child = children()
    window, page = open_processes(qtbot, open_window)
    wait_for_row(qtbot, page, child.pid)
    click_row(qtbot, page, child.pid)
    qtbot.waitUntil(lambda: len(page.widgets) == 2 and all(points(w) >= 1 for w in page.widgets.values()),
                    timeout=5000)

    choose_from_menu(qtbot, page, child.pid, action)
    assert len(asked) == 1 and f"(pid {child.pid})" in asked[0]
    qtbot.waitUntil(lambda: child.poll() is not None, timeout=5000)  # poll() also reaps it: no zombie left
    assert child.returncode == code
    assert f"(pid {child.pid})" in window.statusBar().currentMessage()

    widgets = list(page.widgets.values())
    qtbot.waitUntil(lambda: all(w.ended for w in widgets), timeout=5000)
    for widget in widgets:
        assert widget.status.isVisible() and widget.status.text() == "Process ended"
        assert "(ended)" in widget.title.text()
        assert not widget.refresh_button.isEnabled() and not widget.rate_slider.isEnabled()
        assert window.rate_book.effective(widget.spec.keys[0]) == 0
    qtbot.waitUntil(lambda: page.proxy_row_of(child.pid) is None, timeout=5000)  # gone from the table ...
    assert page.widgets["processes.cpu"] is widgets[0]  # ... while its plots stay, saying it ended
    assert page.selected_pid is None  # the selection did not jump to a neighbour


class RefusingProcess(psutil.Process):
    """kill(2) answers EPERM, as for another user's process (these tests run as root)."""

    def _refuse(self):
        raise psutil.AccessDenied(self.pid)

    terminate = kill = _refuse


class RefusingPsutil:
    Process = RefusingProcess

    def __getattr__(self, name):
        return getattr(psutil, name)


def test_cancel_does_nothing_and_a_denial_is_shown_plainly(qtbot, open_window, children, monkeypatch):
    answers = [CANCEL, YES]
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *args, **kw: answers.pop(0)))
    monkeypatch.setattr(processes_page, "end_process", functools.partial(end_process, ps=RefusingPsutil()))
    child = children()
    window, page = open_processes(qtbot, open_window)
    wait_for_row(qtbot, page, child.pid)

    choose_from_menu(qtbot, page, child.pid, "End process")  # cancelled
    assert answers == [YES] and page.findChild(QMessageBox, "processes.error") is None
    choose_from_menu(qtbot, page, child.pid, "Kill process")  # confirmed, refused by the OS
    qtbot.waitUntil(lambda: page.findChild(QMessageBox, "processes.error") is not None, timeout=1000)
    box = page.findChild(QMessageBox, "processes.error")
    qtbot.waitUntil(box.isVisible, timeout=1000)
    assert box.windowTitle() == "Kill process"
    assert box.text().startswith(f"Permission denied: you may not kill process {child.pid}.")
    assert box.icon() == QMessageBox.Icon.Warning
    box.accept()
    assert child.poll() is None  # still running


def test_refreshes_update_in_place_keeping_selection_and_scroll(qtbot, open_window, children):
    child = children()
    window, page = open_processes(qtbot, open_window)
    wait_for_row(qtbot, page, child.pid)
    model = page.model
    counts = {"reset": 0, "inserted": 0}
    model.modelReset.connect(lambda: counts.__setitem__("reset", counts["reset"] + 1))
    model.rowsInserted.connect(lambda _p, first, last: counts.__setitem__("inserted",
                                                                         counts["inserted"] + last - first + 1))
    set_rate(qtbot, page, 250)
    click_row(qtbot, page, child.pid)
    bar = page.table.verticalScrollBar()
    assert bar.maximum() > 0  # more processes than the view shows: every system has some dozens
    bar.setValue(bar.maximum() // 2)  # not at the bottom, where a view follows new rows down
    scrolled = bar.value()

    newcomer = children()
    start = model.updates
    qtbot.waitUntil(lambda: model.updates >= start + 4 and page.proxy_row_of(newcomer.pid) is not None, timeout=5000)
    assert counts["reset"] == 0 and counts["inserted"] >= 1  # the newcomer arrived as an inserted row
    assert page.selected_pid == child.pid
    assert bar.value() == scrolled
    assert page.widgets["processes.cpu"].spec.keys[0].args == str(child.pid)


def synthetic_table(pids, cpu=lambda pid: float(pid % 97)) -> list[list]:
    """Rows for pids no real process can have (above Linux's 4 194 304 maximum)."""
    return [[pid, f"worker-{pid}", "nobody", cpu(pid), pid * 4096, "sleeping", f"/opt/worker --id {pid}", 1.7e9 + pid]
            for pid in pids]


def put_table(rows) -> None:
    queue_manager.putMeasurementIntoQueue("system", "processtable", {"timestamp": int(time.time() * 1000),
                                                                    "value": rows})


def test_fifteen_hundred_processes_update_in_place(qtbot, open_window, settings_path):
    QSettings(str(settings_path), QSettings.Format.IniFormat).setValue("widgets/processes.table/rate", 0)
    window, page = open_processes(qtbot, open_window)  # rate Off: only the table read when the page showed
    assert page.rate_slider.delay_ms == 0 and window.rate_book.effective(TABLE) == 0
    model = page.model
    before = model.updates
    qtbot.mouseClick(page.refresh_button, Qt.MouseButton.LeftButton)  # refresh works with the rate off
    qtbot.waitUntil(lambda: model.updates == before + 1, timeout=5000)

    base = 5_000_000
    pids = list(range(base, base + 1500))
    put_table(synthetic_table(pids))
    qtbot.waitUntil(lambda: model.rowCount() == 1500, timeout=5000)
    chosen = base + 700
    assert page.select_pid(chosen)
    bar = page.table.verticalScrollBar()
    bar.setValue(bar.maximum() // 3)
    scrolled = bar.value()

    signals = {"reset": 0, "inserted": 0, "removed": 0, "changed": 0}

    def count(name, n=1):
        signals[name] += n

    model.modelReset.connect(lambda: count("reset"))
    model.rowsInserted.connect(lambda _p, first, last: count("inserted", last - first + 1))
    model.rowsRemoved.connect(lambda _p, first, last: count("removed", last - first + 1))
    model.dataChanged.connect(lambda first, last, *_: count("changed", last.row() - first.row() + 1))

    exits = set(pids[10:30]) | {pids[1200]}
    arrivals = list(range(base + 2000, base + 2030))
    busy = set(pids[::7]) - exits  # these changed their CPU %
    put_table(synthetic_table([p for p in pids if p not in exits] + arrivals,
                              cpu=lambda pid: 150.0 if pid in busy else float(pid % 97)))
    qtbot.waitUntil(lambda: model.rowCount() == 1500 - len(exits) + len(arrivals), timeout=5000)
    assert signals == {"reset": 0, "inserted": len(arrivals), "removed": len(exits), "changed": len(busy)}
    assert page.proxy.rowCount() == model.rowCount()
    assert page.selected_pid == chosen
    assert bar.value() == scrolled
    assert set(shown(page, PID)[:len(busy)]) == busy  # re-sorted: the busiest first
    assert sorted_as_the_proxy_sorts(shown(page, CPU), descending=True)


def test_garbage_cycles_are_collected_on_the_gui_thread_only(qtbot, open_window):
    """A cycle holding a Qt wrapper collected on a source thread deletes its QObject there and can
    deadlock the app (Qt's locks against the GIL): while the window runs, only its thread collects."""
    collected_on = []

    def record(phase, info):
        if phase == "start":
            collected_on.append(threading.current_thread().name)

    gc.callbacks.append(record)
    try:
        window, page = open_processes(qtbot, open_window)
        assert not gc.isenabled()
        set_rate(qtbot, page, 100)  # a table every 100 ms: its source thread allocates thousands of lists
        start = page.model.updates

        def make_cycles():  # garbage cycles made off the GUI thread, as any thread may make them
            for _ in range(5000):
                cycle: list = []
                cycle.append(cycle)

        maker = threading.Thread(target=make_cycles, name="opserv-test-cycles")
        maker.start()
        maker.join()
        qtbot.waitUntil(lambda: page.model.updates >= start + 10 and bool(collected_on), timeout=10_000)
        window.close()
    finally:
        gc.callbacks.remove(record)
    assert set(collected_on) == {threading.main_thread().name}
    assert gc.isenabled()
