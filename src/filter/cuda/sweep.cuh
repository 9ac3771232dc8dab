// The sweep: box-window means of K per-pixel quantities, O(1) per pixel, in one kernel.
//
// A block of BW threads owns input columns x0 - r .. x0 - r + BW - 1 and rows y0 .. y0 + rows - 1
// of one slice z (an image plane or an image). Thread t keeps the running sums of its column over
// the rows [y - r, y + r] ∩ [0, H) (add row y + r, subtract row y - r - 1; the sums restart in
// every block, so float drift stays bounded by `rows`). For each row the block takes an inclusive
// prefix sum of the column sums (warp shuffles, then one warp over the warp totals); the window
// sum of an output column is then a difference of two prefix sums. Threads r .. BW - r - 1 emit
// the BW - 2r output columns x0 .. x0 + BW - 2r - 1. Out-of-image columns and rows count as
// zero and the mean divides by the number of in-image pixels (border-clipped windows).
//
// An Op provides: static constexpr int R, K; kCenter (the last kCenter raw values are read by the
// epilogue only, never by quantities()); kAsync (the other raw values are float32 elements, so
// the tile may copy them asynchronously: address(slice, k, y, x) is raw value k's element);
// with kCenter > 0, kAsyncCenter (likewise the center-only ones; else the tile reads them by
// center_value(slice, k, y, x)); kRecentFirst (the tile walks its blocks in the order that finds
// the previous kernel's output in L2, tile.cuh); kInterleaved (the tile keeps a pixel's other raw
// values side by side in shared memory, not in planes); kPacked (with kInterleaved: they are
// consecutive float32 elements from address(slice, 0, y, x), 4·kHaloed-byte aligned, so the tile
// copies them at once);
// kRun (the tile's horizontal run length, 8 or 16 columns); slice(z) decoding slice z into a
// Slice; raw(slice, y, x, v[R]) reading the R raw values of pixel (y, x); quantities(v[R], q[K])
// computing the K quantities to average from them; emit(slice, y, x, mean[K], center[R])
// consuming the window means at (y, x), with the raw values of (y, x) itself, of which it may
// read only the center-only ones (the tile passes zeros for the others; raw values that no
// quantity uses, such as the guide in the apply stage, ride along for the epilogue). (The same
// Ops run in the tile, tile.cuh.)
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "../../core/cuda/scalar.cuh"
#include "kernels.hpp"  // kMaxRadius

namespace strata::filter::cuda {

using strata::cuda::from_float;
using strata::cuda::to_float;

/// The largest dynamic shared-memory limit set so far for one kernel, per device.
struct SharedMemoryLimit {
  static constexpr int kDevices = 16;
  std::atomic<std::size_t> bytes[kDevices] = {};
};

/// The most dynamic shared memory a block may opt in to on the current device (48 KB if unknown),
/// queried once per device.
inline std::size_t max_block_shared_memory() {
  static std::atomic<int> bytes[SharedMemoryLimit::kDevices] = {};
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= SharedMemoryLimit::kDevices)
    return 48 * 1024;
  int b = bytes[device].load();
  if (b == 0) {
    if (cudaDeviceGetAttribute(&b, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess)
      b = 48 * 1024;
    bytes[device] = b;
  }
  return static_cast<std::size_t>(b);
}

/// Lets `kernel` launch with `bytes` of dynamic shared memory on the current device: raises its
/// limit past the 48 KB default only when `limit` records less for this device, so the driver is
/// not called on every launch. nullptr or CUDA's error string.
template <class Kernel>
const char* allow_shared_memory(Kernel kernel, std::size_t bytes, SharedMemoryLimit& limit) {
  if (bytes <= 48 * 1024) return nullptr;
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) device = -1;
  const bool known = device >= 0 && device < SharedMemoryLimit::kDevices;
  if (known && bytes <= limit.bytes[device].load()) return nullptr;
  const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(bytes));
  if (e != cudaSuccess) return cudaGetErrorString(e);
  if (known) limit.bytes[device] = bytes;
  return nullptr;
}

/// Programmatic dependent launch (Hopper): a kernel launched by launch_dependent may start its
/// blocks while the kernel before it in the stream finishes its last ones (measured on an H100 at
/// 1080p: gray-guide guided filter 113.6 → 110.2 µs, box 32.5 → 30.9 µs). Such a kernel calls
/// await_previous_grid() before it touches global memory, and allow_next_grid() to let the next
/// one start early likewise. Both are no-ops before sm_90 and for ordinary launches.
__device__ inline void await_previous_grid() {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ inline void allow_next_grid() {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::);
#endif
}

