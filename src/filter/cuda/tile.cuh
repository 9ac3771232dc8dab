// The tile: box-window means of K per-pixel quantities for one output tile per thread block, fully
// parallel (no serial walk over rows), for small radii.
//
// A block owns output columns x0 .. x0 + 31 and rows y0 .. y0 + rows - 1 of one slice z. It
//   1. stages the raw values of every pixel of the tile plus its r-wide border in shared memory
//      (zero outside the image; cp.async for float32 values), and the Op's center-only raw values
//      (kCenter, e.g. the guide of the apply stage) of the tile's own pixels;
//   2. takes horizontal window sums of the K quantities (computed from the raw values) for each
//      of the rows + 2r staged rows and the 32 output columns: a thread slides along a run of
//      Op::kRun columns (O(1) per pixel after its first window), lanes on consecutive rows;
//   3. takes the vertical window sums of those: a thread slides down a run of rows of one
//      column, lanes on consecutive columns, and hands the K means and the pixel's own
//      center-only raw values to the Op's epilogue.
// Out-of-image pixels count as zero and means divide by the number of in-image pixels
// (border-clipped windows), as in the sweep. Every sliding sum restarts per run of at most
// `rows` steps, so float drift stays bounded. Shared memory grows with (32 + 2r)(rows + 2r), so the
// tile is for r up to kTileMaxRadius; the sweep takes larger radii.
//
// Ops are the sweep's (sweep.cuh); here quantities(v, q) must give q = 0 for v = 0.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "sweep.cuh"  // View, Slice

namespace strata::filter::cuda {

constexpr int kTileWidth = 32;     // output columns per block (one warp's lanes in step 3)
constexpr int kTileThreads = 256;  // threads per block
constexpr int kTileLoads = 8;      // pixels per thread in flight in step 1 (16: slower)
constexpr int kTileMaxRadius = 16;

/// Shared-memory floats of one block: raw values (planes, or interleaved per pixel; odd row stride:
/// conflict-free column walks) and horizontal sums (row stride 33).
__host__ __device__ constexpr int tile_raw_stride(int r) { return (kTileWidth + 2 * r) | 1; }

/// Raw values staged with the tile's border (the first R - kCenter); the last Op::kCenter are
/// staged for the tile's own pixels only, for the epilogue.
template <class Op>
constexpr int kHaloed = Op::R - Op::kCenter;

template <class Op>
__host__ __device__ constexpr std::size_t tile_floats(int r, int rows) {
  return static_cast<std::size_t>(rows + 2 * r) *
             (kHaloed<Op> * tile_raw_stride(r) + Op::K * (kTileWidth + 1)) +
         static_cast<std::size_t>(Op::kCenter) * rows * kTileWidth;
}

/// Where staged raw value k of staged pixel `at` lies: in its own plane, or for an Op with
/// kInterleaved beside the pixel's other values (an Op with kPacked copies them by one 8- or
/// 16-byte cp.async).
template <class Op>
__device__ __forceinline__ int raw_index(int plane, int at, int k) {
  return Op::kInterleaved ? at * kHaloed<Op> + k : k * plane + at;
}

template <class Op>
__device__ inline void tile_quantities(const float* raw, int plane, int at, float (&q)[Op::K]) {
  constexpr int H = kHaloed<Op>;
  float v[Op::R] = {};  // quantities() reads only the haloed values
  if constexpr (Op::kInterleaved && H == 2) {
    const float2 u = reinterpret_cast<const float2*>(raw)[at];
    v[0] = u.x, v[1] = u.y;
  } else if constexpr (Op::kInterleaved && H == 4) {
    const float4 u = reinterpret_cast<const float4*>(raw)[at];
    v[0] = u.x, v[1] = u.y, v[2] = u.z, v[3] = u.w;
  } else {
#pragma unroll
    for (int k = 0; k < H; ++k) v[k] = raw[raw_index<Op>(plane, at, k)];
  }
  Op::quantities(v, q);
}

/// Copies N consecutive floats (N = 1, 2 or 4; 4N-byte aligned) from global to shared memory
/// asynchronously (cp.async); zeros when !fill.
template <int N = 1>
__device__ inline void copy_async(float* shared_dst, const float* src, bool fill) {
  static_assert(N == 1 || N == 2 || N == 4, "cp.async copies 4, 8 or 16 bytes");
#if __CUDA_ARCH__ >= 800
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(shared_dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(dst), "l"(src), "n"(4 * N),
               "r"(fill ? 4 * N : 0));
#else
#pragma unroll
  for (int k = 0; k < N; ++k) shared_dst[k] = fill ? src[k] : 0.f;
#endif
}

/// Waits for this thread's copy_async copies.
__device__ inline void wait_copies() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_all;\n" ::);
#endif
}

