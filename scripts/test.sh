#!/usr/bin/env bash
# Runs the whole test suite (builds first if needed). Reads the shared data from $STRATA_DATA,
# default ../shared/data; tests that need absent data are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/strata ] || scripts/deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j "${STRATA_JOBS:-$(nproc)}" "$@"
