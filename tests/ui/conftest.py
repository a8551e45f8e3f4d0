"""GUI fixtures: a real main window (offscreen), real gatherer thread, temporary history and settings."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from desktop_app.ui.app import make_app
from desktop_app.ui.main_window import MainWindow


@pytest.fixture(scope="session")
def qapp_cls():
    return type(make_app())


@pytest.fixture
def settings_path(tmp_path):
    return tmp_path / "settings.ini"


@pytest.fixture
def open_window(qtbot, db_path, settings_path):
    """Open main windows on the test's history and settings; close them all at the end."""
    windows = []

    def open_(wait_for: str = "overview.memory") -> MainWindow:
        window = MainWindow(db_path, QSettings(str(settings_path), QSettings.Format.IniFormat))
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        qtbot.waitUntil(lambda: widget_of(window, wait_for) is not None, timeout=5000)
        return window

    yield open_
    for window in windows:
        window.close()
        assert not window.gatherer_thread.isRunning()


def widget_of(window: MainWindow, spec_id: str):
    for page in window.pages.values():
        if spec_id in page.widgets:
            return page.widgets[spec_id]
    return None


def points(widget, index: int = 0) -> int:
    """How many points the widget's curve number `index` draws now."""
    x, _ = list(widget.curves.values())[index].getData()
    return 0 if x is None else len(x)
