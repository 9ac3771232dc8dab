#!/usr/bin/env bash
# Configures and builds strata in Release into ./build (extra CMake arguments are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${STRATA_JOBS:-$(nproc)}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j "$jobs"
