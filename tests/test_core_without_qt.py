"""The core (everything but desktop_app/ui) imports and gathers without Qt or pyqtgraph.

Headless mode, scripts and servers use it where no Qt is installed. pytest-qt has already imported
PySide6 into this process, so the check runs in a fresh interpreter.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import desktop_app

ROOT = Path(desktop_app.__file__).resolve().parent.parent
GUI_MODULES = ("PySide6", "shiboken6", "pyqtgraph")

SCRIPT = r"""
import importlib.abc, json, pkgutil, sys

attempted = []

class Recorder(importlib.abc.MetaPathFinder):
    '''Notes every attempt to import a GUI module, even one a try/except would hide.'''
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in GUI_MODULES:
            attempted.append(name)
        return None

sys.meta_path.insert(0, Recorder())

import desktop_app
core = [m.name for m in pkgutil.walk_packages(desktop_app.__path__, "desktop_app.")
        if not m.name.startswith("desktop_app.ui")]
for name in core:
    if name != "desktop_app.__main__":  # it runs the CLI
        __import__(name)

from desktop_app import cli, data_manager, gathering, queue_manager

handle = gathering.start(defaults=False, db_path=sys.argv[1])
try:
    queue_manager.requestData("cpu", "usage")
    got = queue_manager.readMeasurementFromQueue("cpu", "usage", blocking=True, timeout=5)
finally:
    handle.stop()
assert cli.main(["--headless", "--duration", "0.5", "--db", sys.argv[1]]) == 0

print(json.dumps({
    "imported": core,
    "measured": got,
    "attempted": attempted,
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in GUI_MODULES),
}))
"""


def test_core_imports_and_gathers_without_qt(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(
        [sys.executable, "-c", f"GUI_MODULES = {GUI_MODULES!r}\n" + SCRIPT, str(tmp_path / "h.sqlite3")],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"desktop_app.gathering.loop", "desktop_app.storage.history", "desktop_app.cli"} <= set(report["imported"])
    assert report["measured"] is not None and 0.0 <= report["measured"]["value"] <= 100.0
    assert report["attempted"] == [], "the core tried to import a GUI module"
    assert report["loaded"] == []
    assert "PySide6" not in report["loaded"] and "pyqtgraph" not in report["loaded"]
