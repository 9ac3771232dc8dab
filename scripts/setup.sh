#!/usr/bin/env bash
# One command for a newcomer on a fresh Debian 12 machine (as root, or with sudo):
# installs the packages, builds strata in Release, then runs it on the bundled example.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
echo
echo "== strata info"
build/strata info
echo
mkdir -p out
echo "== strata convert examples/scene.png -> out/scene-half.png (bicubic, antialiased, x0.5)"
build/strata convert examples/scene.png out/scene-half.png --scale 0.5
echo "== strata filter rtv examples/scene.png -> out/scene-rtv.png (texture removed)"
build/strata filter rtv examples/scene.png out/scene-rtv.png
echo "== strata filter guided examples/scene.png -> out/scene-guided.png"
build/strata filter guided examples/scene.png out/scene-guided.png --radius 4 --eps 0.001
echo "== strata peel examples/scene.png -o out/peel --sheet (HIPe: 4 levels, shipped weights)"
build/strata peel examples/scene.png -o out/peel --levels 4 --sheet
echo "done: see out/ (out/peel/sheet.png shows the levels, guidance and details; the binary is build/strata; strata filter --list shows all filters)"
