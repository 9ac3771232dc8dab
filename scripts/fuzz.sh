#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (+ASan/UBSan) and runs each for N seconds (default 600),
# two at a time. Corpora live in fuzz/corpus-<name>/ (git-ignored), seeded from tests/fixtures and
# small files the script writes with strata. Usage: scripts/fuzz.sh [seconds] [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(png jpeg pfm flo safetensors)
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DSTRATA_BUILD_FUZZ=ON -DSTRATA_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j "$(nproc)"
mkdir -p build-fuzz/logs
seed() {  # seed corpora from the committed fixtures and the example image
  mkdir -p fuzz/corpus-png fuzz/corpus-jpeg fuzz/corpus-pfm fuzz/corpus-flo fuzz/corpus-safetensors
  cp -n tests/fixtures/*.png fuzz/corpus-png/ 2>/dev/null || true
  cp -n fuzz/seeds/*.jpg fuzz/corpus-jpeg/ 2>/dev/null || true
  cp -n fuzz/seeds/*.pfm fuzz/corpus-pfm/ 2>/dev/null || true
  cp -n fuzz/seeds/*.flo fuzz/corpus-flo/ 2>/dev/null || true
  cp -n fuzz/seeds/*.safetensors fuzz/corpus-safetensors/ 2>/dev/null || true
}
seed
run() {
  local t=$1 rc=0
  build-fuzz/fuzz/fuzz_$t fuzz/corpus-$t -max_total_time="$secs" -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix=build-fuzz/logs/$t- \
    >build-fuzz/logs/$t.log 2>&1 || rc=$?
  echo "$t: exit $rc — $(grep -E '^stat::number_of_executed_units' build-fuzz/logs/$t.log)"
}
i=0
for t in "${targets[@]}"; do
  run "$t" &
  i=$((i + 1))
  if [ $((i % 2)) = 0 ]; then wait; fi
done
wait
