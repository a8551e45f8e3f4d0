"""The QThread shell around the gatherer loop: start, stop cooperatively, report problems."""
from __future__ import annotations

from PySide6.QtCore import QThread, Signal

from desktop_app import queue_manager
from desktop_app.gathering.loop import Gatherer, Stop
from desktop_app.gathering.sources import default_sources
from desktop_app.storage.history import HistoryWriter


class GathererThread(QThread):
    """Runs `Gatherer.run` off the GUI thread. `problem` arrives in the GUI thread (queued).

    `problem(key, message)` fires once when a series stops being measurable and once with
    an empty message when it recovers, never every tick.
    """

    problem = Signal(object, str)

    def __init__(self, history: HistoryWriter | None, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("opserv-gatherer")
        self.history = history
        self.gatherer = Gatherer(
            default_sources(), history=history,
            on_problem=lambda key, message: self.problem.emit(key, message or ""),
            isolate_sources=True,
        )

    def run(self) -> None:
        self.gatherer.run()

    def stop(self, timeout_ms: int = 2000) -> bool:
        """Ask the loop to leave, wait for it, then flush the history. True if it ended in time."""
        ended = True
        if self.isRunning():  # a Stop sent to a finished loop would stop the next one instead
            queue_manager.hub.control.put(Stop())
            ended = self.wait(timeout_ms)
        if self.history is not None:
            self.history.close()
        return ended

