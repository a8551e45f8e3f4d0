"""The GUI entry point: the QApplication, the main window, the event loop."""
from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QSocketNotifier
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop_app import __version__
from desktop_app.resources_path import icon_path
from desktop_app.storage.history import HistoryInUse, default_path
from desktop_app.ui.main_window import MainWindow


def make_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("OpServ Desktop")
    app.setOrganizationName("OpServ")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("opserv-desktop")
    app.setWindowIcon(QIcon(str(icon_path())))
    app.setStyle("Fusion")  # follows the system light/dark scheme on every platform
    pg.setConfigOptions(antialias=False)  # antialiased painting dominates a live plot's cost
    return app


def run_gui(db_path: Path | None = None) -> int:
    app = make_app()
    try:
        window = MainWindow(db_path or default_path())
    except HistoryInUse as exc:  # a second instance on the same history: say so, touch nothing
        QMessageBox.critical(None, "OpServ Desktop is already running", str(exc).capitalize() + ".")
        return 1
    window.show()
    closer = _CloseOnSignals(window)
    try:
        return app.exec()
    finally:
        closer.restore()


class _CloseOnSignals(QSocketNotifier):
    """SIGTERM (a logout, `kill`) or Ctrl+C in the terminal closes the window as Ctrl+Q does: the
    history is flushed and the window's place saved. Python runs signal handlers only when it runs
    again, which Qt's event loop may not do for a long time, so the signal writes to a socket whose
    notifier wakes the loop (no polling timer)."""

    def __init__(self, window: MainWindow) -> None:
        wake, written = socket.socketpair()
        for end in (wake, written):
            end.setblocking(False)
        super().__init__(wake.fileno(), QSocketNotifier.Type.Read, window)
        self._wake, self._written, self._window = wake, written, window
        self._old_fd = signal.set_wakeup_fd(written.fileno())
        self._old_handlers = {sig: signal.signal(sig, self._second_one_kills)
                              for sig in (signal.SIGINT, signal.SIGTERM)}
        self.activated.connect(self._on_signal)

    @staticmethod
    def _second_one_kills(sig: int, _frame) -> None:
        signal.signal(sig, signal.SIG_DFL)  # the notifier closes the window; if that hangs, a second signal ends it

    def _on_signal(self) -> None:
        try:
            self._wake.recv(64)
        except OSError:  # woken with nothing to read
            pass
        self._window.close()

    def restore(self) -> None:
        """Give the signals back as they were, once the event loop has ended."""
        signal.set_wakeup_fd(self._old_fd)
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        self._wake.close()
        self._written.close()
