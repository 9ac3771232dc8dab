#!/usr/bin/env bash
# Run ON THE GPU MACHINE: builds (scripts/gpu-build.sh) and runs the whole suite with CUDA.
# Data is read from $STRATA_DATA when set (the shared data does not travel with the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/gpu-build.sh
export LD_LIBRARY_PATH="$PWD/.deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
build-gpu/strata info
ctest --test-dir build-gpu --output-on-failure -j 8 "$@"
