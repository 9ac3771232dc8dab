#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <type_traits>

#include "../../core/cuda/scalar.cuh"
#include "launch.cuh"
#include "layer_kernels.hpp"

namespace strata::nn::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kVec = 4;  // channels per thread (one 8- or 16-byte access)

using strata::cuda::from_float;
using strata::cuda::to_float;

// V consecutive values of one type, loaded and stored in one access.
template <class T, int V = kVec>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <class T, int V>
__device__ __forceinline__ void load(const T* p, float (&out)[V]) {
  const Pack<T, V> pack = *reinterpret_cast<const Pack<T, V>*>(p);
#pragma unroll
  for (int i = 0; i < V; ++i) out[i] = to_float(pack.v[i]);
}

template <class T, int V>
__device__ __forceinline__ void store(T* p, const float (&in)[V]) {
  Pack<T, V> pack;
#pragma unroll
  for (int i = 0; i < V; ++i) pack.v[i] = from_float<T>(in[i]);
  *reinterpret_cast<Pack<T, V>*>(p) = pack;
}

// Reflection (without repeating the edge) of a coordinate in [-pad, n + pad).
__device__ __forceinline__ int reflect(int i, int n) {
  i = i < 0 ? -i : i;
  return i >= n ? 2 * (n - 1) - i : i;
}

