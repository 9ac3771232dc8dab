// The strip walk: box-window filters of one or two stages in one kernel, each warp on its own.
//
// A warp owns a strip of S = 32·C image columns (C consecutive columns per lane) and a band of
// output rows, and walks down the rows. Per row it keeps, in registers, the running column sums
// of the K per-pixel quantities over the vertical window (add the new row, drop the old one, as
// the sweep does), takes the row's horizontal window sums from a warp-wide prefix sum (shuffles,
// then a shared-memory scratch row read at c ± r: no block-wide barrier anywhere), and hands the
// K window means to the Op:
// - one stage (box mean): op.emit(z, y, x, mean[K]); S − 2r columns emit.
// - two stages (guided filter): op.coefficients(z, y, x, mean[K], coef[J]) for every image row y,
//   then the same walk over the coefficients, one window radius behind: their running column sums
//   drop the row 2r + 1 rows back, which each lane keeps in its own slots of a shared-memory ring
//   of 2r + 1 rows, and op.emit(z, y, x, mean[J]) gets the coefficients' window means. S − 4r
//   columns emit.
// Windows are border-clipped and count-normalised: out-of-image pixels (and coefficients) count
// as zero and the means divide by the in-image count. The sums restart in every band, so float
// drift stays bounded by the band height.
#pragma once

#include <cuda_runtime.h>

#include "sweep.cuh"

namespace strata::filter::cuda {

/// Window counts along one axis: |[i − r, i + r] ∩ [0, n)|.
__device__ inline float window_count(int i, int r, int n) {
  return static_cast<float>(min(i + r, n - 1) - max(i - r, 0) + 1);
}

/// Stores the warp's inclusive prefix sums of Q quantities over its 32·C columns in `scratch`
/// (Q × 32·C floats; column c of quantity q at (q·C + c % C)·32 + c / C, bank-conflict free for
/// reads at a lane-uniform offset).
template <int Q, int C>
__device__ inline void warp_prefix(const float (&v)[C][Q], float* scratch) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int q = 0; q < Q; ++q) {
    float local[C], run = 0.f;
#pragma unroll
    for (int j = 0; j < C; ++j) local[j] = run += v[j][q];
    float s = run;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const float u = __shfl_up_sync(0xffffffffu, s, o);
      if (lane >= o) s += u;
    }
    const float base = s - run;
#pragma unroll
    for (int j = 0; j < C; ++j) scratch[(q * C + j) * 32 + lane] = base + local[j];
  }
  __syncwarp();
}

/// Σ over columns [c − r, c + r] of quantity q from warp_prefix's scratch; c + r < 32·C.
template <int C>
__device__ inline float window_sum(const float* scratch, int q, int c, int r) {
  const int hi = c + r, lo = c - r - 1;
  const float a = scratch[(q * C + hi % C) * 32 + hi / C];
  return lo >= 0 ? a - scratch[(q * C + lo % C) * 32 + lo / C] : a;
}

/// Adds sign × the quantities of row y at the lane's columns x .. x + C − 1 (in-image only).
template <class Op, int C>
__device__ inline void accumulate_row(const Op& op, int z, int y, int x, int width, float sign,
                                      float (&sums)[C][Op::K]) {
#pragma unroll
  for (int j = 0; j < C; ++j) {
    if (x + j < 0 || x + j >= width) continue;
    float v[Op::K];
    op.load(z, y, x + j, v);
#pragma unroll
    for (int k = 0; k < Op::K; ++k) sums[j][k] = fmaf(sign, v[k], sums[j][k]);
  }
}

/// Which slice, band and strip warp g of the grid walks.
struct StripTask {
  int z, band, strip;
};

__device__ inline bool strip_task(int warps_per_block, int strips, int bands, int slices,
                                  StripTask& task) {
  const long long g = static_cast<long long>(blockIdx.x) * warps_per_block + (threadIdx.x >> 5);
  task.strip = static_cast<int>(g % strips);
  task.band = static_cast<int>((g / strips) % bands);
  task.z = static_cast<int>(g / (static_cast<long long>(strips) * bands));
  return task.z < slices;
}

struct StripShape {
  int height, width, r, band_rows, strips, bands, slices, warps_per_block;
};

