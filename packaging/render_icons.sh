#!/usr/bin/env bash
# Render resources/opserv-desktop-<size>.png from the SVG (rsvg-convert: Debian's librsvg2-bin).
# Run after editing the SVG and commit the PNGs; the build and the app only read them.
set -euo pipefail
cd "$(dirname "$0")/../resources"
for size in 16 24 32 48 64 128 256 512; do
  rsvg-convert --width "$size" --height "$size" opserv-desktop.svg --output "opserv-desktop-$size.png"
done
ls -l opserv-desktop-*.png
