"""Gathering: the scheduler loop and the sources it reads. No Qt here.

`start()` runs the loop headless on a plain thread; the GUI runs the same loop in a QThread.
"""
from __future__ import annotations

import threading
from pathlib import Path

from desktop_app import queue_manager
from desktop_app.gathering.loop import Gatherer, Stop
from desktop_app.gathering.sources import default_sources
from desktop_app.storage.history import HistoryWriter


class GathererHandle:
    """A running headless gatherer; `stop()` ends and joins it and flushes the history."""

    def __init__(self, gatherer: Gatherer, history: HistoryWriter | None) -> None:
        self.gatherer, self.history = gatherer, history
        self._thread = threading.Thread(target=gatherer.run, name="opserv-gatherer", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Safe to call twice: a Stop sent to a finished loop would stop the next one instead."""
        if self._thread.is_alive():
            queue_manager.hub.control.put(Stop())
            self._thread.join(timeout)
        if self.history is not None:
            self.history.close()


def start(db_path: Path | str | None = None, defaults: bool = True, history: bool = True) -> GathererHandle:
    """Start gathering on a background thread.

    With `defaults`, the default set is gathered at default rates and follows the system lists
    (a new interface or mount is picked up); otherwise nothing runs until requestData or
    setGatheringRate asks. With `history`, every measurement goes to the SQLite file at
    `db_path` (the per-user default when None).
    """
    from desktop_app.storage.history import default_path

    writer = HistoryWriter(db_path or default_path()) if history else None
    gatherer = Gatherer(default_sources(), history=writer, follow_defaults=defaults, isolate_sources=True)
    return GathererHandle(gatherer, writer)
