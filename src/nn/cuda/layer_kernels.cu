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

// Per plane: scale = rstd, offset = −mean·rstd from the shifted sums (biased variance); with β
// (mean-only norm) scale = 1, offset = β − mean.
template <class T>
__global__ void affine_kernel(const T* __restrict__ x, const double* __restrict__ stats, int hw,
                              int c, int planes, float eps, const float* __restrict__ beta,
                              float* __restrict__ affine) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= planes) return;
  const int n = i / c, ch = i % c;
  const double count = static_cast<double>(hw);
  const double mean_shifted = stats[2 * i] / count;
  const double var = fmax(stats[2 * i + 1] / count - mean_shifted * mean_shifted, 0.0);
  const double mean = mean_shifted + to_float(x[static_cast<std::int64_t>(n) * hw * c + ch]);
  if (beta != nullptr) {
    affine[2 * i] = 1.0f;
    affine[2 * i + 1] = static_cast<float>(static_cast<double>(beta[ch]) - mean);
    return;
  }
  const double rstd = 1.0 / sqrt(var + eps);
  affine[2 * i] = static_cast<float>(rstd);
  affine[2 * i + 1] = static_cast<float>(-mean * rstd);
}

// The ×2 bilinear source of output coordinate u on an axis of n input pixels, as torch's
// interpolate with align_corners = false: pixels i0, i1 with weights 1 − l, l.
struct UpSource {
  int i0, i1;
  float l;
};
__device__ __forceinline__ UpSource up_source(int u, int n) {
  const float src = fmaxf((static_cast<float>(u) + 0.5f) * 0.5f - 0.5f, 0.0f);
  const int i0 = static_cast<int>(src);
  return {i0, min(i0 + 1, n - 1), src - static_cast<float>(i0)};
}

// The weight of input pixel i in upsampled pixel u.
__device__ __forceinline__ float up_weight(int u, int i, int n) {
  const UpSource s = up_source(u, n);
  return (s.i0 == i ? 1.0f - s.l : 0.0f) + (s.i1 == i ? s.l : 0.0f);
}

// act(v · scale + offset) for the kVec channels of one pixel; affine may be null (identity).
__device__ __forceinline__ void normalize_act(float (&v)[kVec], const float* affine, float slope) {
  if (affine != nullptr)
#pragma unroll
    for (int k = 0; k < kVec; ++k) v[k] = fmaf(v[k], affine[2 * k], affine[2 * k + 1]);
#pragma unroll
  for (int k = 0; k < kVec; ++k) v[k] = v[k] > 0.0f ? v[k] : v[k] * slope;
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
    normalize_act(
        v, affine != nullptr ? affine + (static_cast<std::int64_t>(n) * c + g * kVec) * 2 : nullptr,
        slope);
    store(out + pixel * c + g * kVec, v);
  }
}

// The padded coordinates whose reflection is u (0 <= u < n): u + pad and the mirror images
// pad − u (1 <= u <= pad) and pad + 2(n − 1) − u (n − 1 − pad <= u <= n − 2).
__device__ __forceinline__ int reflect_sources(int u, int n, int pad, int (&o)[3]) {
  int k = 0;
  o[k++] = u + pad;
  if (u >= 1 && u <= pad) o[k++] = pad - u;
  if (u <= n - 2 && u >= n - 1 - pad) o[k++] = pad + 2 * (n - 1) - u;
  return k;
}

// f(offset) for the element offset (wo columns, c channels) of every padded copy of unpadded
// pixel (uy, ux) of an ny × nx image.
template <class F>
__device__ __forceinline__ void for_each_copy(int wo, int c, int uy, int ux, int ny, int nx,
                                              int pad, F&& f) {
  int oy[3], ox[3];
  const int ky = reflect_sources(uy, ny, pad, oy), kx = reflect_sources(ux, nx, pad, ox);
  for (int a = 0; a < ky; ++a)
    for (int b = 0; b < kx; ++b) f((static_cast<std::int64_t>(oy[a]) * wo + ox[b]) * c);
}