/// One stage: op.emit gets the K window means of every pixel of the warp's band.
template <class Op, int C>
__global__ void strip_box_kernel(const Op op, const StripShape s) {
  constexpr int K = Op::K, S = 32 * C;
  extern __shared__ float shared[];
  StripTask t;
  if (!strip_task(s.warps_per_block, s.strips, s.bands, s.slices, t)) return;
  float* scratch = shared + (threadIdx.x >> 5) * K * S;
  const int lane = threadIdx.x & 31, r = s.r;
  const int x_lane = t.strip * (S - 2 * r) - r + lane * C;
  const int y0 = t.band * s.band_rows, y1 = min(s.height, y0 + s.band_rows);
  float column[C][K] = {};
  for (int y = max(0, y0 - r - 1); y < min(s.height, y0 + r); ++y)
    accumulate_row(op, t.z, y, x_lane, s.width, 1.f, column);
  for (int y = y0; y < y1; ++y) {
    if (y + r < s.height) accumulate_row(op, t.z, y + r, x_lane, s.width, 1.f, column);
    if (y - r - 1 >= 0) accumulate_row(op, t.z, y - r - 1, x_lane, s.width, -1.f, column);
    warp_prefix<K, C>(column, scratch);
    const float inv_rows = 1.f / window_count(y, r, s.height);
#pragma unroll
    for (int j = 0; j < C; ++j) {
      const int c = lane * C + j, x = x_lane + j;
      if (c < r || c >= S - r || x >= s.width) continue;
      const float inv = inv_rows / window_count(x, r, s.width);
      float mean[K];
#pragma unroll
      for (int k = 0; k < K; ++k) mean[k] = window_sum<C>(scratch, k, c, r) * inv;
      op.emit(t.z, y, x, mean);
    }
    __syncwarp();
  }
}

/// Two stages: coefficients from the K window means, then op.emit gets the J coefficients'
/// window means.
template <class Op, int C>
__global__ void strip_two_stage_kernel(const Op op, const StripShape s) {
  constexpr int K = Op::K, J = Op::J, S = 32 * C, Q = K > J ? K : J;
  extern __shared__ float shared[];
  StripTask t;
  if (!strip_task(s.warps_per_block, s.strips, s.bands, s.slices, t)) return;
  const int lane = threadIdx.x & 31, r = s.r, ring_rows = 2 * r + 1;
  float* scratch = shared + (threadIdx.x >> 5) * (Q + ring_rows * J) * S;
  float* ring = scratch + Q * S;  // [row slot][J][C][32 lanes]
  const int x_lane = t.strip * (S - 4 * r) - 2 * r + lane * C;
  const int y0 = t.band * s.band_rows, y1 = min(s.height, y0 + s.band_rows);
  const int h = s.height, w = s.width;

  // Stage-1 column sums over rows [yc − r, yc + r]; start from the window of yc = y0 − r − 1.
  float column[C][K] = {};
  for (int y = max(0, y0 - 2 * r - 1); y < min(h, y0); ++y)
    accumulate_row(op, t.z, y, x_lane, w, 1.f, column);
  float coef_column[C][J] = {};  // stage-2 column sums over coefficient rows [yo − r, yo + r]
  for (int yc = y0 - r; yc < y1 + r; ++yc) {
    if (yc + r < h) accumulate_row(op, t.z, yc + r, x_lane, w, 1.f, column);
    if (yc - r - 1 >= 0) accumulate_row(op, t.z, yc - r - 1, x_lane, w, -1.f, column);
    float coef[C][J] = {};
    if (yc >= 0 && yc < h) {
      warp_prefix<K, C>(column, scratch);
      const float inv_rows = 1.f / window_count(yc, r, h);
#pragma unroll
      for (int j = 0; j < C; ++j) {
        const int c = lane * C + j, x = x_lane + j;
        if (c < r || c >= S - r || x < 0 || x >= w) continue;
        const float inv = inv_rows / window_count(x, r, w);
        float mean[K];
#pragma unroll
        for (int k = 0; k < K; ++k) mean[k] = window_sum<C>(scratch, k, c, r) * inv;
        op.coefficients(t.z, yc, x, mean, coef[j]);
      }
      __syncwarp();
    }
    // The ring slot of row yc held row yc − 2r − 1 (when this walk stored it).
    float* slot = ring + ((yc - (y0 - r)) % ring_rows) * J * C * 32 + lane;
    const bool drop = yc - 2 * r - 1 >= y0 - r;
#pragma unroll
    for (int j = 0; j < C; ++j)
#pragma unroll
      for (int k = 0; k < J; ++k) {
        float& kept = slot[(k * C + j) * 32];
        coef_column[j][k] += drop ? coef[j][k] - kept : coef[j][k];
        kept = coef[j][k];
      }
    const int yo = yc - r;
    if (yo < y0) continue;
    warp_prefix<J, C>(coef_column, scratch);
    const float inv_rows = 1.f / window_count(yo, r, h);
#pragma unroll
    for (int j = 0; j < C; ++j) {
      const int c = lane * C + j, x = x_lane + j;
      if (c < 2 * r || c >= S - 2 * r || x >= w) continue;
      const float inv = inv_rows / window_count(x, r, w);
      float mean[J];
#pragma unroll
      for (int k = 0; k < J; ++k) mean[k] = window_sum<C>(scratch, k, c, r) * inv;
      op.emit(t.z, yo, x, mean);
    }
    __syncwarp();
  }
}

