"""Packaging: the desktop file and AppStream data validate, the wheel carries the icons, the desktop entry
installs, and (marker `bundle`, `python3 -m pytest -m bundle`) the PyInstaller bundle builds and starts."""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

import desktop_app
from desktop_app import desktop_entry
from desktop_app.resources_path import APP_ID, ICON_SIZES, desktop_file, icon_path

ROOT = Path(desktop_app.__file__).resolve().parent.parent
DESKTOP_FILE = ROOT / "resources" / f"{APP_ID}.desktop"
METAINFO = ROOT / "packaging" / "org.opserv.OpServDesktop.metainfo.xml"


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (Debian package {package}; .ci/run installs it)")
    return found


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])  # IHDR: width, height


def no_tracebacks(text: str) -> None:
    assert "Traceback" not in text, text


# --- the files as they are in the repository -------------------------------------------------------------

def test_desktop_file_validates():
    done = subprocess.run([tool("desktop-file-validate", "desktop-file-utils"), str(DESKTOP_FILE)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_metainfo_validates_offline():
    done = subprocess.run([tool("appstreamcli", "appstream"), "validate", "--no-net", str(METAINFO)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_metainfo_names_this_release_and_the_desktop_file():
    component = ET.parse(METAINFO).getroot()
    assert component.findtext("launchable") == DESKTOP_FILE.name
    assert component.findtext("provides/binary") == APP_ID
    versions = [release.get("version") for release in component.iter("release")]
    assert versions and versions[0] == desktop_app.__version__, "add a <release> for the new version"


def test_pngs_are_the_sizes_they_are_named():
    for size in ICON_SIZES:
        assert png_size(icon_path(size).read_bytes()) == (size, size)
    assert icon_path(None).read_text(encoding="utf-8").lstrip().startswith("<?xml")
    with pytest.raises(ValueError, match="sizes are 16, 24"):
        icon_path(100)


def test_resources_found_where_the_tests_run():
    """The editable install (.ci/run, README) finds the package data through importlib.resources too."""
    assert desktop_file().read_text(encoding="utf-8").startswith("[Desktop Entry]")
    assert icon_path().is_file() and icon_path().parent.name == "resources"


# --- --install-desktop-entry ------------------------------------------------------------------------------

@pytest.mark.parametrize(("arg", "written"), [
    ("/usr/bin/opserv-desktop", "/usr/bin/opserv-desktop"),
    ("/home/me/My Apps/opserv-desktop", '"/home/me/My Apps/opserv-desktop"'),
    ('/opt/a"b$c`d', r'"/opt/a\\"b\\$c\\`d"'),  # quoted, escaped inside the quotes, then as a string
    ("/opt/back\\slash", r'"/opt/back\\\\slash"'),
    ("/opt/100%/run", "/opt/100%%/run"),
    ("-m", "-m"),
])
def test_exec_arguments_are_quoted_as_the_spec_says(arg, written):
    assert desktop_entry.exec_arg(arg) == written


def test_a_path_with_a_line_break_is_refused():
    with pytest.raises(desktop_entry.DesktopEntryError, match="line break"):
        desktop_entry.exec_arg("/opt/a\nb")


def test_the_menu_runs_this_install(tmp_path, monkeypatch):
    """The entry point script that started us; else the one beside our interpreter; else `python -m`."""
    script = tmp_path / "venv" / "bin" / APP_ID
    python = script.parent / "python3"
    script.parent.mkdir(parents=True)
    python.write_text("")
    monkeypatch.setattr(sys, "executable", str(python))
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "desktop_app" / "__main__.py")])
    assert desktop_entry.launch_command() == [str(python), "-m", "desktop_app"]
    script.write_text("")
    assert desktop_entry.launch_command() == [str(script)]
    started = tmp_path / "bin" / APP_ID
    started.parent.mkdir()
    started.write_text("")
    monkeypatch.setattr(sys, "argv", [str(started), "--install-desktop-entry"])
    assert desktop_entry.launch_command() == [str(started)]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert desktop_entry.launch_command() == [str(python)]  # a bundle: its own executable


def test_install_writes_a_valid_entry_and_every_icon(tmp_path):
    command = [str(tmp_path / "my apps" / "opserv-desktop")]  # a space, so Exec needs quoting
    written = desktop_entry.install(home=tmp_path / "share", command=command)

    entry = tmp_path / "share" / "applications" / f"{APP_ID}.desktop"
    hicolor = tmp_path / "share" / "icons" / "hicolor"
    expected = {entry, hicolor / "scalable" / "apps" / f"{APP_ID}.svg"}
    expected |= {hicolor / f"{s}x{s}" / "apps" / f"{APP_ID}.png" for s in ICON_SIZES}
    assert set(written) == expected
    for size in ICON_SIZES:
        assert png_size((hicolor / f"{size}x{size}" / "apps" / f"{APP_ID}.png").read_bytes()) == (size, size)
    lines = entry.read_text(encoding="utf-8").splitlines()
    assert f'Exec="{command[0]}"' in lines
    assert f"TryExec={command[0]}" in lines
    assert f"Icon={APP_ID}" in lines
    if shutil.which("desktop-file-validate"):
        done = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0 and not done.stdout.strip(), done.stdout

    desktop_entry.install(home=tmp_path / "share", command=command)  # a rerun replaces, leaves no temp files
    assert sorted(p.name for p in entry.parent.iterdir()) == [entry.name]


def test_the_installed_command_puts_itself_in_the_menu(tmp_path):
    command = shutil.which(APP_ID)
    if command is None:
        pytest.skip("opserv-desktop is not installed (pip install -e .)")
    done = subprocess.run([command, "--install-desktop-entry"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "XDG_DATA_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    entry = tmp_path / "applications" / f"{APP_ID}.desktop"
    assert f"wrote {entry}" in done.stdout.splitlines()
    assert f"Exec={os.path.abspath(command)}" in entry.read_text(encoding="utf-8").splitlines()
    assert (tmp_path / "icons" / "hicolor" / "48x48" / "apps" / f"{APP_ID}.png").is_file()


def test_an_unwritable_data_folder_is_one_clear_error(tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    done = subprocess.run([sys.executable, "-m", "desktop_app", "--install-desktop-entry"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env={**os.environ, "XDG_DATA_HOME": str(blocker)})
    assert done.returncode == 1
    assert done.stderr.startswith("opserv-desktop: cannot install the desktop entry: cannot write "), done.stderr
    no_tracebacks(done.stderr)


def test_install_desktop_entry_goes_alone():
    done = subprocess.run([sys.executable, "-m", "desktop_app", "--install-desktop-entry", "--headless"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2 and "--install-desktop-entry goes alone" in done.stderr


# --- the wheel --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the sources, so setuptools' build/ never races another run in the tree."""
    src = tmp_path_factory.mktemp("src")
    for name in ("desktop_app", "resources"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    [built] = out.glob("opserv_desktop-*.whl")
    return built


@pytest.mark.timeout(300)
def test_the_wheel_carries_every_package_and_the_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    data = {f"desktop_app/resources/{APP_ID}.desktop", f"desktop_app/resources/{APP_ID}.svg"}
    data |= {f"desktop_app/resources/{APP_ID}-{size}.png" for size in ICON_SIZES}
    assert data <= names
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "desktop_app").rglob("*.py")}
    missing = sources - names
    assert not missing, f"not in the wheel: {sorted(missing)}; list their packages in pyproject.toml"
    assert not any(name.startswith("resources/") for name in names), "resources/ must install in desktop_app"


@pytest.mark.timeout(300)
def test_the_installed_wheel_finds_its_icons_from_anywhere(wheel, tmp_path):
    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = ("import desktop_app, desktop_app.resources_path as r; "
              "print(desktop_app.__file__); print(r.icon_path(16)); print(r.desktop_file())")
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=elsewhere, env=env)
    assert done.returncode == 0, done.stderr
    for line in done.stdout.splitlines():
        assert Path(line).is_file() and Path(line).is_relative_to(target), line
    done = subprocess.run([sys.executable, "-m", "desktop_app", "--install-desktop-entry"], capture_output=True,
                          text=True, timeout=60, cwd=elsewhere, env={**env, "XDG_DATA_HOME": str(tmp_path / "d")})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "d" / "icons" / "hicolor" / "512x512" / "apps" / f"{APP_ID}.png").is_file()


# --- the PyInstaller bundle (minutes: `python3 -m pytest -m bundle`) ------------------------------------------

@pytest.fixture(scope="module")
def bundle(request) -> Path:
    if "bundle" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("builds the PyInstaller bundle: run it with `python3 -m pytest -m bundle`")
    tool("strip", "binutils")
    started = time.monotonic()
    done = subprocess.run(["bash", str(ROOT / "packaging" / "build.sh")], capture_output=True, text=True,
                          timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    print(f"bundle built in {time.monotonic() - started:.0f} s")
    return ROOT / "dist" / APP_ID


def run_bundle(bundle: Path, tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data")}
    return subprocess.run([str(bundle / APP_ID), *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=tmp_path)


def bundle_bytes(bundle: Path) -> int:
    return sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.mark.bundle
@pytest.mark.timeout(1800)
def test_bundle_prints_its_version(bundle, tmp_path):
    done = run_bundle(bundle, tmp_path, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"opserv-desktop {desktop_app.__version__}"
    print(f"bundle size: {bundle_bytes(bundle) / 1e6:.1f} MB")


@pytest.mark.bundle
@pytest.mark.timeout(300)
def test_bundle_gathers_headless(bundle, tmp_path):
    db = tmp_path / "x.sqlite3"
    done = run_bundle(bundle, tmp_path, "--headless", "--duration", "2", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert "stopped after" in done.stderr and db.is_file()
    no_tracebacks(done.stderr)


@pytest.mark.bundle
@pytest.mark.timeout(300)
def test_bundle_opens_its_window_and_keeps_running(bundle, tmp_path):
    """Offscreen: every Qt and pyqtgraph import happens, the icon loads, the plots draw for a few seconds."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data")}
    app = subprocess.Popen([str(bundle / APP_ID), "--db", str(tmp_path / "gui.sqlite3")], env=env, cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(8)
        alive = app.poll() is None
    finally:
        app.terminate()
        try:
            _, err = app.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            app.kill()
            _, err = app.communicate()
    assert alive, f"the window exited with {app.returncode}:\n{err}"
    no_tracebacks(err)


@pytest.mark.bundle
@pytest.mark.timeout(300)
def test_bundle_installs_a_desktop_entry_that_runs_the_bundle(bundle, tmp_path):
    done = run_bundle(bundle, tmp_path, "--install-desktop-entry")
    assert done.returncode == 0, done.stderr
    entry = tmp_path / "data" / "applications" / f"{APP_ID}.desktop"
    assert desktop_entry.exec_arg(str(bundle / APP_ID)) in entry.read_text(encoding="utf-8")


@pytest.mark.bundle
@pytest.mark.timeout(300)
def test_bundle_leaves_out_unused_qt_and_links_every_qt_library(bundle):
    internal = bundle / "_internal" / "PySide6"
    modules = sorted(p.name.split(".")[0] for p in internal.glob("Qt*.*"))
    assert modules == ["QtCore", "QtGui", "QtOpenGL", "QtOpenGLWidgets", "QtSvg", "QtWidgets"]
    assert not list(internal.rglob("*.qm")), "Qt translations are unused (no QTranslator)"
    assert not list(internal.rglob("libQt6Network*"))
    if sys.platform.startswith("linux") and shutil.which("ldd"):
        env = {**os.environ, "LD_LIBRARY_PATH": f"{bundle / '_internal'}:{internal / 'Qt' / 'lib'}"}
        for lib in internal.rglob("*.so*"):
            out = subprocess.run(["ldd", str(lib)], capture_output=True, text=True, env=env, timeout=30).stdout
            unresolved = [line.split()[0] for line in out.splitlines() if "not found" in line]
            # Desktop libraries (GTK, Wayland) come from the user's system; Qt's own must be in the bundle.
            assert not [n for n in unresolved if n.startswith(("libQt6", "libpyside", "libshiboken", "libicu"))], \
                f"{lib}: {unresolved}"
