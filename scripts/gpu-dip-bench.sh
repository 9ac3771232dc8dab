#!/usr/bin/env bash
# Run ON THE GPU MACHINE: deep-image-prior benchmark runs (`strata eval restore`) on fixed subsets
# or whole sets, spread over every GPU of the machine.
# Usage: scripts/gpu-dip-bench.sh OUTDIR DATADIR RUN...
#   RUN = TASK:LEVEL:NET[:PRECISION[-nchw]][+OPTION[=VALUE]...][@N] (-nchw: NCHW decoder
#         activations; +OPTION=VALUE: `--OPTION VALUE` for this run; @N: the first N images by
#         name, 0 = all, default $LIMIT or 4), e.g. denoise:25:decoder:bf16@0,
#         denoise:50:decoder:bf16+lambda=1.2@8,
#         deblock:10:dip, inpaint:0.25:decoder, sr:4:decoder, speed:0:decoder:bf16 (300 fixed
#         iterations on DATADIR/k512, 512×512).
# DATADIR holds cbsd68/, live1/, set5/, k512/ and kodak512/ (copies of
# ../shared/data/denoise/cbsd68, deblock/live1, sr/set5, a 512×512 Kodak image, and the centre
# 512×512 crops of Kodak 1, 3, 5, 7, 13, 15, 19, 23 for denoise512:SIGMA:...). The decoder stops automatically (cap 10,000,
# as the thesis); the baselines run their fixed count (denoise/deblock/inpaint 3,000; sr ×4 2,000,
# ×8 4,000, as the thesis for sr). EXTRA adds `strata eval restore` options to every run (TAG is
# appended to the file names).
# Parallel: each run is cut into parts of SHARD images (default: one part per run; `--skip` keeps
# every image's noise as in one run) and one worker per GPU (the GPUs of CUDA_VISIBLE_DEVICES when
# set, else all that nvidia-smi lists; GPUS: only the first GPUS of them) takes the parts in the
# order given. DEADLINE (seconds from the start, 0 = none) ends the
# parts still running then; the images they finished are kept (read from their logs).
# Writes OUTDIR/<run>.json (the parts merged, `strata eval restore --json` fields), the parts'
# output in OUTDIR/parts/, and one line per run to OUTDIR/summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1 data=$2
shift 2
mkdir -p "$out/parts"
strata=${STRATA:-build-gpu/strata}  # STRATA: another build of the program
if [ -z "${STRATA:-}" ] && [ ! -x "$strata" ]; then
  scripts/gpu-build.sh ${BUILD_ARGS:-} > "$out/build.log" 2>&1
fi
[ -x "$strata" ] || { echo "no program $strata" >&2; exit 1; }
export LD_LIBRARY_PATH="$PWD/.deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
start=$(date +%s)
deadline=${DEADLINE:-0}
if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
  IFS=, read -r -a gpu_ids <<< "$CUDA_VISIBLE_DEVICES"
else
  mapfile -t gpu_ids < <(nvidia-smi --query-gpu=index --format=csv,noheader)
fi
gpus=${GPUS:-${#gpu_ids[@]}}
[ "$gpus" -le "${#gpu_ids[@]}" ] || gpus=${#gpu_ids[@]}

# The `eval restore` arguments of one run (without --skip/--limit), one per line.
run_args() {
  local task level net precision options option
  IFS=+ read -r -a options <<< "$1"
  IFS=: read -r task level net precision <<< "${options[0]}"
  precision=${precision:-fp32}
  local args=(--net "$net" --precision "${precision%-nchw}")
  [ "$precision" != "${precision%-nchw}" ] && args+=(--nchw)
  case $task in
    denoise) args+=(--images "$data/cbsd68" --sigma "$level") ;;
    denoise512) task=denoise; args+=(--images "$data/kodak512" --sigma "$level") ;;
    deblock) args+=(--images "$data/live1" --quality "$level") ;;
    inpaint) args+=(--images "$data/cbsd68" --ratio "$level") ;;
    sr) args+=(--images "$data/set5" --scale "$level") ;;
    speed) task=denoise; args+=(--images "$data/k512" --no-auto-stop --max-iters 300) ;;
  esac
  for option in "${options[@]:1}"; do
    args+=("--${option%%=*}")
    [ "$option" != "${option#*=}" ] && args+=("${option#*=}")
  done
  args+=(${EXTRA:-})  # e.g. EXTRA="--upsampling gaussian --lambda 1.8"
  if [[ ! " ${args[*]} " =~ " --max-iters " ]]; then  # the defaults above
    if [ "$task" = sr ]; then
      [[ " ${args[*]} " =~ " --no-auto-stop " ]] || args+=(--no-auto-stop)
      args+=(--max-iters $([ "$level" = 8 ] && echo 4000 || echo 2000))
    elif [ "$net" = decoder ]; then
      args+=(--max-iters 10000)
    else
      args+=(--no-auto-stop --max-iters 3000)
    fi
  fi
  printf '%s\n' "$task" "${args[@]}"
}