// acc += weight · Σ of the padded gradient g (wo columns per row) over the copies of unpadded
// pixel (uy, ux) of an ny × nx image.
template <class T>
__device__ inline void gather_reflected(const T* g, int wo, int c, int uy, int ux, int ny, int nx,
                                        int pad, float weight, float (&acc)[kVec]) {
  for_each_copy(wo, c, uy, ux, ny, nx, pad, [&](std::int64_t offset) {
    float v[kVec];
    load(g + offset, v);
#pragma unroll
    for (int k = 0; k < kVec; ++k) acc[k] = fmaf(weight, v[k], acc[k]);
  });
}

// The thread of the mean-only step for source pixel (blockIdx.x = n·h + iy, ix) and one channel
// group: (blockIdx.y, threadIdx.x) numbers (ix, group) pairs of the row.
struct RowThread {
  int n, iy, ix, g;
  bool valid;
};
__device__ __forceinline__ RowThread row_thread(int h, int w, int groups) {
  const int i = blockIdx.y * blockDim.x + threadIdx.x, ix = i / groups;
  return {static_cast<int>(blockIdx.x) / h, static_cast<int>(blockIdx.x) % h, ix, i - ix * groups,
          ix < w};
}

// Stores v at every padded copy of unpadded pixel (uy, ux) of an ny × nx image (plane: the
// sample's padded output at the thread's channel group).
template <class T>
__device__ __forceinline__ void store_reflected(T* plane, int wo, int c, int uy, int ux, int ny,
                                                int nx, int pad, const float (&v)[kVec]) {
  for_each_copy(wo, c, uy, ux, ny, nx, pad, [&](std::int64_t offset) { store(plane + offset, v); });
}

// Forward of mean_act_pad, one thread per source pixel and channel group: act(y + offset) of the
// pixel (Up: of its 3×3 neighbourhood, clamped, giving the four upsampled pixels it owns,
// (2iy + dy, 2ix + dx) with torch's weights and order of operations), stored at every padded copy.
template <class T, bool Up>
__global__ void mean_act_pad_kernel(const T* __restrict__ y, const float* __restrict__ affine,
                                    int h, int w, int c, float slope, int pad,
                                    T* __restrict__ out) {
  const int groups = c / kVec;
  const RowThread th = row_thread(h, w, groups);
  if (!th.valid) return;
  const int s = Up ? 2 : 1, ho = s * h + 2 * pad, wo = s * w + 2 * pad;
  const T* plane = y + static_cast<std::int64_t>(th.n) * h * w * c + th.g * kVec;
  T* out_plane = out + static_cast<std::int64_t>(th.n) * ho * wo * c + th.g * kVec;
  const float* a = affine + (static_cast<std::int64_t>(th.n) * c + th.g * kVec) * 2;
  if constexpr (!Up) {
    float v[kVec];
    load(plane + (static_cast<std::int64_t>(th.iy) * w + th.ix) * c, v);
    normalize_act(v, a, slope);
    store_reflected(out_plane, wo, c, th.iy, th.ix, h, w, pad, v);
  } else {
    float nb[3][3][kVec];  // act(y + offset) at (clamp(iy − 1 + r), clamp(ix − 1 + q))
#pragma unroll
    for (int r = 0; r < 3; ++r)
#pragma unroll
      for (int q = 0; q < 3; ++q) {
        const int yy = min(max(th.iy - 1 + r, 0), h - 1), xx = min(max(th.ix - 1 + q, 0), w - 1);
        load(plane + (static_cast<std::int64_t>(yy) * w + xx) * c, nb[r][q]);
        normalize_act(nb[r][q], a, slope);
      }
#pragma unroll
    for (int dy = 0; dy < 2; ++dy) {
      const int uy = 2 * th.iy + dy;
      const UpSource sy = up_source(uy, h);
      const int r0 = sy.i0 - th.iy + 1, r1 = sy.i1 - th.iy + 1;
      const float h1 = sy.l, h0 = 1.0f - h1;
#pragma unroll
      for (int dx = 0; dx < 2; ++dx) {
        const int ux = 2 * th.ix + dx;
        const UpSource sx = up_source(ux, w);
        const int q0 = sx.i0 - th.ix + 1, q1 = sx.i1 - th.ix + 1;
        const float w1 = sx.l, w0 = 1.0f - w1;
        float v[kVec];
#pragma unroll
        for (int k = 0; k < kVec; ++k)  // torch's order of operations
          v[k] = h0 * (w0 * nb[r0][q0][k] + w1 * nb[r0][q1][k]) +
                 h1 * (w0 * nb[r1][q0][k] + w1 * nb[r1][q1][k]);
        store_reflected(out_plane, wo, c, uy, ux, 2 * h, 2 * w, pad, v);
      }
    }
  }
}

