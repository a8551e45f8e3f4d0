#!/usr/bin/env bash
# Build the one-folder bundle dist/opserv-desktop/ from a clean checkout: a venv with the project and
# PyInstaller, then packaging/opserv-desktop.spec. PYTHON picks the interpreter (default python3);
# BUILD_VENV the venv (default build/bundle-venv, reused by the next build).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
venv="${BUILD_VENV:-$root/build/bundle-venv}"

# PyInstaller copies libpython into the bundle; a Python built without it (pyenv's default) cannot be bundled.
"$python" - <<'PY'
import sys, sysconfig
if sys.platform.startswith("linux") and not sysconfig.get_config_var("Py_ENABLE_SHARED"):
    sys.exit(f"{sys.executable} has no shared libpython, which PyInstaller needs: use another Python "
             "(PYTHON=/usr/bin/python3) or rebuild it with --enable-shared")
PY

[ -d "$venv" ] || "$python" -m venv "$venv"
bin="$venv/bin"
[ -d "$venv/Scripts" ] && bin="$venv/Scripts"  # a Windows venv
extra=()
case "$(uname -s)" in Linux*) ;; *) extra=(pillow) ;; esac  # Windows and macOS: the PNG icon becomes .ico/.icns
"$bin/python" -m pip install -q --disable-pip-version-check "$root" "pyinstaller>=6.10,<7" ${extra[@]+"${extra[@]}"}

rm -rf "$root/dist/opserv-desktop"
"$bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath "$root/dist" --workpath "$root/build/pyinstaller" "$root/packaging/opserv-desktop.spec"

bundle="$root/dist/opserv-desktop"
QT_QPA_PLATFORM=offscreen "$bundle/opserv-desktop" --version
echo "bundle: $bundle ($(du -sh "$bundle" | cut -f1))"
