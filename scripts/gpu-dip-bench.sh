#!/usr/bin/env bash
# Run ON THE GPU MACHINE: deep-image-prior benchmark runs (`strata eval restore`) on fixed subsets.
# Usage: scripts/gpu-dip-bench.sh OUTDIR DATADIR RUN...
#   RUN = TASK:LEVEL:NET[:PRECISION[-nchw]] (-nchw: NCHW decoder activations), e.g. denoise:25:decoder, deblock:10:dip, inpaint:0.25:decoder,
#         sr:4:decoder, speed:0:decoder:bf16 (300 fixed iterations on DATADIR/k512, 512×512).
# DATADIR holds cbsd68/, live1/, set5/ and k512/ (copies of ../shared/data/denoise/cbsd68,
# deblock/live1, sr/set5 and a 512×512 Kodak image). Subsets: the first $LIMIT images (default 4)
# by name. The decoder stops automatically (cap 10,000, as the thesis); the baselines run their
# fixed count (denoise/deblock/inpaint 3,000; sr ×4 2,000, ×8 4,000, as the thesis for sr).
# EXTRA adds `strata eval restore` options to every run (TAG is appended to the file names).
# Writes OUTDIR/<run>.json and appends one line per run to OUTDIR/summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1 data=$2
shift 2
mkdir -p "$out"
[ -x build-gpu/strata ] || scripts/gpu-build.sh ${BUILD_ARGS:-} > "$out/build.log" 2>&1
export LD_LIBRARY_PATH="$PWD/.deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
limit=${LIMIT:-4}
for run in "$@"; do
  IFS=: read -r task level net precision <<< "$run"
  precision=${precision:-fp32}
  args=(--net "$net" --precision "${precision%-nchw}")
  [ "$precision" != "${precision%-nchw}" ] && args+=(--nchw)
  case $task in
    denoise) args+=(--images "$data/cbsd68" --sigma "$level") ;;
    deblock) args+=(--images "$data/live1" --quality "$level") ;;
    inpaint) args+=(--images "$data/cbsd68" --ratio "$level") ;;
    sr) args+=(--images "$data/set5" --scale "$level" --no-auto-stop
               --max-iters $([ "$level" = 8 ] && echo 4000 || echo 2000)) ;;
    speed) task=denoise; args+=(--images "$data/k512" --no-auto-stop --max-iters 300) ;;
  esac
  if [ "$task" != sr ] && [[ ! " ${args[*]} " =~ " --max-iters " ]]; then
    [ "$net" = decoder ] && args+=(--max-iters 10000) || args+=(--no-auto-stop --max-iters 3000)
  fi
  args+=(${EXTRA:-})  # e.g. EXTRA="--upsampling gaussian --lambda 1.8"
  name=${run//:/_}${TAG:-}
  build-gpu/strata --device cuda --json eval restore "$task" "${args[@]}" --limit "$limit" \
    > "$out/$name.json" 2> "$out/$name.log" || echo "$run FAILED: $(tail -1 "$out/$name.log")"
  python3 - "$run" "$out/$name.json" >> "$out/summary.txt" <<'EOF' || true
import json, sys
r = json.load(open(sys.argv[2]))
print(f"{sys.argv[1]}: n {r['images']} input {r['input_psnr']:.2f} psnr {r['psnr']:.2f} "
      f"best {r['best_psnr']:.2f} iters {r['iterations']:.0f} s/img {r['seconds']:.1f} "
      f"ms/it {r['ms_per_iteration']:.2f}")
EOF
  tail -1 "$out/summary.txt"
done