// Backward of normalize_pad_kernel with a mean-only affine: block (blockIdx.x, blockIdx.y =
// sample) takes a run of pixels of y as plane_sums_kernel does; each thread gathers the gradient
// of its pixel and channel group from grad_out (through the padding, and the upsampling when Up),
// multiplies by the activation's slope at a = y + offset, stores it in grad_y and adds it to the
// plane sums (the stored, rounded values).
template <class T, bool Up>
__global__ void mean_act_pad_backward_kernel(const T* __restrict__ grad_out,
                                             const T* __restrict__ y,
                                             const float* __restrict__ affine, int h, int w, int c,
                                             float slope, int pad, int pixels_per_block,
                                             T* __restrict__ grad_y, double* __restrict__ sums) {
  __shared__ float partial[kThreads][kVec];
  const int groups = c / kVec, rows = kThreads / groups, hw = h * w;
  const int t = threadIdx.x, g = t % groups, row = t / groups, n = blockIdx.y;
  const int s = Up ? 2 : 1, ho = s * h + 2 * pad, wo = s * w + 2 * pad;
  const std::int64_t plane = static_cast<std::int64_t>(n) * hw * c + g * kVec;
  const T* go = grad_out + static_cast<std::int64_t>(n) * ho * wo * c + g * kVec;
  const float* a = affine + (static_cast<std::int64_t>(n) * c + g * kVec) * 2;
  float sum[kVec] = {};
  if (row < rows) {
    const int first = blockIdx.x * pixels_per_block, last = min(hw, first + pixels_per_block);
    for (int p = first + row; p < last; p += rows) {
      const int iy = p / w, ix = p - iy * w;
      float acc[kVec] = {};
      if constexpr (Up) {
        if (2 * iy - 1 >= pad + 1 && 2 * iy + 2 <= 2 * h - 2 - pad && 2 * ix - 1 >= pad + 1 &&
            2 * ix + 2 <= 2 * w - 2 - pad) {
          // no reflected copies and the interior weights 1/4, 3/4, 3/4, 1/4 on both axes
          constexpr float weight[4] = {0.25f, 0.75f, 0.75f, 0.25f};
          const T* base =
              go + (static_cast<std::int64_t>(2 * iy - 1 + pad) * wo + 2 * ix - 1 + pad) * c;
#pragma unroll
          for (int dy = 0; dy < 4; ++dy)
#pragma unroll
            for (int dx = 0; dx < 4; ++dx) {
              float v[kVec];
              load(base + (static_cast<std::int64_t>(dy) * wo + dx) * c, v);
#pragma unroll
              for (int k = 0; k < kVec; ++k) acc[k] = fmaf(weight[dy] * weight[dx], v[k], acc[k]);
            }
        } else
          for (int uy = max(2 * iy - 1, 0); uy <= min(2 * iy + 2, 2 * h - 1); ++uy) {
            const float wy = up_weight(uy, iy, h);
            if (wy == 0.0f) continue;
            for (int ux = max(2 * ix - 1, 0); ux <= min(2 * ix + 2, 2 * w - 1); ++ux) {
              const float wx = up_weight(ux, ix, w);
              if (wx != 0.0f) gather_reflected(go, wo, c, uy, ux, 2 * h, 2 * w, pad, wy * wx, acc);
            }
          }
      } else {
        gather_reflected(go, wo, c, iy, ix, h, w, pad, 1.0f, acc);
      }
      float v[kVec];
      load(y + plane + static_cast<std::int64_t>(p) * c, v);
#pragma unroll
      for (int k = 0; k < kVec; ++k) {
        const float pre = fmaf(v[k], a[2 * k], a[2 * k + 1]);
        v[k] = to_float(from_float<T>(pre > 0.0f ? acc[k] : acc[k] * slope));
        sum[k] += v[k];
      }
      store(grad_y + plane + static_cast<std::int64_t>(p) * c, v);
    }
  }
#pragma unroll
  for (int k = 0; k < kVec; ++k) partial[t][k] = sum[k];
  __syncthreads();
  if (row != 0) return;
  for (int r = 1; r < rows; ++r)
#pragma unroll
    for (int k = 0; k < kVec; ++k) partial[t][k] += partial[r * groups + g][k];
  double* out = sums + static_cast<std::int64_t>(n) * c + g * kVec;
#pragma unroll
  for (int k = 0; k < kVec; ++k) atomicAdd(out + k, static_cast<double>(partial[t][k]));
}