# Parts: parts[k] = "NAME SKIP COUNT", with the run's arguments in part_args[k].
number() { [[ $2 =~ ^[0-9]+$ ]] || { echo "$1 must be a number, not '$2'" >&2; exit 1; }; }
parts=() part_args=() names=()
for spec in "$@"; do
  run=${spec%@*}
  count=${LIMIT:-4}
  [ "$spec" != "$run" ] && count=${spec##*@}
  number "$spec: the image count" "$count"
  mapfile -t args < <(run_args "$run")
  images=
  for ((k = 1; k < ${#args[@]}; ++k)); do [ "${args[k - 1]}" = --images ] && images=${args[k]}; done
  [ -n "$images" ] && [ -d "$images" ] || { echo "$run: unknown task or no folder $images" >&2; exit 1; }
  # the files `strata eval restore` takes as images (image::list_images)
  total=$(find -L "$images" -maxdepth 1 -type f \( -iname '*.png' -o -iname '*.jpg' \
    -o -iname '*.jpeg' -o -iname '*.pfm' -o -iname '*.flo' \) | wc -l)
  { [ "$count" -eq 0 ] || [ "$count" -gt "$total" ]; } && count=$total
  [ "$count" -gt 0 ] || { echo "$run: no images in $images" >&2; exit 1; }
  name=${run//[:+=]/_}${TAG:-}
  for seen in "${names[@]}"; do
    [ "${seen%=*}" != "$name" ] || { echo "$run: given twice (its parts would collide)" >&2; exit 1; }
  done
  names+=("$name=$count")
  rm -f "$out/parts/$name"-*  # parts of an earlier run under this name
  size=${SHARD:-$count}
  number SHARD "$size"
  [ "$size" -ge 1 ] || { echo "SHARD must be at least 1" >&2; exit 1; }
  for ((skip = 0; skip < count; skip += size)); do
    parts+=("$name $skip $((count - skip < size ? count - skip : size))")
    part_args+=("${args[*]}")
  done
  echo "$run: $count images in $(((count + size - 1) / size)) parts"
done

echo 0 > "$out/.next"
claim() { (flock 9; n=$(< "$out/.next"); echo $((n + 1)) > "$out/.next"; echo "$n") 9> "$out/.lock"; }

worker() {  # $1: the GPU it runs on (a CUDA_VISIBLE_DEVICES value)
  local i name skip count left pid
  while i=$(claim) && [ "$i" -lt "${#parts[@]}" ]; do
    read -r name skip count <<< "${parts[$i]}"
    left=600000
    if [ "$deadline" -gt 0 ]; then
      left=$((deadline - ($(date +%s) - start)))
      [ "$left" -gt 10 ] || break
    fi
    # In the background and waited for, so that the trap below can reach it: `timeout` passes
    # a TERM or INT on to strata.
    # shellcheck disable=SC2086  # the run's arguments hold no spaces
    CUDA_VISIBLE_DEVICES=$1 timeout "$left" "$strata" --device cuda --json eval \
      restore ${part_args[$i]} --skip "$skip" --limit "$count" \
      > "$out/parts/$name-$skip.json" 2> "$out/parts/$name-$skip.log" &
    pid=$!
    echo "$pid" > "$out/.pid-$1"  # the one run of this worker
    wait "$pid" ||
      echo "$name from image $skip FAILED or cut: $(tail -1 "$out/parts/$name-$skip.log")"
    rm -f "$out/.pid-$1"
  done
}
rm -f "$out"/.pid-*
# INT/TERM/HUP: stop the workers and the runs they started, then exit 128 + the signal.
stop() {
  trap - INT TERM HUP
  # shellcheck disable=SC2046  # lists of pids
  kill $(jobs -p) $(cat "$out"/.pid-* 2> /dev/null) 2> /dev/null || true
  exit "$1"
}
trap 'stop 130' INT
trap 'stop 143' TERM
trap 'stop 129' HUP
for ((g = 0; g < gpus; ++g)); do worker "${gpu_ids[g]}" & done
wait
# exits non-zero when a run has fewer images than asked for
python3 scripts/dip-bench-merge.py "$out" "${names[@]}" | tee -a "$out/summary.txt"
