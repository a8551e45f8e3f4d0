"""A gatherer started with defaults=False (every rate Off) and the history on, until SIGTERM.

Run by overhead.py as `python -m tests.benchmarks._idle_child DB_PATH`.
"""
from __future__ import annotations

import signal
import sys
import threading

from desktop_app import gathering


def main() -> None:
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    handle = gathering.start(db_path=sys.argv[1], defaults=False)
    done.wait()
    handle.stop()


if __name__ == "__main__":
    main()
