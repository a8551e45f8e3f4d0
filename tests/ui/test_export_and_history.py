"""File > Export CSV, history past the live buffer, PNG export and retention preferences."""
from __future__ import annotations

import csv

import pytest
from PySide6.QtCore import QDateTime, Qt
from PySide6.QtGui import QImage

from desktop_app.measurement import SeriesKey, now_ms
from desktop_app.storage.export import ExportRequest, export_csv
from desktop_app.storage.history import write_rows
from desktop_app.ui.export_dialog import ExportDialog
from tests.ui.conftest import widget_of

MEMORY = SeriesKey("memory", None, "usage")
HOUR_MS = 3_600_000


@pytest.fixture
def seeded(db_path):
    """A history with a minute-by-minute memory usage curve from 24 h ago to 2 h ago."""
    end = now_ms() - 2 * HOUR_MS
    rows = [(MEMORY, t, 20.0 + (t // 60_000) % 30) for t in range(end - 22 * HOUR_MS, end, 60_000)]
    write_rows(db_path, rows)
    return rows


def open_export(qtbot, window):
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=1000)
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.findChild(ExportDialog, "export-dialog") is not None, timeout=1000)
    return window.findChild(ExportDialog, "export-dialog")


def test_export_dialog_writes_what_the_history_holds(qtbot, open_window, seeded, db_path, tmp_path):
    window = open_window()
    dialog = open_export(qtbot, window)
    assert dialog.items[MEMORY].checkState(0) == Qt.CheckState.Checked  # on screen: preselected
    for key, item in dialog.items.items():
        item.setCheckState(0, Qt.CheckState.Checked if key == MEMORY else Qt.CheckState.Unchecked)
    dialog.range_box.setCurrentText("Custom")
    start, end = seeded[0][1], seeded[-1][1] + 1
    dialog.from_edit.setDateTime(QDateTime.fromMSecsSinceEpoch(start))
    dialog.to_edit.setDateTime(QDateTime.fromMSecsSinceEpoch(end + 1000))
    out = tmp_path / "export.csv"
    dialog.path_edit.setText(str(out))
    chosen = (dialog.from_edit.dateTime().toMSecsSinceEpoch(), dialog.to_edit.dateTime().toMSecsSinceEpoch())
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: out.exists(), timeout=5000)

    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["timestamp", "timestamp_ms", "component", "args", "metric", "value", "unit"]
    assert [(int(r[1]), float(r[5])) for r in rows[1:]] == [(t, v) for _, t, v in seeded]
    qtbot.waitUntil(lambda: "Exported 1,320 rows" in window.statusBar().currentMessage(), timeout=1000)

    same = tmp_path / "same.csv"  # the CLI's export_csv with the same request writes the same bytes
    export_csv(ExportRequest(db_path, same, (MEMORY,), *chosen))
    assert same.read_bytes() == out.read_bytes()


def test_unwritable_path_keeps_the_dialog_open_with_a_clear_error(qtbot, open_window, seeded, tmp_path):
    window = open_window()
    dialog = open_export(qtbot, window)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    dialog.path_edit.setText(str(blocker / "export.csv"))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.error.isVisible, timeout=5000)
    assert str(blocker / "export.csv") in dialog.error.text()
    assert dialog.isVisible() and dialog.export_button.isEnabled()
    assert not list(tmp_path.glob("**/*.part"))


def test_cancelled_export_leaves_no_file(qtbot, open_window, db_path, tmp_path):
    t0 = now_ms() - HOUR_MS
    write_rows(db_path, [(MEMORY, t0 + i, float(i % 100)) for i in range(300_000)])
    window = open_window()
    dialog = open_export(qtbot, window)
    out = tmp_path / "big.csv"
    dialog.path_edit.setText(str(out))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.error.isVisible, timeout=10_000)
    assert "cancelled" in dialog.error.text()
    assert dialog.isVisible()
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".part"] == []


def test_zooming_out_to_24_hours_draws_the_history_band_and_back_in_hides_it(qtbot, open_window, seeded):
    window = open_window()
    window.sidebar.setCurrentRow(2)  # Memory page
    widget = widget_of(window, "memory.usage")
    band = widget.bands[MEMORY]
    widget.window_box.setCurrentText("24 h")
    qtbot.waitUntil(lambda: band.visible, timeout=5000)
    t, avg = band.avg.getData()
    _, low = band.low.getData()
    _, high = band.high.getData()
    assert len(t) > 100  # a bucket per pixel or per minute, whichever is coarser
    assert (low <= avg).all() and (avg <= high).all()
    assert 20 <= low.min() and high.max() <= 49  # the seeded values span 20..49
    assert band.fill.path().boundingRect().height() > 0  # the min-max band is really filled
    widget.window_box.setCurrentText("1 h")
    qtbot.waitUntil(lambda: not band.fill.isVisible(), timeout=5000)


def test_window_all_starts_at_the_first_measurement(qtbot, open_window, seeded):
    window = open_window()
    window.sidebar.setCurrentRow(2)
    widget = widget_of(window, "memory.usage")
    widget.window_box.setCurrentText("All")
    qtbot.waitUntil(lambda: widget.bands[MEMORY].visible, timeout=5000)
    first = seeded[0][1] / 1000
    qtbot.waitUntil(lambda: abs(widget.plot.getPlotItem().getViewBox().viewRange()[0][0] - first) < 120,
                    timeout=5000)


def test_plot_exports_as_png(qtbot, open_window, tmp_path):
    window = open_window()
    widget = widget_of(window, "overview.memory")
    out = tmp_path / "memory.png"
    widget.export_png(out)
    image = QImage(str(out))
    assert not image.isNull() and image.width() > 100


def test_retention_preferences_apply_and_persist(qtbot, open_window):
    window = open_window()
    dialog = window.open_preferences()
    assert dialog.raw_days.value() == 7 and dialog.rollup_days.value() == 365
    dialog.raw_days.setValue(3)
    dialog.rollup_days.setValue(90)
    dialog.accept()
    assert (window.history.raw_days, window.history.rollup_days) == (3, 90)
    window.close()
    again = open_window()
    assert (again.history.raw_days, again.history.rollup_days) == (3, 90)
