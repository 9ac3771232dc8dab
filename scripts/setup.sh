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
echo "== strata convert examples/scene.png -> out/scene-half.png (bicubic, antialiased, x0.5)"
mkdir -p out
build/strata convert examples/scene.png out/scene-half.png --scale 0.5
echo "done: see out/ (the strata binary is build/strata)"
