#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "../../core/cuda/scalar.cuh"
#include "layer_kernels.hpp"

namespace strata::nn::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kVec = 4;  // channels per thread (one 8- or 16-byte access)

using strata::cuda::from_float;
using strata::cuda::to_float;

// kVec consecutive values of one type, loaded and stored in one access.
template <class T>
struct alignas(sizeof(T) * kVec) Pack {
  T v[kVec];
};

template <class T>
__device__ __forceinline__ void load(const T* p, float (&out)[kVec]) {
  const Pack<T> pack = *reinterpret_cast<const Pack<T>*>(p);
#pragma unroll
  for (int i = 0; i < kVec; ++i) out[i] = to_float(pack.v[i]);
}

template <class T>
__device__ __forceinline__ void store(T* p, const float (&in)[kVec]) {
  Pack<T> pack;
#pragma unroll
  for (int i = 0; i < kVec; ++i) pack.v[i] = from_float<T>(in[i]);
  *reinterpret_cast<Pack<T>*>(p) = pack;
}

// Reflection (without repeating the edge) of a coordinate in [-pad, n + pad).
__device__ __forceinline__ int reflect(int i, int n) {
  i = i < 0 ? -i : i;
  return i >= n ? 2 * (n - 1) - i : i;
}

// Block (blockIdx.x, blockIdx.y = sample) sums a run of pixels: thread t owns channel group
// t % groups of pixel rows t / groups, t / groups + rows, ...; the block then adds its rows in
// shared memory and one atomic per channel goes to the float64 totals.
template <class T>
__global__ void plane_sums_kernel(const T* __restrict__ x, int hw, int c, int pixels_per_block,
                                  double* __restrict__ stats) {
  __shared__ float partial[kThreads][2 * kVec];
  const int groups = c / kVec, rows = kThreads / groups;
  const int t = threadIdx.x, g = t % groups, row = t / groups;
  const T* plane = x + static_cast<std::int64_t>(blockIdx.y) * hw * c;
  float shift[kVec], s[kVec] = {}, q[kVec] = {};
  load(plane + g * kVec, shift);
  if (row < rows) {
    const int first = blockIdx.x * pixels_per_block;
    const int last = min(hw, first + pixels_per_block);
    for (int p = first + row; p < last; p += rows) {
      float v[kVec];
      load(plane + static_cast<std::int64_t>(p) * c + g * kVec, v);
#pragma unroll
      for (int i = 0; i < kVec; ++i) {
        const float d = v[i] - shift[i];
        s[i] += d;
        q[i] += d * d;
      }
    }
  }
#pragma unroll
  for (int i = 0; i < kVec; ++i) {
    partial[t][i] = s[i];
    partial[t][kVec + i] = q[i];
  }
  __syncthreads();
  if (row != 0) return;
  for (int r = 1; r < rows; ++r)
#pragma unroll
    for (int i = 0; i < 2 * kVec; ++i) partial[t][i] += partial[r * groups + g][i];
  double* out = stats + (static_cast<std::int64_t>(blockIdx.y) * c + g * kVec) * 2;
#pragma unroll
  for (int i = 0; i < kVec; ++i) {
    atomicAdd(out + 2 * i, static_cast<double>(partial[t][i]));
    atomicAdd(out + 2 * i + 1, static_cast<double>(partial[t][kVec + i]));
  }
}

// Per plane: scale = rstd, offset = −mean·rstd from the shifted sums (biased variance).
template <class T>
__global__ void affine_kernel(const T* __restrict__ x, const double* __restrict__ stats, int hw,
                              int c, int planes, float eps, float* __restrict__ affine) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= planes) return;
  const int n = i / c, ch = i % c;
  const double count = static_cast<double>(hw);
  const double mean_shifted = stats[2 * i] / count;
  const double var = fmax(stats[2 * i + 1] / count - mean_shifted * mean_shifted, 0.0);
  const double mean = mean_shifted + to_float(x[static_cast<std::int64_t>(n) * hw * c + ch]);
  const double rstd = 1.0 / sqrt(var + eps);
  affine[2 * i] = static_cast<float>(rstd);
  affine[2 * i + 1] = static_cast<float>(-mean * rstd);
}