// g −= Σ_plane g / (H·W) per plane, in place.
template <class T>
__global__ void subtract_means_kernel(T* __restrict__ g, const double* __restrict__ sums, int hw,
                                      int c, std::int64_t total) {
  const int groups = c / kVec;
  const double inv = 1.0 / hw;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const int group = static_cast<int>(i % groups);
    const int n = static_cast<int>(i / groups / hw);
    const double* s = sums + static_cast<std::int64_t>(n) * c + group * kVec;
    float v[kVec];
    load(g + i * kVec, v);
#pragma unroll
    for (int k = 0; k < kVec; ++k) v[k] -= static_cast<float>(s[k] * inv);
    store(g + i * kVec, v);
  }
}

cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

const char* launched() {
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

// Pixels per block of a pass over the pixels of each sample (at least one per thread row, c / kVec
// threads per pixel): about 1056 blocks in all, 8 blocks of 256 threads per SM of a large GPU
// (fewer atomics than one block per few pixels, enough blocks to fill the machine).
int pixels_per_block(int hw, std::int64_t n, int c) {
  const int rows = kThreads / (c / kVec), blocks = std::max(1, 1056 / static_cast<int>(n));
  return std::max(rows, (hw + blocks - 1) / blocks);
}

// Grid-stride launch size for `total` items.
unsigned elementwise_blocks(std::int64_t total) {
  return static_cast<unsigned>(std::min<std::int64_t>((total + kThreads - 1) / kThreads, 1 << 20));
}

template <class T>
const char* plane_sums_typed(const Nhwc& x, double* stats, cudaStream_t s) {
  const int hw = static_cast<int>(x.h * x.w), c = static_cast<int>(x.c);
  const int per_block = pixels_per_block(hw, x.n, c);
  const dim3 grid((hw + per_block - 1) / per_block, static_cast<unsigned>(x.n));
  plane_sums_kernel<T>
      <<<grid, kThreads, 0, s>>>(static_cast<const T*>(x.data), hw, c, per_block, stats);
  return launched();
}

// Per plane (scale, offset) from the statistics into affine (beta: mean-only).
template <class T>
void affine_from_stats(const Nhwc& x, const double* stats, float eps, const float* beta,
                       float* affine, cudaStream_t s) {
  const int planes = static_cast<int>(x.n * x.c);
  affine_kernel<T><<<(planes + kThreads - 1) / kThreads, kThreads, 0, s>>>(
      static_cast<const T*>(x.data), stats, static_cast<int>(x.h * x.w), static_cast<int>(x.c),
      planes, eps, beta, affine);
}

// act(affine(x)) padded into out; stats null: act(x) only.
template <class T>
const char* normalize_pad_typed(const Nhwc& x, const double* stats, float eps, float* affine,
                                float slope, int pad, const Nhwc& out, cudaStream_t s) {
  if (stats != nullptr) affine_from_stats<T>(x, stats, eps, nullptr, affine, s);
  const std::int64_t total = out.n * out.h * out.w * (out.c / kVec);
  normalize_pad_kernel<T><<<elementwise_blocks(total), kThreads, 0, s>>>(
      static_cast<const T*>(x.data), stats != nullptr ? affine : nullptr, static_cast<int>(x.h),
      static_cast<int>(x.w), static_cast<int>(x.c), slope, pad, static_cast<T*>(out.data), total);
  return launched();
}

template <class T>
const char* mean_act_pad_typed(const Nhwc& y, const double* stats, const float* beta, float* affine,
                               float slope, int pad, bool upsample, const Nhwc& out,
                               cudaStream_t s) {
  affine_from_stats<T>(y, stats, 0.0f, beta, affine, s);
  const int h = static_cast<int>(y.h), w = static_cast<int>(y.w), c = static_cast<int>(y.c);
  const dim3 grid(static_cast<unsigned>(y.n * h), (w * (c / kVec) + kThreads - 1) / kThreads);
  const T* in = static_cast<const T*>(y.data);
  T* o = static_cast<T*>(out.data);
  if (upsample)
    mean_act_pad_kernel<T, true><<<grid, kThreads, 0, s>>>(in, affine, h, w, c, slope, pad, o);
  else
    mean_act_pad_kernel<T, false><<<grid, kThreads, 0, s>>>(in, affine, h, w, c, slope, pad, o);
  return launched();
}

template <class T>
const char* mean_act_pad_backward_typed(const Nhwc& grad_out, const Nhwc& y, const float* affine,
                                        float slope, int pad, bool upsample, const Nhwc& grad_y,
                                        double* sums, cudaStream_t s) {
  const int h = static_cast<int>(y.h), w = static_cast<int>(y.w), c = static_cast<int>(y.c);
  const int per_block = pixels_per_block(h * w, y.n, c);
  const dim3 grid((h * w + per_block - 1) / per_block, static_cast<unsigned>(y.n));
  const T* go = static_cast<const T*>(grad_out.data);
  const T* in = static_cast<const T*>(y.data);
  T* g = static_cast<T*>(grad_y.data);
  if (upsample)
    mean_act_pad_backward_kernel<T, true>
        <<<grid, kThreads, 0, s>>>(go, in, affine, h, w, c, slope, pad, per_block, g, sums);
  else
    mean_act_pad_backward_kernel<T, false>
        <<<grid, kThreads, 0, s>>>(go, in, affine, h, w, c, slope, pad, per_block, g, sums);
  if (const char* error = launched()) return error;
  const std::int64_t total = y.n * y.h * y.w * (y.c / kVec);
  subtract_means_kernel<T><<<elementwise_blocks(total), kThreads, 0, s>>>(g, sums, h * w, c, total);
  return launched();
}

// f(T{}) for the scalar type T of `scalar`.
template <class F>
const char* dispatch(Scalar scalar, F&& f) {
  switch (scalar) {
    case Scalar::Float16: return f(__half{});
    case Scalar::BFloat16: return f(__nv_bfloat16{});
    default: return f(float{});
  }
}

}  // namespace

