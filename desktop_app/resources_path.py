"""Where the installed package data is: the icons and the desktop entry, found with importlib.resources."""
from __future__ import annotations

import atexit
from contextlib import ExitStack
from importlib import resources
from pathlib import Path

PACKAGE = "desktop_app.resources"  # the repository's resources/ folder, mapped in pyproject.toml
APP_ID = "opserv-desktop"  # the desktop file's and the icon's name, and QGuiApplication.desktopFileName()
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

_extracted = ExitStack()  # files a zip import had to copy out; removed at exit
atexit.register(_extracted.close)


def resource(name: str) -> Path:
    """A real file for `name` (e.g. "opserv-desktop.svg"); FileNotFoundError if the package lacks it."""
    found = resources.files(PACKAGE).joinpath(name)
    if not found.is_file():
        raise FileNotFoundError(f"{name} is missing from the installed {PACKAGE} package")
    if isinstance(found, Path):  # an ordinary install, an editable one, or a PyInstaller bundle
        return found
    return _extracted.enter_context(resources.as_file(found))


def icon_path(size: int | None = 256) -> Path:
    """The PNG icon of `size` pixels (one of ICON_SIZES), or the scalable SVG for None."""
    if size is None:
        return resource(f"{APP_ID}.svg")
    if size not in ICON_SIZES:
        raise ValueError(f"no {size} px icon; sizes are {', '.join(map(str, ICON_SIZES))}")
    return resource(f"{APP_ID}-{size}.png")


def desktop_file() -> Path:
    """The freedesktop desktop entry, with `Exec=opserv-desktop`."""
    return resource(f"{APP_ID}.desktop")
