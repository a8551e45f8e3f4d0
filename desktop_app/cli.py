"""Command line: the window (default), headless gathering, and the version."""
from __future__ import annotations

import argparse
import logging
import signal
import sqlite3
import threading
from pathlib import Path

from desktop_app import __version__

log = logging.getLogger("desktop_app")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opserv-desktop", description="OpServ Desktop, a system monitor.")
    parser.add_argument("--version", action="version", version=f"opserv-desktop {__version__}")
    parser.add_argument("--db", type=Path, metavar="PATH", help="history file (default: in your data folder)")
    parser.add_argument("--headless", action="store_true", help="gather the default set into the history, no window")
    parser.add_argument("--duration", type=float, metavar="SECONDS",
                        help="with --headless: stop after this many seconds (default: until Ctrl+C)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.duration is not None and (not args.headless or args.duration <= 0):
        parser.error("--duration takes a positive number of seconds and goes with --headless")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.headless:
        return run_headless(args.db, args.duration)
    from desktop_app.ui.app import run_gui  # Qt is imported only for the window

    return run_gui(args.db)


def run_headless(db: Path | None, duration: float | None) -> int:
    """Gather the default set until `duration` passes or SIGINT/SIGTERM; flush and return 0."""
    from desktop_app import gathering

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        handle = gathering.start(db_path=db)
    except (OSError, sqlite3.Error, RuntimeError) as exc:  # a folder, a foreign file, a newer schema
        log.error("cannot open the history %s: %s", db or "in the data folder", exc)
        return 1
    log.info("gathering headless into %s", handle.history.path)
    done.wait(duration)
    handle.stop()
    log.info("stopped after %d measurements", handle.gatherer.measured)
    return 0
