#!/usr/bin/env bash
# Run ON THE GPU MACHINE: trains one HIPe stage within a time budget, sized so that the run ends
# (learning rate decayed to 0) inside the budget. Data: BSDS500 train+val under $STRATA_DATA.
# Usage: scripts/gpu-train-hipe.sh guider|peeler MINUTES OUTDIR [extra strata train args]
# (peeler: pass --guider FILE). Builds strata first (scripts/gpu-build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
stage=$1 minutes=$2 out=$3
shift 3
data=${STRATA_DATA:-../shared/data}/bsds500
args=(--data "$data/images/train" --data "$data/images/val")
[ "$stage" = guider ] && args+=(--gt "$data/gt/train" --gt "$data/gt/val")
scripts/gpu-build.sh -DSTRATA_BUILD_TESTS=OFF -DSTRATA_BUILD_BENCH=OFF > "$out.build.log" 2>&1
export LD_LIBRARY_PATH="$PWD/.deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
strata=build-gpu/strata
# Speed probe: 30 iterations in a scratch folder.
probe=$(mktemp -d)
$strata -q --device cuda train "hipe-$stage" "${args[@]}" "$@" --out "$probe" --iters 30
rate=$(awk -F, 'NR>2 {n=$1-p; t=$2-s} NR==2 {p=$1; s=$2} END {print n/t}' "$probe/log.csv")
rm -rf "$probe"
iters=$(python3 -c "print(int($rate * 60 * $minutes))")
echo "probe: $rate it/s -> $iters iterations in $minutes min"
$strata --device cuda train "hipe-$stage" "${args[@]}" "$@" --out "$out" --iters "$iters" \
  --checkpoint-every 60 --max-minutes "$(python3 -c "print($minutes + 1.5)")"
