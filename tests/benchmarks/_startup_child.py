"""Start-up to the first painted window, timed inside a fresh process.

Run by rendering.py as `python -m tests.benchmarks._startup_child T0 TMPDIR`, where T0 is the
parent's time.time() just before it started this process. Prints one JSON line of seconds since
T0: interpreter up, imports done, window built, first frame painted, first plot painted.
"""
from __future__ import annotations

import json
import sys
import time

T0 = float(sys.argv[1])
marks = {"interpreter": time.time() - T0}

from pathlib import Path  # noqa: E402

from PySide6.QtCore import QEvent, QObject, QSettings, QTimer  # noqa: E402

from desktop_app.ui.app import make_app  # noqa: E402
from desktop_app.ui.main_window import MainWindow  # noqa: E402

marks["imports"] = time.time() - T0


class FirstPaint(QObject):
    """Marks the end of the first frame (the event loop turn after the first Paint) and the first
    paint of a plot."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = False

    def eventFilter(self, obj, event):  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Paint:
            if not self.seen:
                self.seen = True
                marks["first_paint_started"] = time.time() - T0
                QTimer.singleShot(0, lambda: marks.setdefault("first_frame", time.time() - T0))
            parent = obj.parent()
            if "first_plot" not in marks and parent is not None and parent.objectName().startswith("plot:"):
                QTimer.singleShot(0, lambda: marks.setdefault("first_plot", time.time() - T0))
        return False


def main() -> None:
    tmp = Path(sys.argv[2])
    app = make_app([sys.argv[0]])
    probe = FirstPaint()
    app.installEventFilter(probe)
    window = MainWindow(tmp / "h.sqlite3", QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    marks["window_built"] = time.time() - T0
    window.show()

    def check() -> None:
        if "first_plot" in marks or time.time() - T0 > 20:
            app.quit()

    timer = QTimer(interval=10)
    timer.timeout.connect(check)
    timer.start()
    app.exec()
    app.removeEventFilter(probe)
    window.close()
    print(json.dumps(marks))


if __name__ == "__main__":
    main()
