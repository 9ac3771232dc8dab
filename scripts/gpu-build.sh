#!/usr/bin/env bash
# Run ON THE GPU MACHINE (Ubuntu 24.04, CUDA 13, PyTorch 2.11) from the repo root, after
# scripts/pack-gpu-deps.sh was run here and .deps was carried over. Builds into build-gpu against
# the installed PyTorch's LibTorch. Usage: scripts/gpu-build.sh [extra cmake args]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .deps/usr ] || { echo "missing .deps: run scripts/pack-gpu-deps.sh and carry .deps" >&2; exit 1; }
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
export PATH=/usr/local/cuda/bin:$PATH
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$PWD/.deps/usr;$torch_prefix" \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DTORCH_CUDA_ARCH_LIST=9.0 "$@"
cmake --build build-gpu -j "$(nproc)"
