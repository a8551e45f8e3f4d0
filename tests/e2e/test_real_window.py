"""End to end: the installed `opserv-desktop` command in a real X window under Xvfb.

Launched as a user would, looked at (a screenshot that is not blank), quit with Ctrl+Q.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

pytestmark = pytest.mark.e2e

TOOLS = ("Xvfb", "xdotool", "import", "opserv-desktop")
missing = [tool for tool in TOOLS if shutil.which(tool) is None]
if missing:
    pytest.skip(f"needs {', '.join(missing)} (see README: Debian packages xvfb xdotool imagemagick, "
                "and `pip install -e .`)", allow_module_level=True)


@pytest.fixture
def display():
    """A private X server; its number is chosen by Xvfb itself (-displayfd), so runs never collide."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x860x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    assert number, "Xvfb did not start"
    yield f":{number}"
    xvfb.terminate()
    xvfb.wait(10)


def x(display: str, *command: str, timeout: float = 15) -> str:
    env = {**os.environ, "DISPLAY": display}
    return subprocess.run(command, env=env, check=True, capture_output=True, text=True, timeout=timeout).stdout


def test_installed_command_shows_a_window_and_quits_with_ctrl_q(display, tmp_path):
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb",
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    app = subprocess.Popen(["opserv-desktop", "--db", str(tmp_path / "history.sqlite3")], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        window = x(display, "xdotool", "search", "--sync", "--onlyvisible", "--name", "^OpServ Desktop$").split()[0]
        shot = tmp_path / "screen.png"
        deadline = time.monotonic() + 15
        colours = 0
        while colours < 50 and time.monotonic() < deadline:  # widgets and plots fill in as data arrives
            x(display, "import", "-window", "root", str(shot))
            colours = int(x(display, "identify", "-format", "%k", str(shot)))
        assert colours >= 50, f"the screen looks blank ({colours} colours)"

        x(display, "xdotool", "windowfocus", "--sync", window)
        x(display, "xdotool", "key", "--clearmodifiers", "ctrl+q")
        assert app.wait(timeout=10) == 0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    output = app.stdout.read()
    assert "Traceback" not in output, output
    assert (tmp_path / "history.sqlite3").stat().st_size > 0
