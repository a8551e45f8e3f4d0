"""`--install-desktop-entry`: the desktop file and icons into the user's XDG folders, so menus list the app."""
from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

import platformdirs

from desktop_app.resources_path import APP_ID, ICON_SIZES, desktop_file, icon_path


class DesktopEntryError(Exception):
    """The entry cannot be installed here; the message says why."""


def data_home() -> Path:
    """$XDG_DATA_HOME, or ~/.local/share when it is unset (platformdirs reads it the way the spec says)."""
    return platformdirs.user_data_path()


def launch_command() -> list[str]:
    """The command a menu should run to start this installation of the app, with absolute paths."""
    if getattr(sys, "frozen", False):  # a PyInstaller bundle: its own executable
        return [os.path.abspath(sys.executable)]
    argv0 = Path(sys.argv[0])
    if argv0.name == APP_ID and argv0.is_file():  # the entry point script this process started from
        return [os.path.abspath(argv0)]
    # `python -m desktop_app`: the script this interpreter's install made (a venv's bin/ or Scripts/), not
    # whichever opserv-desktop comes first on PATH, which may be another install.
    beside = Path(sys.executable).parent / (APP_ID + (".exe" if sys.platform.startswith("win") else ""))
    if beside.is_file():
        return [os.path.abspath(beside)]
    return [os.path.abspath(sys.executable), "-m", "desktop_app"]


# Desktop Entry Specification, "The Exec key": an argument holding one of these must be quoted.
_RESERVED = frozenset(" \t\"'\\><~|&;$*?#()`")


def exec_arg(arg: str) -> str:
    """One argument quoted for an Exec value, then escaped as a desktop-file string."""
    if any(c in arg for c in "\n\r"):
        raise DesktopEntryError(f"a menu entry cannot run a path with a line break: {arg!r}")
    arg = arg.replace("%", "%%")  # field codes start with %
    if any(c in _RESERVED for c in arg):
        arg = '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'
    return arg.replace("\\", "\\\\")  # the string escape applies on top of the quoting


def entry_text(command: list[str]) -> str:
    """The packaged desktop file with its Exec (and a TryExec) pointing at `command`."""
    lines = desktop_file().read_text(encoding="utf-8").splitlines()
    exec_at = next(i for i, line in enumerate(lines) if line.startswith("Exec="))
    lines[exec_at] = "Exec=" + " ".join(exec_arg(a) for a in command)
    # TryExec hides the entry once this installation is gone (a deleted venv or bundle).
    lines.insert(exec_at, "TryExec=" + command[0].replace("\\", "\\\\"))
    return "\n".join(lines) + "\n"


def _write(path: Path, data: bytes) -> None:
    """Replace `path` whole, so a rerun never leaves a half-written file for the menu to read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def install(home: Path | None = None, command: list[str] | None = None) -> list[Path]:
    """Write the desktop file and the icons under `home` (default: data_home()); return the files written."""
    if sys.platform.startswith(("win", "darwin")):
        raise DesktopEntryError("desktop entries are for Linux and BSD desktops (freedesktop menus); "
                                "on Windows and macOS start the bundle's executable or make a shortcut to it")
    home = Path(home) if home is not None else data_home()
    text = entry_text(command or launch_command())
    hicolor = home / "icons" / "hicolor"
    files = {home / "applications" / f"{APP_ID}.desktop": text.encode("utf-8"),
             hicolor / "scalable" / "apps" / f"{APP_ID}.svg": icon_path(None).read_bytes()}
    for size in ICON_SIZES:
        files[hicolor / f"{size}x{size}" / "apps" / f"{APP_ID}.png"] = icon_path(size).read_bytes()
    written = []
    for path, data in files.items():
        try:
            _write(path, data)
        except OSError as exc:
            raise DesktopEntryError(f"cannot write {path}: {exc.strerror or exc}") from None
        written.append(path)
    try:  # GTK ignores a user icon-theme.cache older than its folder, as xdg-icon-resource relies on
        os.utime(hicolor)
    except OSError:
        pass
    return written


def run() -> int:
    """The CLI flag: install, print each file written, 0; or one clear line on stderr, 1."""
    try:
        command = launch_command()
        written = install(command=command)
    except (DesktopEntryError, FileNotFoundError) as exc:
        print(f"opserv-desktop: cannot install the desktop entry: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    print(f"OpServ Desktop is in your desktop menu now; it runs: {' '.join(command)}")
    return 0