/// Launch tuning of the strip walk (the defaults suit an H100/H200 at 1080p).
struct StripTuning {
  int columns_per_lane = 4;  ///< C: 2 or 4
  int band_rows = 0;         ///< output rows per warp; 0: chosen from the image and the GPU
};

/// The largest radius the strip walk takes for `stages` stages with C columns per lane (each
/// strip must keep at least 32 emitting columns).
__host__ __device__ constexpr int strip_max_radius(int stages, int columns_per_lane) {
  return (32 * columns_per_lane - 32) / (2 * stages);
}

/// Shared memory of one warp, in bytes.
inline std::size_t strip_warp_bytes(int k, int j, int r, int columns_per_lane) {
  const int q = k > j ? k : j, rows = j > 0 ? 2 * r + 1 : 0;
  return sizeof(float) * static_cast<std::size_t>(q + rows * j) * 32 * columns_per_lane;
}

inline int multiprocessors() {
  static const int sms = [] {  // of the first device used; only a launch-shape heuristic
    int device = 0, count = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device);
    return count > 0 ? count : 80;
  }();
  return sms;
}

/// Grid shape: about four resident warps' worth of work per SM slot, bands of at least 4r rows.
inline StripShape strip_shape(int slices, int height, int width, int r, int stages, int c,
                              std::size_t warp_bytes, const StripTuning& tuning) {
  StripShape s{};
  s.height = height;
  s.width = width;
  s.r = r;
  s.slices = slices;
  s.strips = (width + (32 * c - 2 * stages * r) - 1) / (32 * c - 2 * stages * r);
  const long long resident =
      static_cast<long long>(multiprocessors()) *
      (warp_bytes > 0 ? std::min<long long>(48, 200 * 1024 / warp_bytes) : 48);
  int rows = tuning.band_rows;
  if (rows <= 0) {
    const long long columns = static_cast<long long>(s.strips) * slices;
    rows = static_cast<int>((height * columns + 2 * resident - 1) / (2 * resident));
    rows = std::max(rows, std::max(16, 4 * r));
  }
  s.band_rows = std::min(rows, height);
  s.bands = (height + s.band_rows - 1) / s.band_rows;
  s.warps_per_block = static_cast<int>(std::max<std::size_t>(
      1, std::min<std::size_t>(4, 96 * 1024 / std::max<std::size_t>(warp_bytes, 1))));
  return s;
}

template <class Kernel, class Op>
const char* launch_strip(Kernel kernel, const Op& op, const StripShape& s, std::size_t warp_bytes,
                         cudaStream_t stream) {
  const std::size_t bytes = warp_bytes * s.warps_per_block;
  if (bytes > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(bytes));
    if (e != cudaSuccess) return cudaGetErrorString(e);
  }
  const long long warps = static_cast<long long>(s.slices) * s.bands * s.strips;
  const long long blocks = (warps + s.warps_per_block - 1) / s.warps_per_block;
  kernel<<<static_cast<unsigned>(blocks), 32 * s.warps_per_block, bytes, stream>>>(op, s);
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

/// Runs a one-stage (Op::J == 0 absent) or two-stage Op over `slices` height × width slices.
template <class Op, int C>
const char* strip_walk_c(const Op& op, int slices, int height, int width, int r,
                         const StripTuning& tuning, cudaStream_t stream) {
  constexpr int stages = Op::J > 0 ? 2 : 1;
  const std::size_t bytes = strip_warp_bytes(Op::K, Op::J, r, C);
  const StripShape s = strip_shape(slices, height, width, r, stages, C, bytes, tuning);
  if constexpr (stages == 1)
    return launch_strip(strip_box_kernel<Op, C>, op, s, bytes, stream);
  else
    return launch_strip(strip_two_stage_kernel<Op, C>, op, s, bytes, stream);
}

template <class Op>
const char* strip_walk(const Op& op, int slices, int height, int width, int r,
                       const StripTuning& tuning, cudaStream_t stream) {
  return tuning.columns_per_lane == 2
             ? strip_walk_c<Op, 2>(op, slices, height, width, r, tuning, stream)
             : strip_walk_c<Op, 4>(op, slices, height, width, r, tuning, stream);
}

}  // namespace strata::filter::cuda
