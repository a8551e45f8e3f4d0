"""What the window shows when the history misbehaves: damaged at start, or not writable for a while."""
from __future__ import annotations

import sqlite3

from PySide6.QtWidgets import QMessageBox

from tests.ui.conftest import points, widget_of


def test_a_damaged_history_is_replaced_and_the_user_told(qtbot, open_window, db_path):
    db_path.write_bytes(b"\x00garbage, not an SQLite file" * 1000)
    window = open_window()
    notice = window.findChild(QMessageBox, "history-damaged")
    assert notice is not None and notice.isVisible()
    assert str(window.history.moved_aside) in notice.text()
    assert window.history.moved_aside.read_bytes().startswith(b"\x00garbage")
    widget = widget_of(window, "overview.memory")
    qtbot.waitUntil(lambda: points(widget) > 0, timeout=5000)  # and gathering goes on
    notice.close()


def test_an_unwritable_history_warns_in_the_status_bar_while_plots_go_on(qtbot, open_window, db_path):
    window = open_window()
    qtbot.waitUntil(lambda: db_path.exists(), timeout=5000)
    blocker = sqlite3.connect(db_path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")  # another program holds the file: commits fail
    try:
        qtbot.waitUntil(lambda: "History not written" in window.status.text(), timeout=20_000)
        widget = widget_of(window, "overview.memory")
        before = points(widget)
        qtbot.waitUntil(lambda: points(widget) > before, timeout=5000)  # live plots go on
    finally:
        blocker.rollback()
        blocker.close()
    qtbot.waitUntil(lambda: "History not written" not in window.status.text(), timeout=20_000)