// One thread per output pixel and channel group: reads the reflected source pixel, normalises
// with the plane's (scale, offset), applies the leaky activation and stores.
template <class T>
__global__ void normalize_pad_kernel(const T* __restrict__ x, const float* __restrict__ affine,
                                     int h, int w, int c, float slope, int pad, T* __restrict__ out,
                                     std::int64_t total) {
  const int groups = c / kVec, ho = h + 2 * pad, wo = w + 2 * pad;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const int g = static_cast<int>(i % groups);
    const std::int64_t pixel = i / groups;
    const int ox = static_cast<int>(pixel % wo), oy = static_cast<int>((pixel / wo) % ho);
    const int n = static_cast<int>(pixel / (static_cast<std::int64_t>(wo) * ho));
    const int sy = reflect(oy - pad, h), sx = reflect(ox - pad, w);
    float v[kVec];
    load(x + ((static_cast<std::int64_t>(n) * h + sy) * w + sx) * c + g * kVec, v);
    if (affine != nullptr) {
      const float* a = affine + (static_cast<std::int64_t>(n) * c + g * kVec) * 2;
#pragma unroll
      for (int k = 0; k < kVec; ++k) v[k] = fmaf(v[k], a[2 * k], a[2 * k + 1]);
    }
#pragma unroll
    for (int k = 0; k < kVec; ++k) v[k] = v[k] > 0.0f ? v[k] : v[k] * slope;
    store(out + pixel * c + g * kVec, v);
  }
}

cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

const char* launched() {
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

template <class T>
const char* plane_sums_typed(const Nhwc& x, double* stats, cudaStream_t s) {
  const int hw = static_cast<int>(x.h * x.w), c = static_cast<int>(x.c);
  // About 8 blocks of 256 threads per SM of a large GPU in all; fewer atomics than one block per
  // few pixels, and enough blocks to fill the machine.
  const int pixels_per_block = std::max(256, hw / std::max(1, 1056 / static_cast<int>(x.n)) + 1);
  const dim3 grid((hw + pixels_per_block - 1) / pixels_per_block, static_cast<unsigned>(x.n));
  plane_sums_kernel<T>
      <<<grid, kThreads, 0, s>>>(static_cast<const T*>(x.data), hw, c, pixels_per_block, stats);
  return launched();
}

template <class T>
const char* normalize_pad_typed(const Nhwc& x, const double* stats, float eps, float* affine,
                                float slope, int pad, const Nhwc& out, cudaStream_t s) {
  const T* in = static_cast<const T*>(x.data);
  const int h = static_cast<int>(x.h), w = static_cast<int>(x.w), c = static_cast<int>(x.c);
  if (stats != nullptr) {
    const int planes = static_cast<int>(x.n) * c;
    affine_kernel<T><<<(planes + kThreads - 1) / kThreads, kThreads, 0, s>>>(in, stats, h * w, c,
                                                                             planes, eps, affine);
  }
  const std::int64_t total = out.n * out.h * out.w * (out.c / kVec);
  const std::int64_t blocks = std::min<std::int64_t>((total + kThreads - 1) / kThreads, 1 << 20);
  normalize_pad_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, s>>>(
      in, stats != nullptr ? affine : nullptr, h, w, c, slope, pad, static_cast<T*>(out.data),
      total);
  return launched();
}

}  // namespace

const char* plane_sums(const Nhwc& x, double* stats, void* stream) {
  switch (x.scalar) {
    case Scalar::Float16: return plane_sums_typed<__half>(x, stats, as_stream(stream));
    case Scalar::BFloat16: return plane_sums_typed<__nv_bfloat16>(x, stats, as_stream(stream));
    default: return plane_sums_typed<float>(x, stats, as_stream(stream));
  }
}

const char* normalize_pad(const Nhwc& x, const double* stats, float eps, float* affine, float slope,
                          int pad, const Nhwc& out, void* stream) {
  const auto s = as_stream(stream);
  switch (x.scalar) {
    case Scalar::Float16:
      return normalize_pad_typed<__half>(x, stats, eps, affine, slope, pad, out, s);
    case Scalar::BFloat16:
      return normalize_pad_typed<__nv_bfloat16>(x, stats, eps, affine, slope, pad, out, s);
    default: return normalize_pad_typed<float>(x, stats, eps, affine, slope, pad, out, s);
  }
}

}  // namespace strata::nn::cuda
