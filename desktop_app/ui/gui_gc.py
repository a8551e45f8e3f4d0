"""Python's cycle collector, run on the GUI thread only, while the window's threads are running.

The collector runs on whichever thread happens to allocate past its threshold, and the source
threads allocate a lot (a process table is thousands of lists). A garbage cycle that holds a Qt
wrapper (a widget whose signal feeds a lambda that names it) collected there destroys its QObject
off the GUI thread: the destructor takes Qt's locks and then waits for the GIL, which the GUI
thread holds while it waits for those locks, and the app freezes. pyqtgraph's GarbageCollector
does the same for the same reason; this one also gives the collector back when the window closes.
"""
from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 1000
_holders = 0  # windows running at once (tests open several): the last to stop re-enables the collector


class GuiThreadCollector(QObject):
    """Owns a GUI-thread timer that collects each generation once its threshold is passed."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.collect)
        self._threshold = gc.get_threshold()
        self._running = False

    def start(self) -> None:
        global _holders
        if not self._running:
            self._running = True
            _holders += 1
            gc.disable()
            self._timer.start()

    def stop(self) -> None:
        """Collect once more here, then let Python collect by itself again (if no other window runs)."""
        global _holders
        if self._running:
            self._running = False
            self._timer.stop()
            gc.collect()
            _holders -= 1
            if _holders == 0:
                gc.enable()

    def collect(self) -> None:
        # What gc would do on its own, generation by generation, just on this thread.
        counts = gc.get_count()
        for generation in range(3):
            if counts[generation] <= self._threshold[generation]:
                break
            gc.collect(generation)