/// Launches kernel<<<grid, threads, bytes, stream>>>(args...) as a programmatic dependent launch;
/// nullptr or CUDA's error string.
template <class... Params, class... Args>
const char* launch_dependent(void (*kernel)(Params...), dim3 grid, int threads, std::size_t bytes,
                             cudaStream_t stream, Args... args) {
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = dim3(threads);
  config.dynamicSmemBytes = bytes;
  config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = 1;
  const cudaError_t e = cudaLaunchKernelEx(&config, kernel, args...);
  return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

/// Strided N×C×H×W device view whose element offsets all fit in int (checked on the host, in
/// fused.cpp), so index arithmetic is 32-bit: one integer multiply-add per coordinate.
template <class T>
struct View {
  T* data;
  int sn, sc, sh, sw;

  __device__ int offset(int n, int c, int y, int x) const {
    return n * sn + c * sc + y * sh + x * sw;
  }
  __device__ T* at(int n, int c, int y, int x) const { return data + offset(n, c, y, x); }
  __device__ float get(int n, int c, int y, int x) const { return to_float(*at(n, c, y, x)); }
  __device__ void set(int n, int c, int y, int x, float v) const {
    data[offset(n, c, y, x)] = from_float<T>(v);
  }
};

/// 1/n for window pixel counts n = 1 .. 2·kMaxRadius + 1, correctly rounded (as __frcp_rn), read
/// by whole warps at one index (one row's count), so constant memory broadcasts it.
struct Inverses {
  float of[2 * kMaxRadius + 2];
};
constexpr Inverses make_inverses() {
  Inverses t{};
  for (int n = 1; n < 2 * kMaxRadius + 2; ++n) t.of[n] = 1.f / static_cast<float>(n);
  return t;
}
__constant__ constexpr Inverses kInverses = make_inverses();

/// The number of in-image pixels of the window [i - r, i + r] on an axis of `size` pixels.
__device__ __forceinline__ int window_count(int i, int r, int size) {
  return min(i + r, size - 1) - max(i - r, 0) + 1;
}

/// What an Op's slice z is: image n and (first) channel c, decoded once per thread.
struct Slice {
  int n, c;
};

// The quantities of row y at the thread's C columns x .. x + C - 1 (zero outside the image).
template <class Op, int C>
__device__ inline void load_row(const Op& op, const Slice& z, int y, int x, int height, int width,
                                float (&v)[C][Op::K]) {
#pragma unroll
  for (int j = 0; j < C; ++j) {
    if (y >= 0 && y < height && x + j >= 0 && x + j < width) {
      float raw[Op::R];
      op.raw(z, y, x + j, raw);
      Op::quantities(raw, v[j]);
    } else {
#pragma unroll
      for (int k = 0; k < Op::K; ++k) v[j][k] = 0.f;
    }
  }
}

/// Inclusive prefix sums over the block's columns (C consecutive columns per thread) of each of
/// the K column sums. Column t·C + j is stored at prefix[k·span + j·threads + t] (bank-conflict
/// free for the reads in sweep_kernel); `totals` holds K × 32 floats.
template <int K, int C>
__device__ inline void block_prefix(const float (&column)[C][K], float* prefix, float* totals) {
  const int t = threadIdx.x, lane = t & 31, warp = t >> 5, warps = blockDim.x >> 5;
  const int threads = blockDim.x, span = threads * C;
  float local[C][K];
  float offset[K];
#pragma unroll
  for (int k = 0; k < K; ++k) {
    float run = 0.f;
#pragma unroll
    for (int j = 0; j < C; ++j) local[j][k] = run += column[j][k];
    float s = run;  // inclusive scan of the thread totals within the warp
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const float u = __shfl_up_sync(0xffffffffu, s, o);
      if (lane >= o) s += u;
    }
    if (lane == 31) totals[k * 32 + warp] = s;
    offset[k] = s - run;
  }
  __syncthreads();
  if (warp == 0)
#pragma unroll
    for (int k = 0; k < K; ++k) {
      float w = lane < warps ? totals[k * 32 + lane] : 0.f;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const float u = __shfl_up_sync(0xffffffffu, w, o);
        if (lane >= o) w += u;
      }
      totals[k * 32 + lane] = w;
    }
  __syncthreads();
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const float base = offset[k] + (warp > 0 ? totals[k * 32 + warp - 1] : 0.f);
#pragma unroll
    for (int j = 0; j < C; ++j) prefix[k * span + j * threads + t] = base + local[j][k];
  }
  __syncthreads();
}

