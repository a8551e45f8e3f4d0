"""Command line: the window (default), headless gathering, CSV export, and the version."""
from __future__ import annotations

import argparse
import logging
import math
import signal
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from desktop_app import __version__
from desktop_app.measurement import SeriesKey, now_ms

log = logging.getLogger("desktop_app")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opserv-desktop", description="OpServ Desktop, a system monitor.")
    parser.add_argument("--version", action="version", version=f"opserv-desktop {__version__}")
    parser.add_argument("--db", type=Path, metavar="PATH", help="history file (default: in your data folder)")
    parser.add_argument("--headless", action="store_true", help="gather the default set into the history, no window")
    parser.add_argument("--duration", type=float, metavar="SECONDS",
                        help="with --headless: stop after this many seconds (default: until Ctrl+C)")
    parser.add_argument("--metrics-listen", metavar="HOST:PORT", nargs="?", const="127.0.0.1:9464",
                        help="with --headless: serve the gathered series to Prometheus on this address "
                             "(default 127.0.0.1:9464; give an address to listen beyond this machine)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--install-desktop-entry", action="store_true",
                        help="add the app to your desktop menu (desktop file and icons in your XDG data folder)")
    commands = parser.add_subparsers(dest="command", metavar="{export}")
    export = commands.add_parser("export", help="write history to a CSV file, no window",
                                 description="Write measurements from the history to a CSV file.")
    export.add_argument("--out", type=Path, required=True, metavar="FILE.csv", help="the CSV file to write")
    export.add_argument("--db", type=Path, metavar="PATH", default=argparse.SUPPRESS,
                        help="history file (default: in your data folder)")
    when = export.add_mutually_exclusive_group()
    when.add_argument("--since", type=duration_ms, metavar="AGE", help="only the last AGE: 90s, 30m, 1h, 7d")
    when.add_argument("--from", dest="start", type=iso_ms, metavar="ISO", help="from this time, e.g. 2026-12-04T10:00")
    export.add_argument("--to", dest="end", type=iso_ms, metavar="ISO", help="up to this time (with --from)")
    export.add_argument("--series", nargs="+", type=series_arg, default=[], metavar="C/ARGS/M",
                        help="series to export, e.g. cpu/0/usage memory//used (default: all)")
    export.add_argument("--format", choices=("long", "wide"), default="long",
                        help="long: a row per measurement (default); wide: a row per time bucket")
    export.add_argument("--bucket", type=duration_ms, default=60_000, metavar="SIZE",
                        help="with --format wide: the bucket size (default 1m)")
    return parser


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_UNITS_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def duration_ms(text: str) -> int:
    """Parse "90s", "30m", "1h", "7d" into milliseconds."""
    number, unit = text[:-1], text[-1:]
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    ms = value * _UNITS_MS.get(unit, 0)
    if not math.isfinite(ms) or ms < 1:  # "infh" would overflow int(); "0.0001s" would be a 0 ms bucket
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 30m, 1h or 7d")
    return int(ms)


def iso_ms(text: str) -> int:
    """Parse an ISO 8601 time (local time when it has no offset) into ms since the epoch."""
    try:
        moment = datetime.fromisoformat(text).astimezone()  # naive: local time
    except (ValueError, OverflowError, OSError):  # the last two: a year the platform's clock cannot hold
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time like 2026-12-04T10:00") from None
    # Integer arithmetic: timestamp() * 1000 is a float that sometimes lands 1 ms early, so a time
    # copied from an export's timestamp column would not select its own row.
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def series_arg(text: str) -> SeriesKey:
    try:
        return SeriesKey.parse(text)
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.duration is not None and (not args.headless or args.duration <= 0):
        parser.error("--duration takes a positive number of seconds and goes with --headless")
    if args.install_desktop_entry:
        if args.headless or args.command:
            parser.error("--install-desktop-entry goes alone")
        from desktop_app.desktop_entry import run as install_desktop_entry

        return install_desktop_entry()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "export":
        if args.end is not None and args.start is None:
            parser.error("--to goes with --from")
        if args.end is not None and args.end <= args.start:
            parser.error("--to must be later than --from")
        return run_export(args)
    if args.metrics_listen is not None and not args.headless:
        parser.error("--metrics-listen goes with --headless (in the window: Edit > Preferences)")
    if args.headless:
        return run_headless(args.db, args.duration, args.metrics_listen)
    from desktop_app.ui.app import run_gui  # Qt is imported only for the window

    return run_gui(args.db)


def run_headless(db: Path | None, duration: float | None, metrics_listen: str | None = None) -> int:
    """Gather the default set until `duration` passes or SIGINT/SIGTERM; flush and return 0."""
    from desktop_app import gathering

    server = None
    if metrics_listen is not None:
        from desktop_app.prometheus.exporter import MetricsServer

        try:
            server = MetricsServer(metrics_listen)
        except (OSError, ValueError) as exc:
            log.error("%s", exc)
            return 1

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        handle = gathering.start(db_path=db)
    except (OSError, sqlite3.Error, RuntimeError) as exc:  # a folder, a foreign file, a newer schema
        log.error("cannot open the history %s: %s", db or "in the data folder", exc)
        if server is not None:
            server.close()
        return 1
    log.info("gathering headless into %s", handle.history.path)
    done.wait(duration)
    handle.stop()
    if server is not None:
        server.close()
    log.info("stopped after %d measurements", handle.gatherer.measured)
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Export history to CSV; 0 on success, 1 with one clear line when it cannot."""
    from desktop_app.storage.export import ExportError, ExportRequest, export_csv
    from desktop_app.storage.history import default_path

    db = args.db or default_path()
    if not db.is_file():
        log.error("no history at %s (give --db PATH)", db)
        return 1
    start = now_ms() - args.since if args.since else (args.start or 0)
    end = args.end or 2**62
    request = ExportRequest(db, args.out, tuple(args.series), start, end, args.format, args.bucket)
    try:
        rows = export_csv(request)
    except (ExportError, sqlite3.Error) as exc:
        log.error("%s", exc)
        return 1
    log.info("exported %d rows to %s", rows, args.out)
    return 0
