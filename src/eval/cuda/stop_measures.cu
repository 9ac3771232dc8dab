#include <cuda_runtime.h>

#include <cub/device/device_radix_sort.cuh>

#include <cstdint>

#include "stop_measures.hpp"

namespace strata::eval::cuda {

namespace {

constexpr int kTileX = 32, kTileY = 8;  // the pixel kernel's block
constexpr int kFinishThreads = 1024;    // the one block that adds the sums up
constexpr int kLargest = 1001;          // ranks 0 .. 1000; the first two are dropped

// NaN-propagating maximum (as torch::maximum).
__device__ __forceinline__ float nan_max(float a, float b) { return a != a || a > b ? a : b; }

// Gray value of pixel (y, x): 0.2989 R + 0.5870 G + 0.1140 B in float with every product and sum
// rounded as the LibTorch ops do, clipped to [0, 1] (NaN kept); one channel: itself.
__device__ __forceinline__ float gray(const float* __restrict__ image, int channels, int plane,
                                      int width, int y, int x) {
  const int i = y * width + x;
  if (channels == 1) return image[i];
  const float v =
      __fadd_rn(__fadd_rn(__fmul_rn(image[i], 0.2989f), __fmul_rn(image[plane + i], 0.5870f)),
                __fmul_rn(image[2 * plane + i], 0.1140f));
  return v < 0.f ? 0.f : (v > 1.f ? 1.f : v);
}

// Sum of v over the block in a fixed order (warp shuffles, then the warp sums by warp 0); the
// result is valid in thread 0. `warp_sums` holds one float per warp.
template <int Threads>
__device__ float block_sum(float v, float* warp_sums) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();  // warp_sums may still be read from a previous call
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  v = lane < Threads / 32 && warp == 0 ? warp_sums[lane] : 0.f;
  if (warp == 0)
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// One thread per pixel: the MLV value of an interior pixel (largest signed difference
// neighbour − centre, floor 0) into mlv, and the block's sums of the blur effect's neighbour
// differences of the gray image (D_F) and of what a 9-tap box blur leaves of them
// (max(0, D_F − D_B)), vertical and horizontal, into partials[k · blocks + block].
__global__ void __launch_bounds__(kTileX* kTileY)
    pixel_measures_kernel(const float* __restrict__ image, int channels, int height, int width,
                          float* __restrict__ mlv, float* __restrict__ partials) {
  __shared__ float warp_sums[kTileX * kTileY / 32];
  const int x = blockIdx.x * kTileX + threadIdx.x % kTileX;
  const int y = blockIdx.y * kTileY + threadIdx.x / kTileX, plane = height * width;
  const auto g = [&](int yy, int xx) { return gray(image, channels, plane, width, yy, xx); };
  float sums[4] = {};  // vertical D_F, vertical max(0, D_F − D_B), horizontal D_F, horizontal ...
  if (y < height && x < width) {
    const float centre = g(y, x);
    if (y >= 1 && y <= height - 2 && x >= 1 && x <= width - 2) {
      float m = 0.f;
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx)
          if (dy != 0 || dx != 0) m = nan_max(m, g(y + dy, x + dx) - centre);
      mlv[(y - 1) * (width - 2) + (x - 1)] = m;
    }
    // Differences of rows y, y + 1 (resp. columns) inside the 4-pixel crop minus the differences'
    // own 1-pixel border; the box blur's difference is (g[y + 5] − g[y − 4]) / 9.
    const auto blur_terms = [&](float next, float ahead, float behind, float* s) {
      const float d_f = fabsf(next - centre), d_b = fabsf(ahead - behind) / 9.f;
      s[0] = d_f;
      const float left = d_f - d_b;
      s[1] = left < 0.f ? 0.f : left;  // NaN kept, as clamp_min
    };
    if (y >= 5 && y <= height - 7 && x >= 4 && x <= width - 5)
      blur_terms(g(y + 1, x), g(y + 5, x), g(y - 4, x), sums);
    if (x >= 5 && x <= width - 7 && y >= 4 && y <= height - 5)
      blur_terms(g(y, x + 1), g(y, x + 5), g(y, x - 4), sums + 2);
  }
  const int block = blockIdx.y * gridDim.x + blockIdx.x, blocks = gridDim.x * gridDim.y;
  for (int k = 0; k < 4; ++k) {
    const float total = block_sum<kTileX * kTileY>(sums[k], warp_sums);
    if (threadIdx.x == 0) partials[k * blocks + block] = total;
  }
}

// One block: the blur effect from the pixel kernel's partial sums and the MLV sharpness from the
// MLV values sorted in descending order (ranks 2 .. n − 1 of the n = min(1001, count) largest,
// weighted by exp(−0.01 · rank), root mean square), then their ratio.
__global__ void __launch_bounds__(kFinishThreads)
    finish_measures_kernel(const float* __restrict__ sorted, int n_mlv,
                           const float* __restrict__ partials, int blocks,
                           double* __restrict__ out) {
  __shared__ float warp_sums[kFinishThreads / 32];
  const int t = threadIdx.x;
  float blur_of[2];  // Crété-Roffet per direction: (ΣD_F − Σmax(0, D_F − D_B)) / ΣD_F, flat: 1
  for (int d = 0; d < 2; ++d) {
    float f = 0.f, v = 0.f;
    for (int b = t; b < blocks; b += kFinishThreads) f += partials[2 * d * blocks + b];
    for (int b = t; b < blocks; b += kFinishThreads) v += partials[(2 * d + 1) * blocks + b];
    f = block_sum<kFinishThreads>(f, warp_sums);
    v = block_sum<kFinishThreads>(v, warp_sums);
    blur_of[d] = f <= 0.f ? 1.f : (f - v) / f;
  }
  const int n = min(kLargest, n_mlv);
  float term = 0.f;
  for (int rank = t; rank < n; rank += kFinishThreads)
    if (rank >= 2) {
      const float weighted = sorted[rank] * expf(-0.01f * static_cast<float>(rank));
      term += weighted * weighted;
    }
  const float total = block_sum<kFinishThreads>(term, warp_sums);
  if (t == 0) {
    const float sharpness = n > 2 ? sqrtf(total / static_cast<float>(n - 2)) : 0.f;
    const float blur = nan_max(blur_of[0], blur_of[1]);
    out[0] = blur;
    out[1] = sharpness;
    out[2] = blur / (sharpness < 1e-12f ? 1e-12f : sharpness);
  }
}

constexpr int blocks_along(int n, int tile) { return (n + tile - 1) / tile; }

int pixel_blocks(int height, int width) {
  return blocks_along(width, kTileX) * blocks_along(height, kTileY);
}

int mlv_count(int height, int width) { return (height - 2) * (width - 2); }

// Bytes of CUB's radix sort workspace for the MLV values.
std::size_t sort_bytes(int height, int width) {
  std::size_t bytes = 0;
  cub::DeviceRadixSort::SortKeysDescending(nullptr, bytes, static_cast<const float*>(nullptr),
                                           static_cast<float*>(nullptr), mlv_count(height, width));
  return bytes;
}

constexpr std::size_t aligned(std::size_t bytes) { return (bytes + 255) / 256 * 256; }

// The scratch layout: MLV values, sorted MLV values, partial sums, CUB's workspace.
struct Scratch {
  float *mlv, *sorted, *partials;
  void* sort;
  std::size_t sort_bytes, total;
};
Scratch scratch_layout(void* base, int height, int width) {
  auto* bytes = static_cast<char*>(base);
  const std::size_t values = aligned(sizeof(float) * mlv_count(height, width));
  const std::size_t partials = aligned(sizeof(float) * 4 * pixel_blocks(height, width));
  const std::size_t sort = sort_bytes(height, width);
  return {reinterpret_cast<float*>(bytes),
          reinterpret_cast<float*>(bytes + values),
          reinterpret_cast<float*>(bytes + 2 * values),
          bytes + 2 * values + partials,
          sort,
          2 * values + partials + sort};
}

}  // namespace