/// Launch constants of the tile, computed once on the host so that the kernel's prologue has no
/// integer division: thread t stages staged pixel t first (row t / staged columns, found with
/// inv_staged_cols), then every kTileThreads-th, each step_y rows and step_x columns further on
/// (with wrap-around).
struct TileShape {
  int r, rows, step_y, step_x;
  float inv_staged_cols;
  int slices;
};

/// Step 1 of the tile: thread t stages pixels t, t + T, t + 2T, ... of the staged block (rows
/// sy0 .., columns sx0 .. of the image) in row-major order: T threads, all busy, consecutive
/// threads on consecutive columns. Float32 raw values go by cp.async straight into shared memory
/// (the caller waits for them: wait_copies); others through registers, kTileLoads pixels' loads
/// in flight before any store (a loop of load-then-store would wait out the memory latency once
/// per pixel). Outside the image the values
/// are zero, loaded from clamped coordinates so that every load is unconditional; an Interior
/// block (staged block inside the image) skips the clamping.
template <class Op, bool Interior>
__device__ inline void stage(const Op& op, const Slice& z, float* raw, int raw_plane, int stride,
                             int staged_rows, int staged_cols, int sy0, int sx0, int height,
                             int width, const TileShape& shape) {
  constexpr int H = kHaloed<Op>;
  const int staged = staged_rows * staged_cols, t = threadIdx.x;
  int sy = __float2int_rz((static_cast<float>(t) + 0.5f) * shape.inv_staged_cols);
  int sx = t - sy * staged_cols;
  const auto next = [&] {
    sy += shape.step_y;
    sx += shape.step_x;
    if (sx >= staged_cols) sx -= staged_cols, ++sy;
  };
  // The pixel's clamped coordinates; false if it lies outside the image.
  const auto locate = [&](int& y, int& x) {
    y = sy0 + sy, x = sx0 + sx;
    if (Interior) return true;
    const bool inside = y >= 0 && y < height && x >= 0 && x < width;
    y = min(max(y, 0), height - 1), x = min(max(x, 0), width - 1);
    return inside;
  };
  if constexpr (Op::kAsync) {
#pragma unroll 4
    for (int i = t; i < staged; i += kTileThreads) {
      int y, x;
      const bool inside = locate(y, x);
      const int at = sy * stride + sx;
      if constexpr (Op::kPacked)
        copy_async<H>(raw + raw_index<Op>(raw_plane, at, 0), op.address(z, 0, y, x), inside);
      else
#pragma unroll
        for (int k = 0; k < H; ++k)
          copy_async(raw + raw_index<Op>(raw_plane, at, k), op.address(z, k, y, x), inside);
      next();
    }  // the kernel waits for the copies, with the center-only ones (one memory latency)
  } else {
    for (int i0 = t; i0 < staged; i0 += kTileThreads * kTileLoads) {
      float v[kTileLoads][Op::R];
      int at[kTileLoads];
#pragma unroll
      for (int u = 0; u < kTileLoads; ++u) {
        int y, x;
        const bool inside = locate(y, x), in_block = i0 + u * kTileThreads < staged;
        // Past the staged block an Interior block's rows may leave the image: load any pixel
        // of the block instead (the value is dropped; skipping the load was slower, 57 → 70 µs).
        if (Interior && !in_block) y = sy0, x = sx0;
        op.raw(z, y, x, v[u]);
        if (!inside)
#pragma unroll
          for (int k = 0; k < H; ++k) v[u][k] = 0.f;
        at[u] = in_block ? sy * stride + sx : -1;
        next();
      }
#pragma unroll
      for (int u = 0; u < kTileLoads; ++u)
        if (at[u] >= 0)
#pragma unroll
          for (int k = 0; k < H; ++k) raw[raw_index<Op>(raw_plane, at[u], k)] = v[u][k];
    }
  }
}