// Block (blockIdx.x, blockIdx.y = sample) sums a run of pixels: thread t owns channel group
// t % groups of pixel rows t / groups, t / groups + rows, ...; the block then adds its rows in
// shared memory and stores its sums in partials[sample][block][channel][2] (plain stores: float64
// atomics from every block to the same C addresses cost more than the pass itself);
// reduce_partials_kernel adds the blocks up.
template <class T>
__global__ void plane_sums_kernel(const T* __restrict__ x, int hw, int c, int pixels_per_block,
                                  float* __restrict__ partials) {
  __shared__ float partial[kThreads][2 * kVec];
  const int groups = c / kVec, rows = kThreads / groups;
  const int t = threadIdx.x, g = t % groups, row = t / groups;
  const T* plane = x + static_cast<std::int64_t>(blockIdx.y) * hw * c;
  float shift[kVec], s[kVec] = {}, q[kVec] = {};
  load(plane + g * kVec, shift);
  if (row < rows) {
    const int first = blockIdx.x * pixels_per_block;
    const int last = min(hw, first + pixels_per_block);
#pragma unroll 4  // four loads in flight
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
  float* out =
      partials +
      ((static_cast<std::int64_t>(blockIdx.y) * gridDim.x + blockIdx.x) * c + g * kVec) * 2;
#pragma unroll
  for (int i = 0; i < kVec; ++i) {
    out[2 * i] = partial[t][i];
    out[2 * i + 1] = partial[t][kVec + i];
  }
}

// What reduce_partials_kernel makes of the per-plane sums.
struct ReduceOutputs {
  double* sums = nullptr;     // Σ per column, float64 (sample-major), or null
  float* sums_f = nullptr;    // the same in float32, or null
  bool accumulate_f = false;  // sums_f += instead of =
  // Plane statistics (columns 2·channel, 2·channel + 1 = shifted sums of x and x²): per plane
  // (scale, offset) into affine: (rstd, −mean·rstd) with eps, or with beta (mean-only norm)
  // (1, β − mean); x (the N×H×W×C activation) gives each plane's shift, its first value.
  float* affine = nullptr;
  const void* x = nullptr;
  int hw = 0;
  float eps = 0.0f;
  const float* beta = nullptr;
};

// Per plane (scale, offset) from its shifted sums s, q over hw pixels (biased variance).
template <class T>
__device__ void plane_affine(const ReduceOutputs& o, int n, int c, int ch, double s, double q) {
  const double count = static_cast<double>(o.hw);
  const double mean_shifted = s / count;
  const double var = fmax(q / count - mean_shifted * mean_shifted, 0.0);
  const T* x = static_cast<const T*>(o.x);
  const double mean = mean_shifted + to_float(x[static_cast<std::int64_t>(n) * o.hw * c + ch]);
  float* a = o.affine + 2 * (static_cast<std::int64_t>(n) * c + ch);
  if (o.beta != nullptr) {
    a[0] = 1.0f;
    a[1] = static_cast<float>(static_cast<double>(o.beta[ch]) - mean);
    return;
  }
  const double rstd = 1.0 / sqrt(var + o.eps);
  a[0] = static_cast<float>(rstd);
  a[1] = static_cast<float>(-mean * rstd);
}

// Σ_block partials[sample][block][j] in float64 in a fixed order (deterministic): block
// (blockIdx.x, blockIdx.y = sample) takes 32 columns j, its 32 warps every 32nd block each (lane =
// column), then warp w's sums are added in order of w; the totals go to `o` (T: x's scalar).
constexpr int kReduceWarps = 32;
template <class T>
__global__ void __launch_bounds__(32 * kReduceWarps)
    reduce_partials_kernel(const float* __restrict__ partials, int blocks, int width,
                           ReduceOutputs o) {
  __shared__ double warp_total[kReduceWarps][33];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, j = blockIdx.x * 32 + lane;
  double total = 0.0;
  if (j < width) {
    const float* column = partials + static_cast<std::int64_t>(blockIdx.y) * blocks * width + j;
#pragma unroll 8  // all of a warp's loads in flight for up to 256 blocks
    for (int b = warp; b < blocks; b += kReduceWarps)
      total += column[static_cast<std::int64_t>(b) * width];
  }
  warp_total[warp][lane] = total;
  __syncthreads();
  if (warp != 0) return;
  for (int w = 1; w < kReduceWarps; ++w) total += warp_total[w][lane];
  const double next = __shfl_down_sync(0xffffffffu, total, 1);  // q beside s (width is even)
  if (j >= width) return;
  const std::int64_t at = static_cast<std::int64_t>(blockIdx.y) * width + j;
  if (o.sums != nullptr) o.sums[at] = total;
  if (o.sums_f != nullptr)
    o.sums_f[at] = static_cast<float>(total) + (o.accumulate_f ? o.sums_f[at] : 0.0f);
  if (o.affine != nullptr && j % 2 == 0)
    plane_affine<T>(o, static_cast<int>(blockIdx.y), width / 2, j / 2, total, next);
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

// The (scale, offset) pairs of V channels (a: the first, 16-byte aligned; null: the identity),
// loaded once per thread into registers: read per pixel, these loads took most of the L1 traffic
// of the passes (with 16-bit values a warp's 32 channel groups span 1 KB of pairs against 256
// bytes of pixel data).
template <int V>
__device__ __forceinline__ void load_affine(const float* a, float2 (&out)[V]) {
  static_assert(V % 2 == 0, "pairs of pairs");
#pragma unroll
  for (int i = 0; i < V / 2; ++i) {
    const float4 q =
        a != nullptr ? reinterpret_cast<const float4*>(a)[i] : make_float4(1.0f, 0.0f, 1.0f, 0.0f);
    out[2 * i] = make_float2(q.x, q.y);
    out[2 * i + 1] = make_float2(q.z, q.w);
  }
}

// act(v · scale + offset) for the V channels of one pixel.
template <int V>
__device__ __forceinline__ void normalize_act(float (&v)[V], const float2 (&a)[V], float slope) {
#pragma unroll
  for (int k = 0; k < V; ++k) {
    v[k] = fmaf(v[k], a[k].x, a[k].y);
    v[k] = v[k] > 0.0f ? v[k] : v[k] * slope;
  }
}

// One thread per output pixel and group of V channels, a grid row per output row (grid-strided
// over sample · (h + 2pad) rows, so the index arithmetic stays 32-bit): reads the reflected source
// pixel, normalises it with its plane's (scale, offset), applies the leaky activation, adds the
// residual's same source pixel when there is one, and stores.
template <class T, int V>
__global__ void normalize_pad_kernel(const T* __restrict__ x, const float* __restrict__ affine,
                                     const T* __restrict__ residual, int n, int h, int w, int c,
                                     float slope, int pad, T* __restrict__ out) {
  const int groups = c / V, ho = h + 2 * pad, wo = w + 2 * pad;
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= wo * groups) return;
  const int g = j % groups, ox = j / groups, sx = reflect(ox - pad, w);
  for (int row = blockIdx.y; row < n * ho; row += gridDim.y) {
    const int s = row / ho, sy = reflect(row - s * ho - pad, h);
    const std::int64_t source = ((static_cast<std::int64_t>(s) * h + sy) * w + sx) * c + g * V;
    float v[V];
    load(x + source, v);
    float2 a[V];
    load_affine(
        affine != nullptr ? affine + (static_cast<std::int64_t>(s) * c + g * V) * 2 : nullptr, a);
    normalize_act(v, a, slope);
    if (residual != nullptr) {
      float r[V];
      load(residual + source, r);
#pragma unroll
      for (int k = 0; k < V; ++k) v[k] += r[k];
    }
    store(out + (static_cast<std::int64_t>(row) * wo + ox) * c + g * V, v);
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

// Source pixels per thread of the mean-only step's forward passes (one channel group each, its
// (scale, offset) pairs loaded once).
constexpr int kRowPixels = 4;

// Stores v at every padded copy of unpadded pixel (uy, ux) of an ny × nx image (plane: the
// sample's padded output at the thread's channel group).
template <class T>
__device__ __forceinline__ void store_reflected(T* plane, int wo, int c, int uy, int ux, int ny,
                                                int nx, int pad, const float (&v)[kVec]) {
  for_each_copy(wo, c, uy, ux, ny, nx, pad, [&](std::int64_t offset) { store(plane + offset, v); });
}

// Forward of mean_act_pad without upsampling: act(y + offset) stored at every padded copy. Block
// (blockIdx.x = n·h + iy, blockIdx.y) takes kRowPixels runs of the row's pixels, a thread one
// channel group of kRowPixels pixels (consecutive threads on consecutive groups: a warp reads
// whole pixels), their loads in flight together.
template <class T>
__global__ void mean_act_pad_kernel(const T* __restrict__ y, const float* __restrict__ affine,
                                    int h, int w, int c, float slope, int pad,
                                    T* __restrict__ out) {
  const int groups = c / kVec, per_pass = kThreads / groups, q = threadIdx.x / groups;
  const int g = threadIdx.x - q * groups;
  if (q >= per_pass) return;
  const int n = static_cast<int>(blockIdx.x) / h, iy = static_cast<int>(blockIdx.x) - n * h;
  const int x0 = blockIdx.y * per_pass * kRowPixels + q;
  float2 a[kVec];
  load_affine(affine + (static_cast<std::int64_t>(n) * c + g * kVec) * 2, a);
  const T* row = y + (static_cast<std::int64_t>(n) * h + iy) * w * c + g * kVec;
  float v[kRowPixels][kVec];
#pragma unroll
  for (int j = 0; j < kRowPixels; ++j)
    if (x0 + j * per_pass < w) load(row + static_cast<std::int64_t>(x0 + j * per_pass) * c, v[j]);
  const int ho = h + 2 * pad, wo = w + 2 * pad;
  T* plane = out + static_cast<std::int64_t>(n) * ho * wo * c + g * kVec;
#pragma unroll
  for (int j = 0; j < kRowPixels; ++j) {
    if (x0 + j * per_pass >= w) break;
    normalize_act(v[j], a, slope);
    store_reflected(plane, wo, c, iy, x0 + j * per_pass, h, w, pad, v[j]);
  }
}

// Padded output pixel (oy, ox) of pad(up(act(y · scale + offset))) for V channels: its
// reflection in the upsampled image, its four bilinear sources, each activated, combined with
// torch's weights and order of operations. plane: the sample's y (h × w × c) at the channel group;
// a: its (scale, offset) pairs.
template <class T, int V>
__device__ __forceinline__ void up_act_pixel(const T* plane, const float2 (&a)[V], int h, int w,
                                             int c, float slope, int pad, int oy, int ox,
                                             float (&v)[V]) {
  const UpSource sy = up_source(reflect(oy - pad, 2 * h), h);
  const UpSource sx = up_source(reflect(ox - pad, 2 * w), w);
  const auto source = [&](int iy, int ix, float(&p)[V]) {
    load(plane + (static_cast<std::int64_t>(iy) * w + ix) * c, p);
  };
  float p00[V], p01[V], p10[V], p11[V];
  source(sy.i0, sx.i0, p00);
  source(sy.i0, sx.i1, p01);
  source(sy.i1, sx.i0, p10);
  source(sy.i1, sx.i1, p11);
  const float h1 = sy.l, h0 = 1.0f - h1, w1 = sx.l, w0 = 1.0f - w1;
#pragma unroll
  for (int k = 0; k < V; ++k) {
    const auto act = [&](float x) {
      x = fmaf(x, a[k].x, a[k].y);
      return x > 0.0f ? x : x * slope;
    };
    v[k] = h0 * (w0 * act(p00[k]) + w1 * act(p01[k])) + h1 * (w0 * act(p10[k]) + w1 * act(p11[k]));
  }
}

// Forward of mean_act_pad with ×2 upsampling: a thread per group of V channels (16-byte accesses
// where C allows) and kRowPixels padded output pixels of a row (consecutive threads on
// consecutive groups), each pixel from its reflection in the upsampled image and its four
// bilinear sources, each activated, combined with torch's weights and order of operations.
// Grid: x over runs of the row, y = output row, z = sample. (One thread per source pixel writing
// its four upsampled pixels needed 118 registers and ran 2.6× slower.)
template <class T, int V>
__global__ void mean_act_up_pad_kernel(const T* __restrict__ y, const float* __restrict__ affine,
                                       int h, int w, int c, float slope, int pad,
                                       T* __restrict__ out) {
  const int groups = c / V, per_pass = kThreads / groups, q = threadIdx.x / groups;
  const int g = threadIdx.x - q * groups, wo = 2 * w + 2 * pad, oy = blockIdx.y, n = blockIdx.z;
  if (q >= per_pass) return;
  float2 a[V];
  load_affine(affine + (static_cast<std::int64_t>(n) * c + g * V) * 2, a);
  const T* plane = y + static_cast<std::int64_t>(n) * h * w * c + g * V;
  T* row = out + (static_cast<std::int64_t>(n) * (2 * h + 2 * pad) + oy) * wo * c + g * V;
#pragma unroll
  for (int j = 0; j < kRowPixels; ++j) {
    const int ox = (blockIdx.x * kRowPixels + j) * per_pass + q;
    if (ox >= wo) break;
    float v[V];
    up_act_pixel<T, V>(plane, a, h, w, c, slope, pad, oy, ox, v);
    store(row + static_cast<std::int64_t>(ox) * c, v);
  }
}

// The gradient reaching unpadded pixel (iy, ix) of y (h × w) from go, the sample's padded output
// gradient (wo columns, c channels; ×2 upsampled when Up) at the thread's channel group.
template <class T, bool Up>
__device__ __forceinline__ void gather_pixel_gradient(const T* go, int wo, int c, int iy, int ix,
                                                      int h, int w, int pad, float (&acc)[kVec]) {
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
    } else {
      for (int uy = max(2 * iy - 1, 0); uy <= min(2 * iy + 2, 2 * h - 1); ++uy) {
        const float wy = up_weight(uy, iy, h);
        if (wy == 0.0f) continue;
        for (int ux = max(2 * ix - 1, 0); ux <= min(2 * ix + 2, 2 * w - 1); ++ux) {
          const float wx = up_weight(ux, ix, w);
          if (wx != 0.0f) gather_reflected(go, wo, c, uy, ux, 2 * h, 2 * w, pad, wy * wx, acc);
        }
      }
    }
  } else {
    gather_reflected(go, wo, c, iy, ix, h, w, pad, 1.0f, acc);
  }
}

// v (y's values) becomes the gradient of y: acc times the activation's slope at y + offset
// (affine a of the channel group), rounded to T as it will be stored.
template <class T>
__device__ __forceinline__ void activation_gradient(float (&v)[kVec], const float (&acc)[kVec],
                                                    const float2 (&a)[kVec], float slope) {
#pragma unroll
  for (int k = 0; k < kVec; ++k) {
    const float pre = fmaf(v[k], a[k].x, a[k].y);
    v[k] = to_float(from_float<T>(pre > 0.0f ? acc[k] : acc[k] * slope));
  }
}

// Backward of mean_act_pad_kernel / mean_act_up_pad_kernel: block (blockIdx.x, blockIdx.y =
// sample) takes a run of pixels of y as plane_sums_kernel does; each thread gathers the gradient
// of its pixel and channel group from grad_out (through the padding, and the upsampling when Up),
// multiplies by the activation's slope at a = y + offset, stores it in grad_y and its block's
// sums of it (the stored, rounded values) in partials[sample][block][channel].
template <class T, bool Up>
__global__ void __launch_bounds__(kThreads, 4)  // 4 blocks per SM: at most 64 registers
    mean_act_pad_backward_kernel(const T* __restrict__ grad_out, const T* __restrict__ y,
                                 const float* __restrict__ affine, int h, int w, int c, float slope,
                                 int pad, int pixels_per_block, T* __restrict__ grad_y,
                                 float* __restrict__ partials) {
  __shared__ float partial[kThreads][kVec];
  const int groups = c / kVec, rows = kThreads / groups, hw = h * w;
  const int t = threadIdx.x, g = t % groups, row = t / groups, n = blockIdx.y;
  const int s = Up ? 2 : 1, ho = s * h + 2 * pad, wo = s * w + 2 * pad;
  const std::int64_t plane = static_cast<std::int64_t>(n) * hw * c + g * kVec;
  const T* go = grad_out + static_cast<std::int64_t>(n) * ho * wo * c + g * kVec;
  float2 a[kVec];
  load_affine(affine + (static_cast<std::int64_t>(n) * c + g * kVec) * 2, a);
  float sum[kVec] = {};
  if (row < rows) {
    const int first = blockIdx.x * pixels_per_block, last = min(hw, first + pixels_per_block);
    for (int p = first + row; p < last; p += rows) {
      const int iy = p / w, ix = p - iy * w;
      float v[kVec], acc[kVec] = {};
      load(y + plane + static_cast<std::int64_t>(p) * c, v);  // in flight during the gather
      gather_pixel_gradient<T, Up>(go, wo, c, iy, ix, h, w, pad, acc);
      activation_gradient<T>(v, acc, a, slope);
#pragma unroll
      for (int k = 0; k < kVec; ++k) sum[k] += v[k];
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
  float* out = partials + (static_cast<std::int64_t>(n) * gridDim.x + blockIdx.x) * c + g * kVec;
#pragma unroll
  for (int k = 0; k < kVec; ++k) out[k] = partial[t][k];
}

// Small planes (the DIP decoder's first levels) take the mean-only step in one launch each way
// instead of three (sums, reduction, pass): block (channel group, sample) of kSmallThreads
// threads holds the whole plane of its kVec channels; the backward pass keeps up to kSmallPixels
// gradients per thread in registers. Its threads read a pixel's channel group each (8 bytes at a
// 2C-byte stride), so the three-kernel path, whose threads span the channels, wins on larger
// planes: on an H100 (1 × 128 × h × w bf16) the one-launch forward took 4.2 / 5.8 / 11.0 µs at
// 16×11 / 32×22 / 64×44 against 12.8 / 13.9 / 16.1, with upsampling 5.7 / 10.8 / 28.9 against
// 13.3 / 14.8 / 20.1; the backward 5.7 / 7.9 / 15.1 against 12.3 / 13.8 / 15.4, with upsampling
// (16 taps per pixel) 17.8 / 30.2 / 72.1 against 19.6 / 19.8 / 22.9. Hence the limits below (the
// 64×44 backward figures, 2,816 pixels, come from a build whose threads held more gradients
// than kSmallPixels = 2 allows: the one-launch backward now stops at 1,024 pixels, between the
// sizes where it won and where the two paths were level). These figures predate 081a9e0, which
// made the three-kernel forward faster; the crossovers were not measured again since.
constexpr int kSmallThreads = 512, kSmallPixels = 2;
constexpr int kSmallForward = 4096, kSmallForwardUp = 1024;  // pixels
constexpr int kSmallBackward = kSmallThreads * kSmallPixels, kSmallBackwardUp = 256;

// Σ over the block of every thread's kVec values, in float64 over the warps in a fixed order: the
// block's thread k < kVec receives channel k's total (others: 0).
__device__ double small_block_sum(const float (&v)[kVec], double (*warp_sums)[kVec]) {
  float s[kVec];
#pragma unroll
  for (int k = 0; k < kVec; ++k) {
    s[k] = v[k];
    for (int offset = 16; offset > 0; offset >>= 1)
      s[k] += __shfl_xor_sync(0xffffffffu, s[k], offset);
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0)
#pragma unroll
    for (int k = 0; k < kVec; ++k) warp_sums[warp][k] = s[k];
  __syncthreads();
  double total = 0.0;
  if (threadIdx.x < kVec)
    for (int w = 0; w < kSmallThreads / 32; ++w) total += warp_sums[w][threadIdx.x];
  return total;
}

// Forward: the plane means, affine = (1, β − mean) (stored for the backward pass), then
// pad(up(act(y + offset))) as mean_act_pad_kernel / mean_act_up_pad_kernel.
template <class T, bool Up>
__global__ void __launch_bounds__(kSmallThreads)
    small_mean_act_pad_kernel(const T* __restrict__ y, const float* __restrict__ beta,
                              float* __restrict__ affine, int h, int w, int c, float slope, int pad,
                              T* __restrict__ out) {
  __shared__ double warp_sums[kSmallThreads / 32][kVec];
  __shared__ alignas(16) float shared_affine[2 * kVec];
  const int g = blockIdx.x, n = blockIdx.y, hw = h * w;
  const T* plane = y + static_cast<std::int64_t>(n) * hw * c + g * kVec;
  float s[kVec] = {};
  for (int p = threadIdx.x; p < hw; p += kSmallThreads) {
    float v[kVec];
    load(plane + static_cast<std::int64_t>(p) * c, v);
#pragma unroll
    for (int k = 0; k < kVec; ++k) s[k] += v[k];
  }
  const double total = small_block_sum(s, warp_sums);
  if (threadIdx.x < kVec) {
    const int ch = g * kVec + threadIdx.x;
    const float offset = static_cast<float>(static_cast<double>(beta[ch]) - total / hw);
    shared_affine[2 * threadIdx.x] = 1.0f;
    shared_affine[2 * threadIdx.x + 1] = offset;
    affine[2 * (static_cast<std::int64_t>(n) * c + ch)] = 1.0f;
    affine[2 * (static_cast<std::int64_t>(n) * c + ch) + 1] = offset;
  }
  __syncthreads();
  float2 a[kVec];
  load_affine(shared_affine, a);
  const int s2 = Up ? 2 : 1, ho = s2 * h + 2 * pad, wo = s2 * w + 2 * pad;
  T* o = out + static_cast<std::int64_t>(n) * ho * wo * c + g * kVec;
  if constexpr (Up) {
    for (int q = threadIdx.x; q < ho * wo; q += kSmallThreads) {
      float v[kVec];
      up_act_pixel<T, kVec>(plane, a, h, w, c, slope, pad, q / wo, q % wo, v);
      store(o + static_cast<std::int64_t>(q) * c, v);
    }
  } else {
    for (int p = threadIdx.x; p < hw; p += kSmallThreads) {
      float v[kVec];
      load(plane + static_cast<std::int64_t>(p) * c, v);
      normalize_act(v, a, slope);
      store_reflected(o, wo, c, p / w, p % w, h, w, pad, v);
    }
  }
}

// Backward: each thread's (at most kSmallPixels) gradients of y stay in registers while the
// block sums them; then the plane mean is subtracted and they are stored. sums (float64) and
// sums_f (float32, += when accumulate) receive the plane sums, as mean_act_pad_backward.
template <class T, bool Up>
__global__ void __launch_bounds__(kSmallThreads)
    small_mean_act_pad_backward_kernel(const T* __restrict__ grad_out, const T* __restrict__ y,
                                       const float* __restrict__ affine, int h, int w, int c,
                                       float slope, int pad, T* __restrict__ grad_y,
                                       double* __restrict__ sums, float* __restrict__ sums_f,
                                       bool accumulate) {
  __shared__ double warp_sums[kSmallThreads / 32][kVec];
  __shared__ float mean[kVec];
  const int g = blockIdx.x, n = blockIdx.y, hw = h * w;
  const int s2 = Up ? 2 : 1, ho = s2 * h + 2 * pad, wo = s2 * w + 2 * pad;
  const T* go = grad_out + static_cast<std::int64_t>(n) * ho * wo * c + g * kVec;
  const std::int64_t plane = static_cast<std::int64_t>(n) * hw * c + g * kVec;
  float2 a[kVec];
  load_affine(affine + (static_cast<std::int64_t>(n) * c + g * kVec) * 2, a);
  float grad[kSmallPixels][kVec], s[kVec] = {};
#pragma unroll
  for (int i = 0; i < kSmallPixels; ++i) {
    const int p = threadIdx.x + i * kSmallThreads;
    if (p >= hw) break;
    float acc[kVec] = {};
    load(y + plane + static_cast<std::int64_t>(p) * c, grad[i]);
    gather_pixel_gradient<T, Up>(go, wo, c, p / w, p % w, h, w, pad, acc);
    activation_gradient<T>(grad[i], acc, a, slope);
#pragma unroll
    for (int k = 0; k < kVec; ++k) s[k] += grad[i][k];
  }
  const double total = small_block_sum(s, warp_sums);
  if (threadIdx.x < kVec) {
    const std::int64_t at = static_cast<std::int64_t>(n) * c + g * kVec + threadIdx.x;
    sums[at] = total;
    if (sums_f != nullptr)
      sums_f[at] = static_cast<float>(total) + (accumulate ? sums_f[at] : 0.0f);
    mean[threadIdx.x] = static_cast<float>(total / hw);
  }
  __syncthreads();
#pragma unroll
  for (int i = 0; i < kSmallPixels; ++i) {
    const int p = threadIdx.x + i * kSmallThreads;
    if (p >= hw) break;
#pragma unroll
    for (int k = 0; k < kVec; ++k) grad[i][k] -= mean[k];
    store(grad_y + plane + static_cast<std::int64_t>(p) * c, grad[i]);
  }
}

// g −= Σ_plane g / (H·W) per plane, in place. Block (blockIdx.x, blockIdx.y = sample) takes a run
// of pixels as plane_sums_kernel does, so that a thread keeps one channel group's means.
template <class T>
__global__ void subtract_means_kernel(T* __restrict__ g, const double* __restrict__ sums, int hw,
                                      int c, int pixels_per_block) {
  const int groups = c / kVec, rows = kThreads / groups;
  const int t = threadIdx.x, group = t % groups, row = t / groups, n = blockIdx.y;
  if (row >= rows) return;
  float mean[kVec];
  const double* s = sums + static_cast<std::int64_t>(n) * c + group * kVec;
#pragma unroll
  for (int k = 0; k < kVec; ++k) mean[k] = static_cast<float>(s[k] / hw);
  T* plane = g + static_cast<std::int64_t>(n) * hw * c + group * kVec;
  const int first = blockIdx.x * pixels_per_block, last = min(hw, first + pixels_per_block);
#pragma unroll 4  // four loads in flight
  for (int p = first + row; p < last; p += rows) {
    float v[kVec];
    load(plane + static_cast<std::int64_t>(p) * c, v);
#pragma unroll
    for (int k = 0; k < kVec; ++k) v[k] -= mean[k];
    store(plane + static_cast<std::int64_t>(p) * c, v);
  }
}

// The weights of a lane's channels channel .. channel + kVec − 1 for every output (0 when the lane
// holds no channels).
template <int O>
__device__ __forceinline__ void lane_weights(const float* __restrict__ weight, int c, int channel,
                                             bool active, float (&w)[O][kVec]) {
#pragma unroll
  for (int o = 0; o < O; ++o)
#pragma unroll
    for (int k = 0; k < kVec; ++k) w[o][k] = active ? weight[o * c + channel + k] : 0.f;
}

// The input transform of the pointwise kernels: none (affine null), or the mean-only step without
// padding, a = act(y · scale + offset) with sample n's (scale, offset) per channel, computed as
// normalize_act does and rounded to T as mean_norm_act_pad would store it.
struct LaneInput {
  float2 a[kVec];
  float slope = 1.f;
  bool act = false;
};
__device__ __forceinline__ LaneInput lane_input(const float* affine, float slope, int n, int c,
                                                int channel, bool active) {
  LaneInput in;
  in.act = affine != nullptr && active;
  in.slope = slope;
  load_affine(in.act ? affine + (static_cast<std::int64_t>(n) * c + channel) * 2 : nullptr, in.a);
  return in;
}

// The value the lane's channels feed to the 1×1 convolution (v: y's values; pre receives the
// pre-activations when in.act).
template <class T>
__device__ __forceinline__ void lane_activation(const LaneInput& in, float (&v)[kVec],
                                                float (&pre)[kVec]) {
  if (!in.act) return;
#pragma unroll
  for (int k = 0; k < kVec; ++k) {
    pre[k] = fmaf(v[k], in.a[k].x, in.a[k].y);
    v[k] = to_float(from_float<T>(pre[k] > 0.0f ? pre[k] : pre[k] * in.slope));
  }
}

// 1×1 convolution to O float32 outputs (the DIP decoder's head), of x itself or of the mean-only
// step's activation (LaneInput): a warp per run of 32 pixels of sample blockIdx.y, lane l holding
// channels 4l .. 4l + 3 (C ≤ 128); per pixel the O dot products are summed over the lanes by
// shuffles and lane j keeps pixel j's, so that every output plane (NCHW) is written 32 pixels at a
// time. Pixels past the end are read clamped and not written.
template <class T, int O>
__global__ void __launch_bounds__(kThreads, 1)  // (kThreads) alone spills
    pointwise_conv_kernel(const T* __restrict__ x, int c, int hw, const float* __restrict__ affine,
                          float slope, const float* __restrict__ weight,
                          const float* __restrict__ bias, float* __restrict__ out) {
  const int lane = threadIdx.x % 32, channel = kVec * lane, n = blockIdx.y;
  const bool active = channel < c;
  float w[O][kVec];
  lane_weights(weight, c, channel, active, w);
  const LaneInput in = lane_input(affine, slope, n, c, channel, active);
  const T* plane = x + static_cast<std::int64_t>(n) * hw * c;
  const int warps = gridDim.x * (kThreads / 32);
  for (int base = (blockIdx.x * (kThreads / 32) + threadIdx.x / 32) * 32; base < hw;
       base += 32 * warps) {
    float mine[O] = {};
#pragma unroll 4
    for (int j = 0; j < 32; ++j) {
      const int p = min(base + j, hw - 1);
      float v[kVec] = {}, pre[kVec];
      if (active) {
        load(plane + static_cast<std::int64_t>(p) * c + channel, v);
        lane_activation<T>(in, v, pre);
      }
      float s[O];
#pragma unroll
      for (int o = 0; o < O; ++o) {
        s[o] = w[o][0] * v[0] + w[o][1] * v[1] + w[o][2] * v[2] + w[o][3] * v[3];
        for (int offset = 16; offset > 0; offset >>= 1)
          s[o] += __shfl_xor_sync(0xffffffffu, s[o], offset);
        if (lane == j) mine[o] = s[o];
      }
    }
    const int p = base + lane;
    if (p < hw)
#pragma unroll
      for (int o = 0; o < O; ++o)
        out[(static_cast<std::int64_t>(n) * O + o) * hw + p] = mine[o] + bias[o];
  }
}

// Its backward pass, same layout: grad_x = Wᵀ·g per pixel (g = grad_out, float32 NCHW, lane j
// loads pixel j's and the warp shares them by shuffles), with the mean-only step: act'(pre) times
// it, each rounded to T as the unfused pair would store them (the plane means are subtracted
// later). Every block's Σ g·x (x: the convolution's input) per output and channel and Σ g per
// output go to partials[block][o][0 .. C], block = sample · gridDim.x + blockIdx.x; with
// input_partials, the block's Σ grad_x per channel to input_partials[block][channel] (fixed orders:
// deterministic).
template <class T, int O>
__global__ void __launch_bounds__(kThreads, 3)  // 3 blocks per SM (at most 80 registers; 2 with 91)
    pointwise_conv_backward_kernel(const T* __restrict__ x, int c, int hw,
                                   const float* __restrict__ affine, float slope,
                                   const float* __restrict__ weight,
                                   const float* __restrict__ grad_out, T* __restrict__ grad_x,
                                   float* __restrict__ partials,
                                   float* __restrict__ input_partials) {
  extern __shared__ float warp_acc[];  // (kThreads / 32) × O × (C + 1), then (kThreads / 32) × C
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, channel = kVec * lane;
  const int n = blockIdx.y, block = n * gridDim.x + blockIdx.x;
  const bool active = channel < c;
  float w[O][kVec], acc[O][kVec] = {}, acc_bias[O] = {}, acc_input[kVec] = {};
  lane_weights(weight, c, channel, active, w);
  const LaneInput in = lane_input(affine, slope, n, c, channel, active);
  const std::int64_t plane = static_cast<std::int64_t>(n) * hw * c + channel;
  const int warps = gridDim.x * (kThreads / 32);
  for (int base = (blockIdx.x * (kThreads / 32) + warp) * 32; base < hw; base += 32 * warps) {
    float g_lane[O];
#pragma unroll
    for (int o = 0; o < O; ++o) {
      g_lane[o] = base + lane < hw
                      ? grad_out[(static_cast<std::int64_t>(n) * O + o) * hw + base + lane]
                      : 0.f;
      acc_bias[o] += g_lane[o];
    }
#pragma unroll 4
    for (int j = 0; j < 32; ++j) {
      const int p = min(base + j, hw - 1);
      float g[O];
#pragma unroll
      for (int o = 0; o < O; ++o) g[o] = __shfl_sync(0xffffffffu, g_lane[o], j);
      if (!active) continue;
      float v[kVec], pre[kVec], gx[kVec];
      load(x + plane + static_cast<std::int64_t>(p) * c, v);
      lane_activation<T>(in, v, pre);
#pragma unroll
      for (int k = 0; k < kVec; ++k) {
        gx[k] = 0.f;
#pragma unroll
        for (int o = 0; o < O; ++o) {
          acc[o][k] += g[o] * v[k];
          gx[k] += w[o][k] * g[o];
        }
        if (in.act) {
          gx[k] = to_float(from_float<T>(gx[k]));
          gx[k] = to_float(from_float<T>(pre[k] > 0.0f ? gx[k] : gx[k] * in.slope));
        }
      }
      if (base + j < hw) {
        store(grad_x + plane + static_cast<std::int64_t>(p) * c, gx);
#pragma unroll
        for (int k = 0; k < kVec; ++k) acc_input[k] += gx[k];
      }
    }
  }
  const int row = O * (c + 1), warps_in_block = kThreads / 32;
  float* input_acc = warp_acc + warps_in_block * row;
#pragma unroll
  for (int o = 0; o < O; ++o) {
    for (int offset = 16; offset > 0; offset >>= 1)
      acc_bias[o] += __shfl_xor_sync(0xffffffffu, acc_bias[o], offset);
    if (active)
#pragma unroll
      for (int k = 0; k < kVec; ++k) warp_acc[warp * row + o * (c + 1) + channel + k] = acc[o][k];
    if (lane == 0) warp_acc[warp * row + o * (c + 1) + c] = acc_bias[o];
  }
  if (input_partials != nullptr && active)
#pragma unroll
    for (int k = 0; k < kVec; ++k) input_acc[warp * c + channel + k] = acc_input[k];
  __syncthreads();
  for (int i = threadIdx.x; i < row; i += kThreads) {
    float total = 0.f;
    for (int v = 0; v < warps_in_block; ++v) total += warp_acc[v * row + i];
    partials[static_cast<std::int64_t>(block) * row + i] = total;
  }
  if (input_partials == nullptr) return;
  for (int i = threadIdx.x; i < c; i += kThreads) {
    float total = 0.f;
    for (int v = 0; v < warps_in_block; ++v) total += input_acc[v * c + i];
    input_partials[static_cast<std::int64_t>(block) * c + i] = total;
  }
}

cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

// Blocks in all of a pass over the pixels of every sample: the plane sums take 528 (4 blocks of 256
// threads per SM of a large GPU; 512² × 128 bf16: 33 µs on an H200, 38 µs with 1056), the
// backward pass, with more work per pixel, 1056. The workspace of per-block sums fits both.
constexpr int kSumBlocks = 528, kGradBlocks = 1056;

// Pixels per block of such a pass (at least one per thread row, c / kVec threads per pixel).
int pixels_per_block(int hw, std::int64_t n, int c, int target) {
  const int rows = kThreads / (c / kVec), blocks = std::max(1, target / static_cast<int>(n));
  return std::max(rows, (hw + blocks - 1) / blocks);
}

// Blocks per sample of such a pass.
int pass_blocks(int hw, std::int64_t n, int c, int target) {
  const int per_block = pixels_per_block(hw, n, c, target);
  return (hw + per_block - 1) / per_block;
}

// Adds the partial sums of `blocks` blocks per sample (width values each) into `o`, in float64.
template <class T>
void reduce_partials(const float* partials, std::int64_t n, int blocks, int width,
                     const ReduceOutputs& o, cudaStream_t s) {
  const dim3 grid((width + 31) / 32, static_cast<unsigned>(n));
  reduce_partials_kernel<T><<<grid, 32 * kReduceWarps, 0, s>>>(partials, blocks, width, o);
}

// grad (y's shape) −= its plane means, from the float64 plane sums.
template <class T>
void subtract_means(T* grad, const double* sums, const Nhwc& y, cudaStream_t s) {
  const int hw = static_cast<int>(y.h * y.w), c = static_cast<int>(y.c);
  const dim3 grid(pass_blocks(hw, y.n, c, kGradBlocks), static_cast<unsigned>(y.n));
  subtract_means_kernel<T>
      <<<grid, kThreads, 0, s>>>(grad, sums, hw, c, pixels_per_block(hw, y.n, c, kGradBlocks));
}

template <class T>
const char* plane_affine_typed(const Nhwc& x, float eps, const float* beta, float* partials,
                               float* affine, cudaStream_t s) {
  const int hw = static_cast<int>(x.h * x.w), c = static_cast<int>(x.c);
  const int per_block = pixels_per_block(hw, x.n, c, kSumBlocks);
  const int blocks = pass_blocks(hw, x.n, c, kSumBlocks);
  const dim3 grid(blocks, static_cast<unsigned>(x.n));
  plane_sums_kernel<T>
      <<<grid, kThreads, 0, s>>>(static_cast<const T*>(x.data), hw, c, per_block, partials);
  ReduceOutputs o;
  o.affine = affine;
  o.x = x.data;
  o.hw = hw;
  o.eps = eps;
  o.beta = beta;
  reduce_partials<T>(partials, x.n, blocks, 2 * c, o, s);
  return launched();
}

// act(affine(x)) (+ residual) padded into out; affine null: act(x) only. 16-byte accesses
// where the channels allow them.
template <class T>
const char* normalize_pad_typed(const Nhwc& x, const float* affine, const void* residual,
                                float slope, int pad, const Nhwc& out, cudaStream_t s) {
  constexpr int kWide = 16 / sizeof(T);
  constexpr std::int64_t kIntLimit = std::int64_t{1} << 31;  // the kernel's 32-bit indexing
  if (out.n * out.h >= kIntLimit || out.w * out.c >= kIntLimit)
    return "normalize_pad: activation too large for 32-bit row indexing";
  const auto launch = [&](auto kernel, int v) {
    const int per_row = static_cast<int>(out.w * (out.c / v));
    const dim3 grid((per_row + kThreads - 1) / kThreads,
                    static_cast<unsigned>(std::min<std::int64_t>(out.n * out.h, 65535)));
    kernel<<<grid, kThreads, 0, s>>>(static_cast<const T*>(x.data), affine,
                                     static_cast<const T*>(residual), static_cast<int>(x.n),
                                     static_cast<int>(x.h), static_cast<int>(x.w),
                                     static_cast<int>(x.c), slope, pad, static_cast<T*>(out.data));
  };
  if (kWide > kVec && x.c % kWide == 0)
    launch(normalize_pad_kernel<T, kWide>, kWide);
  else
    launch(normalize_pad_kernel<T, kVec>, kVec);
  return launched();
}

template <class T>
const char* mean_act_pad_typed(const Nhwc& y, const float* affine, float slope, int pad,
                               bool upsample, const Nhwc& out, cudaStream_t s) {
  const int h = static_cast<int>(y.h), w = static_cast<int>(y.w), c = static_cast<int>(y.c);
  const T* in = static_cast<const T*>(y.data);
  T* o = static_cast<T*>(out.data);
  if (!upsample) {
    const int run = kThreads / (c / kVec) * kRowPixels;  // pixels per block
    const dim3 grid(static_cast<unsigned>(y.n * h), (w + run - 1) / run);
    mean_act_pad_kernel<T><<<grid, kThreads, 0, s>>>(in, affine, h, w, c, slope, pad, o);
    return launched();
  }
  if (out.h > 65535 || out.n > 65535) return "mean_act_pad: more than 65535 rows or samples";
  constexpr int wide = 16 / sizeof(T);  // channels per 16-byte access
  const auto launch = [&](auto v) {
    constexpr int V = decltype(v)::value;
    const int run = kThreads / (c / V) * kRowPixels;  // pixels per block
    const dim3 grid((out.w + run - 1) / run, static_cast<unsigned>(out.h),
                    static_cast<unsigned>(out.n));
    mean_act_up_pad_kernel<T, V><<<grid, kThreads, 0, s>>>(in, affine, h, w, c, slope, pad, o);
  };
  if (c % wide == 0)
    launch(std::integral_constant<int, wide>{});
  else
    launch(std::integral_constant<int, kVec>{});
  return launched();
}

// Whether y's planes take the one-launch kernels (grid: channel groups × samples).
bool small_plane(const Nhwc& y, bool upsample, bool backward) {
  const int limit = backward ? (upsample ? kSmallBackwardUp : kSmallBackward)
                             : (upsample ? kSmallForwardUp : kSmallForward);
  return y.h * y.w <= limit && y.n <= 65535;
}

template <class T>
const char* mean_norm_act_pad_typed(const Nhwc& y, const float* beta, float* partials,
                                    float* affine, float slope, int pad, bool upsample,
                                    const Nhwc& out, cudaStream_t s) {
  if (!small_plane(y, upsample, false)) {
    if (const char* error = plane_affine_typed<T>(y, 0.0f, beta, partials, affine, s)) return error;
    return mean_act_pad_typed<T>(y, affine, slope, pad, upsample, out, s);
  }
  const int h = static_cast<int>(y.h), w = static_cast<int>(y.w), c = static_cast<int>(y.c);
  const dim3 grid(static_cast<unsigned>(c / kVec), static_cast<unsigned>(y.n));
  const T* in = static_cast<const T*>(y.data);
  T* o = static_cast<T*>(out.data);
  if (upsample)
    small_mean_act_pad_kernel<T, true>
        <<<grid, kSmallThreads, 0, s>>>(in, beta, affine, h, w, c, slope, pad, o);
  else
    small_mean_act_pad_kernel<T, false>
        <<<grid, kSmallThreads, 0, s>>>(in, beta, affine, h, w, c, slope, pad, o);
  return launched();
}

template <class T>
const char* mean_act_pad_backward_typed(const Nhwc& grad_out, const Nhwc& y, const float* affine,
                                        float slope, int pad, bool upsample, const Nhwc& grad_y,
                                        float* partials, double* sums, float* sums_f,
                                        bool accumulate, cudaStream_t s) {
  const int h = static_cast<int>(y.h), w = static_cast<int>(y.w), c = static_cast<int>(y.c);
  const T* go = static_cast<const T*>(grad_out.data);
  const T* in = static_cast<const T*>(y.data);
  T* g = static_cast<T*>(grad_y.data);
  if (small_plane(y, upsample, true)) {
    const dim3 grid(static_cast<unsigned>(c / kVec), static_cast<unsigned>(y.n));
    if (upsample)
      small_mean_act_pad_backward_kernel<T, true><<<grid, kSmallThreads, 0, s>>>(
          go, in, affine, h, w, c, slope, pad, g, sums, sums_f, accumulate);
    else
      small_mean_act_pad_backward_kernel<T, false><<<grid, kSmallThreads, 0, s>>>(
          go, in, affine, h, w, c, slope, pad, g, sums, sums_f, accumulate);
    return launched();
  }
  const int per_block = pixels_per_block(h * w, y.n, c, kGradBlocks);
  const int blocks = pass_blocks(h * w, y.n, c, kGradBlocks);
  const dim3 grid(blocks, static_cast<unsigned>(y.n));
  if (upsample)
    mean_act_pad_backward_kernel<T, true>
        <<<grid, kThreads, 0, s>>>(go, in, affine, h, w, c, slope, pad, per_block, g, partials);
  else
    mean_act_pad_backward_kernel<T, false>
        <<<grid, kThreads, 0, s>>>(go, in, affine, h, w, c, slope, pad, per_block, g, partials);
  if (const char* error = launched()) return error;
  ReduceOutputs o;
  o.sums = sums;
  o.sums_f = sums_f;
  o.accumulate_f = accumulate;
  reduce_partials<T>(partials, y.n, blocks, c, o, s);
  subtract_means<T>(g, sums, y, s);
  return launched();
}

// The pointwise kernels' grid: blocks per sample (x) and samples (y), about 4 blocks per SM in all.
dim3 pointwise_grid(const Nhwc& x) {
  static const int multiprocessors = [] {
    int device = 0, count = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device);
    return count > 0 ? count : 1;
  }();
  const std::int64_t runs = (x.h * x.w + 31) / 32;
  const std::int64_t per_sample = std::max<std::int64_t>(1, 4 * multiprocessors / x.n);
  return dim3(static_cast<unsigned>(
                  std::min<std::int64_t>((runs + kThreads / 32 - 1) / (kThreads / 32), per_sample)),
              static_cast<unsigned>(x.n));
}

template <class T, int O>
const char* pointwise_conv_typed(const Nhwc& x, const float* affine, float slope,
                                 const float* weight, const float* bias, float* out,
                                 cudaStream_t s) {
  pointwise_conv_kernel<T, O><<<pointwise_grid(x), kThreads, 0, s>>>(
      static_cast<const T*>(x.data), static_cast<int>(x.c), static_cast<int>(x.h * x.w), affine,
      slope, weight, bias, out);
  return launched();
}

template <class T, int O>
const char* pointwise_conv_backward_typed(const Nhwc& x, const float* affine, float slope,
                                          const float* weight, const float* grad_out,
                                          const Nhwc& grad_x, float* partials,
                                          float* input_partials, cudaStream_t s) {
  const std::size_t shared =
      sizeof(float) * (kThreads / 32) * (O * (x.c + 1) + (input_partials != nullptr ? x.c : 0));
  pointwise_conv_backward_kernel<T, O><<<pointwise_grid(x), kThreads, shared, s>>>(
      static_cast<const T*>(x.data), static_cast<int>(x.c), static_cast<int>(x.h * x.w), affine,
      slope, weight, grad_out, static_cast<T*>(grad_x.data), partials, input_partials);
  return launched();
}

// f(T{}, std::integral_constant<int, O>{}) for x's scalar type T and O = outputs (1 .. 4).
template <class F>
const char* dispatch_outputs(const Nhwc& x, int outputs, F&& f) {
  return dispatch(x.scalar, [&](auto t) -> const char* {
    switch (outputs) {
      case 1: return f(t, std::integral_constant<int, 1>{});
      case 2: return f(t, std::integral_constant<int, 2>{});
      case 3: return f(t, std::integral_constant<int, 3>{});
      case 4: return f(t, std::integral_constant<int, 4>{});
      default: return "pointwise_conv: 1 to 4 outputs";
    }
  });
}

}  // namespace

int pointwise_conv_blocks(const Nhwc& x) {
  const dim3 grid = pointwise_grid(x);
  return static_cast<int>(grid.x * grid.y);
}

const char* pointwise_conv(const Nhwc& x, const float* weight, const float* bias, int outputs,
                           float* out, void* stream) {
  return mean_act_pointwise(x, nullptr, 1.f, weight, bias, outputs, out, stream);
}

const char* pointwise_conv_backward(const Nhwc& x, const float* weight, int outputs,
                                    const float* grad_out, const Nhwc& grad_x, float* partials,
                                    void* stream) {
  return dispatch_outputs(x, outputs, [&](auto t, auto o) {
    return pointwise_conv_backward_typed<decltype(t), decltype(o)::value>(
        x, nullptr, 1.f, weight, grad_out, grad_x, partials, nullptr, as_stream(stream));
  });
}

const char* mean_act_pointwise(const Nhwc& y, const float* affine, float slope, const float* weight,
                               const float* bias, int outputs, float* out, void* stream) {
  return dispatch_outputs(y, outputs, [&](auto t, auto o) {
    return pointwise_conv_typed<decltype(t), decltype(o)::value>(y, affine, slope, weight, bias,
                                                                 out, as_stream(stream));
  });
}

const char* mean_act_pointwise_backward(const Nhwc& y, const float* affine, float slope,
                                        const float* weight, int outputs, const float* grad_out,
                                        const Nhwc& grad_y, float* partials, float* input_partials,
                                        double* sums, float* sums_f, bool accumulate,
                                        void* stream) {
  return dispatch_outputs(y, outputs, [&](auto t, auto o) -> const char* {
    using T = decltype(t);
    const cudaStream_t s = as_stream(stream);
    if (const char* error = pointwise_conv_backward_typed<T, decltype(o)::value>(
            y, affine, slope, weight, grad_out, grad_y, partials, input_partials, s))
      return error;
    ReduceOutputs r;
    r.sums = sums;
    r.sums_f = sums_f;
    r.accumulate_f = accumulate;
    reduce_partials<T>(input_partials, y.n, static_cast<int>(pointwise_grid(y).x),
                       static_cast<int>(y.c), r, s);
    subtract_means<T>(static_cast<T*>(grad_y.data), sums, y, s);
    return launched();
  });
}

std::int64_t plane_partials_floats(const Nhwc& x) {
  const int hw = static_cast<int>(x.h * x.w), c = static_cast<int>(x.c);
  return x.n * x.c *
         std::max(2 * pass_blocks(hw, x.n, c, kSumBlocks), pass_blocks(hw, x.n, c, kGradBlocks));
}

const char* plane_affine(const Nhwc& x, float eps, const float* beta, float* partials,
                         float* affine, void* stream) {
  return dispatch(x.scalar, [&](auto t) {
    return plane_affine_typed<decltype(t)>(x, eps, beta, partials, affine, as_stream(stream));
  });
}

const char* normalize_pad(const Nhwc& x, const float* affine, const void* residual, float slope,
                          int pad, const Nhwc& out, void* stream) {
  return dispatch(x.scalar, [&](auto t) {
    return normalize_pad_typed<decltype(t)>(x, affine, residual, slope, pad, out,
                                            as_stream(stream));
  });
}

const char* mean_norm_act_pad(const Nhwc& y, const float* beta, float* partials, float* affine,
                              float slope, int pad, bool upsample, const Nhwc& out, void* stream) {
  return dispatch(y.scalar, [&](auto t) {
    return mean_norm_act_pad_typed<decltype(t)>(y, beta, partials, affine, slope, pad, upsample,
                                                out, as_stream(stream));
  });
}

const char* mean_act_pad_backward(const Nhwc& grad_out, const Nhwc& y, const float* affine,
                                  float slope, int pad, bool upsample, const Nhwc& grad_y,
                                  float* partials, double* sums, float* sums_f, bool accumulate,
                                  void* stream) {
  return dispatch(y.scalar, [&](auto t) {
    return mean_act_pad_backward_typed<decltype(t)>(grad_out, y, affine, slope, pad, upsample,
                                                    grad_y, partials, sums, sums_f, accumulate,
                                                    as_stream(stream));
  });
}

}  // namespace strata::nn::cuda