bool stop_measures_supported(long long height, long long width) {
  return height >= 12 && width >= 12 && height * width < (1LL << 29) &&
         height <= 65535LL * kTileY;  // the pixel kernel's grid rows
}

std::size_t stop_measures_scratch(int height, int width) {
  return scratch_layout(nullptr, height, width).total;
}

const char* stop_measures(const float* image, int channels, int height, int width, void* scratch,
                          double* out, void* stream) {
  if ((channels != 1 && channels != 3) || !stop_measures_supported(height, width))
    return "stop_measures: unsupported image shape";
  auto* s = static_cast<cudaStream_t>(stream);
  Scratch at = scratch_layout(scratch, height, width);
  const dim3 grid(blocks_along(width, kTileX), blocks_along(height, kTileY));
  pixel_measures_kernel<<<grid, kTileX * kTileY, 0, s>>>(image, channels, height, width, at.mlv,
                                                         at.partials);
  if (const cudaError_t e = cub::DeviceRadixSort::SortKeysDescending(
          at.sort, at.sort_bytes, at.mlv, at.sorted, mlv_count(height, width), 0, 32, s);
      e != cudaSuccess)
    return cudaGetErrorString(e);
  finish_measures_kernel<<<1, kFinishThreads, 0, s>>>(
      at.sorted, mlv_count(height, width), at.partials, pixel_blocks(height, width), out);
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

}  // namespace strata::eval::cuda