const char* plane_sums(const Nhwc& x, double* stats, void* stream) {
  return dispatch(
      x.scalar, [&](auto t) { return plane_sums_typed<decltype(t)>(x, stats, as_stream(stream)); });
}

const char* normalize_pad(const Nhwc& x, const double* stats, float eps, float* affine, float slope,
                          int pad, const Nhwc& out, void* stream) {
  return dispatch(x.scalar, [&](auto t) {
    return normalize_pad_typed<decltype(t)>(x, stats, eps, affine, slope, pad, out,
                                            as_stream(stream));
  });
}

const char* mean_act_pad(const Nhwc& y, const double* stats, const float* beta, float* affine,
                         float slope, int pad, bool upsample, const Nhwc& out, void* stream) {
  return dispatch(y.scalar, [&](auto t) {
    return mean_act_pad_typed<decltype(t)>(y, stats, beta, affine, slope, pad, upsample, out,
                                           as_stream(stream));
  });
}

const char* mean_act_pad_backward(const Nhwc& grad_out, const Nhwc& y, const float* affine,
                                  float slope, int pad, bool upsample, const Nhwc& grad_y,
                                  double* sums, void* stream) {
  return dispatch(y.scalar, [&](auto t) {
    return mean_act_pad_backward_typed<decltype(t)>(grad_out, y, affine, slope, pad, upsample,
                                                    grad_y, sums, as_stream(stream));
  });
}

}  // namespace strata::nn::cuda