template <class Op>
__global__ void sweep_kernel(const Op op, int height, int width, int r, int rows) {
  constexpr int K = Op::K, C = Op::kColumnsPerThread;
  extern __shared__ float shared[];
  const int threads = blockDim.x, t = threadIdx.x, span = threads * C;
  float* prefix = shared;             // K × span
  float* totals = shared + K * span;  // K × 32
  const Slice z = op.slice(blockIdx.z);
  const int x0 = blockIdx.x * (span - 2 * r) - r + t * C;  // the thread's first column
  const int y0 = blockIdx.y * rows, y1 = min(height, y0 + rows);
  await_previous_grid();
  allow_next_grid();

  // Start from the window of row y0 - 1, rows [y0 - r - 1, y0 + r - 1]; each step then adds row
  // y + r and drops row y - r - 1. (Loading the next row's values one step ahead, to hide their
  // latency behind the prefix sum, measured slower: more registers, fewer resident blocks.)
  float column[C][K], row[C][K];
#pragma unroll
  for (int j = 0; j < C; ++j)
#pragma unroll
    for (int k = 0; k < K; ++k) column[j][k] = 0.f;
  const auto add_row = [&](int y, float sign) {
    load_row(op, z, y, x0, height, width, row);
#pragma unroll
    for (int j = 0; j < C; ++j)
#pragma unroll
      for (int k = 0; k < K; ++k) column[j][k] = fmaf(sign, row[j][k], column[j][k]);
  };
  for (int y = max(0, y0 - r - 1); y < min(height, y0 + r); ++y) add_row(y, 1.f);

  for (int y = y0; y < y1; ++y) {
    if (y + r < height) add_row(y + r, 1.f);
    if (y - r - 1 >= 0) add_row(y - r - 1, -1.f);
    block_prefix<K, C>(column, prefix, totals);
    const float inv_rows = kInverses.of[window_count(y, r, height)];
#pragma unroll
    for (int j = 0; j < C; ++j) {
      const int c = t * C + j, x = x0 + j;  // block column, image column
      if (c < r || c >= span - r || x >= width) continue;
      const int hi = c + r, lo = c - r - 1;
      const float inv = inv_rows * kInverses.of[window_count(x, r, width)];
      float mean[K], center[Op::R];
#pragma unroll
      for (int k = 0; k < K; ++k) {
        const float a = prefix[k * span + (hi % C) * threads + hi / C];
        const float b = lo >= 0 ? prefix[k * span + (lo % C) * threads + lo / C] : 0.f;
        mean[k] = (a - b) * inv;
      }
      op.raw(z, y, x, center);  // loads that the Op's emit does not use are dropped
      op.emit(z, y, x, mean, center);
    }
  }
}

/// Launches op over `slices` slices of height × width; returns nullptr or CUDA's error string.
template <class Op>
const char* sweep(const Op& op, int slices, int height, int width, int r, cudaStream_t stream) {
  constexpr int C = Op::kColumnsPerThread;
  static const cudaFuncAttributes attributes = [] {  // once per Op type
    cudaFuncAttributes a{};
    if (cudaFuncGetAttributes(&a, sweep_kernel<Op>) != cudaSuccess) a.maxThreadsPerBlock = 0;
    return a;
  }();
  if (attributes.maxThreadsPerBlock == 0) return "cannot query the fused CUDA kernel";
  // Block span (threads × C columns) about 8r, so that at least 3/4 of the columns emit, within
  // what the kernel's register use allows.
  const int max_threads = (attributes.maxThreadsPerBlock / 32) * 32;
  int threads = ((8 * r + C - 1) / C + 31) / 32 * 32;
  const int min_threads = 128;
  threads = threads < min_threads ? min_threads : (threads > max_threads ? max_threads : threads);
  const int span = threads * C, columns_per_block = span - 2 * r;
  if (columns_per_block < 32) return "box window radius too large for the fused CUDA kernel";
  const int grid_x = (width + columns_per_block - 1) / columns_per_block;
  // About 8 blocks per multiprocessor; each block walks `rows` rows after a warm-up of 2r + 1
  // rows, so at least 2r rows. (Tried on an H200 at 1080p: more, shorter blocks, 1-2 warp blocks
  // and 2 or 4 columns per thread were all 10-40% slower.)
  static const int sms = [] {  // of the first device used; only a launch-shape heuristic
    int device = 0, count = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device);
    return count;
  }();
  const long long want_blocks = 8LL * (sms > 0 ? sms : 80);
  const long long strips = static_cast<long long>(grid_x) * slices;
  const long long want_y = (want_blocks + strips - 1) / strips;
  int rows = static_cast<int>((height + want_y - 1) / want_y);
  const int min_rows = 2 * r > 16 ? 2 * r : 16;
  if (rows < min_rows) rows = min_rows;
  if (rows > height) rows = height;
  const dim3 grid(grid_x, (height + rows - 1) / rows, slices);
  const std::size_t bytes = sizeof(float) * static_cast<std::size_t>(Op::K) * (span + 32);
  static SharedMemoryLimit limit;  // per Op type
  if (const char* error = allow_shared_memory(sweep_kernel<Op>, bytes, limit)) return error;
  return launch_dependent(sweep_kernel<Op>, grid, threads, bytes, stream, op, height, width, r,
                          rows);
}

}  // namespace strata::filter::cuda