/// Stages the center-only raw values of the tile's own pixels (rows y0 .., columns x0 ..); the
/// caller waits for the copies.
template <class Op>
__device__ inline void stage_center(const Op& op, const Slice& z, float* center_raw, int rows,
                                    int y0, int x0, int height, int width) {
  constexpr int H = kHaloed<Op>, W = kTileWidth;
  for (int i = threadIdx.x; i < rows * W; i += kTileThreads) {
    const int y = min(y0 + i / W, height - 1), x = min(x0 + i % W, width - 1);
    if constexpr (Op::kAsyncCenter) {
#pragma unroll
      for (int k = H; k < Op::R; ++k)
        copy_async(center_raw + (k - H) * rows * W + i, op.address(z, k, y, x), true);
    } else {
#pragma unroll
      for (int k = H; k < Op::R; ++k)
        center_raw[(k - H) * rows * W + i] = op.center_value(z, k, y, x);
    }
  }
}

template <class Op>
__global__ void __launch_bounds__(kTileThreads)
    tile_kernel(const Op op, int height, int width, const TileShape shape) {
  static_assert(!Op::kPacked || (Op::kInterleaved && (kHaloed<Op> == 2 || kHaloed<Op> == 4)),
                "packed raw values are copied as 8 or 16 bytes");
  static_assert(kTileWidth % Op::kRun == 0, "runs split the tile's columns");
  const int r = shape.r, rows = shape.rows;
  constexpr int R = Op::R, K = Op::K, W = kTileWidth, HS = kTileWidth + 1;
  extern __shared__ __align__(16) float tile_shared[];  // packed raw values: 8- or 16-byte copies
  const int staged_rows = rows + 2 * r, staged_cols = W + 2 * r, stride = tile_raw_stride(r);
  const int raw_plane = staged_rows * stride, sum_plane = staged_rows * HS;
  float* raw = tile_shared;  // kHaloed × staged_rows × stride floats, planar or interleaved
  float* hsum = tile_shared + kHaloed<Op> * raw_plane;  // K × staged_rows × HS
  float* center_raw = hsum + K * sum_plane;             // kCenter × rows × W
  // The tile's column, row and slice (see tile() for the recent-first order).
  int bx = blockIdx.x, by = blockIdx.y, bz = blockIdx.z;
  if constexpr (Op::kRecentFirst)
    bz = blockIdx.x % shape.slices, bx = blockIdx.x / shape.slices, by = gridDim.y - 1 - by;
  const int x0 = bx * W, y0 = by * rows, t = threadIdx.x;
  const Slice z = op.slice(bz);
  await_previous_grid();
  allow_next_grid();

  // 1. Stage the haloed raw values of the staged block, then the center-only ones of the tile.
  if (x0 - r >= 0 && x0 + W + r <= width && y0 - r >= 0 && y0 + rows + r <= height)
    stage<Op, true>(op, z, raw, raw_plane, stride, staged_rows, staged_cols, y0 - r, x0 - r, height,
                    width, shape);
  else
    stage<Op, false>(op, z, raw, raw_plane, stride, staged_rows, staged_cols, y0 - r, x0 - r,
                     height, width, shape);
  if constexpr (Op::kCenter > 0) stage_center(op, z, center_raw, rows, y0, x0, height, width);
  wait_copies();
  __syncthreads();

  // 2. Horizontal sums over staged columns c .. c + 2r for output column c of every staged row.
  constexpr int run = Op::kRun, runs = W / run;
  for (int task = t; task < staged_rows * runs; task += blockDim.x) {
    const int sy = task % staged_rows, c0 = (task / staged_rows) * run;
    const int row = sy * stride;
    float s[K], q[K];
#pragma unroll
    for (int k = 0; k < K; ++k) s[k] = 0.f;
    for (int sx = c0; sx <= c0 + 2 * r; ++sx) {
      tile_quantities<Op>(raw, raw_plane, row + sx, q);
#pragma unroll
      for (int k = 0; k < K; ++k) s[k] += q[k];
    }
#pragma unroll
    for (int j = 0; j < run; ++j) {
      if (j > 0) {
        float out[K];
        tile_quantities<Op>(raw, raw_plane, row + c0 + j + 2 * r, q);
        tile_quantities<Op>(raw, raw_plane, row + c0 + j - 1, out);
#pragma unroll
        for (int k = 0; k < K; ++k) s[k] += q[k] - out[k];
      }
#pragma unroll
      for (int k = 0; k < K; ++k) hsum[k * sum_plane + sy * HS + c0 + j] = s[k];
    }
  }
  __syncthreads();

  // 3. Vertical sums over staged rows i .. i + 2r for output row i, then the epilogue.
  const int column = t % W, groups = blockDim.x / W, x = x0 + column;
  const int per_group = (rows + groups - 1) / groups;
  const int i0 = (t / W) * per_group, i1 = min(min(rows, i0 + per_group), height - y0);
  if (x >= width || i0 >= i1) return;
  const float inv_cols = kInverses.of[window_count(x, r, width)];
  float s[K];
#pragma unroll
  for (int k = 0; k < K; ++k) s[k] = 0.f;
  for (int i = i0; i <= i0 + 2 * r; ++i)
#pragma unroll
    for (int k = 0; k < K; ++k) s[k] += hsum[k * sum_plane + i * HS + column];
  for (int i = i0; i < i1; ++i) {
    if (i > i0)
#pragma unroll
      for (int k = 0; k < K; ++k)
        s[k] += hsum[k * sum_plane + (i + 2 * r) * HS + column] -
                hsum[k * sum_plane + (i - 1) * HS + column];
    const int y = y0 + i;
    const float inv = inv_cols * kInverses.of[window_count(y, r, height)];
    float mean[K], center[R];
#pragma unroll
    for (int k = 0; k < K; ++k) mean[k] = s[k] * inv;
#pragma unroll
    for (int k = 0; k < R; ++k)
      center[k] = k < kHaloed<Op> ? 0.f : center_raw[((k - kHaloed<Op>)*rows + i) * W + column];
    op.emit(z, y, x, mean, center);
  }
}

/// The tile's rows per block for radius r: the tallest of 64, 32, 16 whose shared memory leaves
/// room for at least two blocks per multiprocessor (110 KB), else for one (200 KB; the colour
/// guide's 21 quantities); 0 if none does (then the sweep runs). Measured at 1080p, r = 8: 64 rows
/// beat 32 and 16 (box 39 against 52 µs on an H200); for the gray guide's 8 shared quantities two
/// blocks of 32 rows beat three of 16 and one of 64 (59 against 67 and 67 µs on an H100); one
/// block of the colour guide's quantities per multiprocessor beat two blocks of one input channel
/// each.
/// Only tiles within what the device lets a block use (max_bytes) count: 99 KB on some GPUs.
template <class Op>
int tile_rows(int r, std::size_t max_bytes) {
  if (r > kTileMaxRadius) return 0;
  for (const std::size_t kb : {110, 200})
    for (const int rows : {64, 32, 16}) {
      const std::size_t bytes = tile_floats<Op>(r, rows) * sizeof(float);
      if (bytes <= kb * 1024 && bytes <= max_bytes) return rows;
    }
  return 0;
}

/// Launches op over `slices` slices with `rows` from tile_rows; nullptr or CUDA's error string.
template <class Op>
const char* tile(const Op& op, int slices, int height, int width, int r, int rows,
                 cudaStream_t stream) {
  const std::size_t bytes = tile_floats<Op>(r, rows) * sizeof(float);
  static SharedMemoryLimit limit;  // per Op type
  if (const char* error = allow_shared_memory(tile_kernel<Op>, bytes, limit)) return error;
  // Blocks start in about grid order (x fastest). An Op with kRecentFirst reads what the kernel
  // before it wrote (the apply stage, the coefficients): it walks the tiles bottom-up with
  // the slices of a tile side by side, so it first reads the rows written last, still in L2
  // (measured on an H100 at 1080p, r = 8: gray-guide filter 111.6 → 108.4 µs, colour guide
  // 274 → 267 µs).
  const int tiles_x = (width + kTileWidth - 1) / kTileWidth, tiles_y = (height + rows - 1) / rows;
  const dim3 grid =
      Op::kRecentFirst ? dim3(tiles_x * slices, tiles_y, 1) : dim3(tiles_x, tiles_y, slices);
  const int staged_cols = kTileWidth + 2 * r;
  const TileShape shape{r,
                        rows,
                        kTileThreads / staged_cols,
                        kTileThreads % staged_cols,
                        1.f / static_cast<float>(staged_cols),
                        slices};
  return launch_dependent(tile_kernel<Op>, grid, kTileThreads, bytes, stream, op, height, width,
                          shape);
}

}  // namespace strata::filter::cuda
