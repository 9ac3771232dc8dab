#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "../../core/cuda/scalar.cuh"
#include "launch.cuh"
#include "lipschitz_kernels.hpp"

namespace strata::nn::cuda {

namespace {

constexpr int kThreads = 256;
constexpr float kNormEps = 1e-12f;  // x / max(‖x‖, eps), as torch's normalize

using strata::cuda::from_float;
using strata::cuda::to_float;

// The workspace of layer l: Wᵀu (cols), then Wv (rows).
__host__ __device__ std::int64_t workspace_offset(const LipschitzBatch& b, int l) {
  std::int64_t offset = 0;
  for (int i = 0; i < l; ++i) offset += b.layer[i].cols + b.layer[i].rows;
  return offset;
}

// Σ of v over the block (every thread gets it); `scratch` holds kThreads / 32 floats.
__device__ float block_sum(float v, float* scratch) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  __syncthreads();  // scratch may still be read from a previous call
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < kThreads / 32; ++w) total += scratch[w];  // fixed order
  return total;
}

// Wᵀu: block (run of 32 columns, layer), lane = column, warp w the rows w, w + 8, ...; the warps'
// sums added in a fixed order.
__global__ void transposed_product_kernel(LipschitzBatch b, float* __restrict__ workspace) {
  __shared__ float warp_sum[kThreads / 32][32];
  const LipschitzLayer& L = b.layer[blockIdx.y];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, j = blockIdx.x * 32 + lane;
  float acc = 0.0f;
  if (j < L.cols)
#pragma unroll 4
    for (int o = warp; o < L.rows; o += kThreads / 32)
      acc = fmaf(L.weight[static_cast<std::int64_t>(o) * L.cols + j], L.u[o], acc);
  warp_sum[warp][lane] = acc;
  __syncthreads();
  if (warp != 0 || j >= L.cols) return;
  for (int w = 1; w < kThreads / 32; ++w) acc += warp_sum[w][lane];
  workspace[workspace_offset(b, blockIdx.y) + j] = acc;
}

// Wv with v = Wᵀu / ‖Wᵀu‖: block (run of 8 rows, layer) first normalises v into shared memory,
// then a warp per row.
__global__ void product_kernel(LipschitzBatch b, float* __restrict__ workspace) {
  extern __shared__ float v[];
  __shared__ float scratch[kThreads / 32];
  const LipschitzLayer& L = b.layer[blockIdx.y];
  float* ws = workspace + workspace_offset(b, blockIdx.y);
  float sq = 0.0f;
  for (int j = threadIdx.x; j < L.cols; j += kThreads) {
    v[j] = ws[j];
    sq = fmaf(v[j], v[j], sq);
  }
  const float inv = 1.0f / fmaxf(sqrtf(block_sum(sq, scratch)), kNormEps);
  const int lane = threadIdx.x % 32, o = blockIdx.x * (kThreads / 32) + threadIdx.x / 32;
  if (o >= L.rows) return;
  const float* row = L.weight + static_cast<std::int64_t>(o) * L.cols;
  float s = 0.0f;
#pragma unroll 4
  for (int j = lane; j < L.cols; j += 32) s = fmaf(row[j], v[j], s);
  for (int offset = 16; offset > 0; offset >>= 1) s += __shfl_xor_sync(0xffffffffu, s, offset);
  if (lane == 0) ws[L.cols + o] = s * inv;
}

// σ = ‖Wv‖, scale = 1 / max(1, σ/λ) (Eq. 2.5); block (0, layer) stores u = Wv / σ, σ and the
// scale; every block writes its share of W · scale.
template <class T>
__global__ void finish_kernel(LipschitzBatch b, const float* __restrict__ workspace) {
  __shared__ float scratch[kThreads / 32];
  const LipschitzLayer& L = b.layer[blockIdx.y];
  const float* wv = workspace + workspace_offset(b, blockIdx.y) + L.cols;
  float sq = 0.0f;
  for (int o = threadIdx.x; o < L.rows; o += kThreads) sq = fmaf(wv[o], wv[o], sq);
  const float sigma = sqrtf(block_sum(sq, scratch));
  const float scale = b.lambda > 0.0f ? 1.0f / fmaxf(1.0f, sigma / b.lambda) : 1.0f;
  if (blockIdx.x == 0) {
    const float inv = 1.0f / fmaxf(sigma, kNormEps);
    for (int o = threadIdx.x; o < L.rows; o += kThreads) L.u[o] = wv[o] * inv;
    if (threadIdx.x == 0) {
      *L.sigma = sigma;
      *L.scale = scale;
    }
  }
  T* out = static_cast<T*>(L.effective);
  const std::int64_t count = static_cast<std::int64_t>(L.rows) * L.cols;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; e < count;
       e += static_cast<std::int64_t>(gridDim.x) * kThreads)
    out[e] = from_float<T>(L.weight[e] * scale);
}

template <class T>
__global__ void backward_kernel(LipschitzGradBatch b) {
  const LipschitzGradLayer& L = b.layer[blockIdx.y];
  const T* g = static_cast<const T*>(L.grad_effective);
  const float scale = *L.scale;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; e < L.count;
       e += static_cast<std::int64_t>(gridDim.x) * kThreads) {
    const float v = to_float(g[e]) * scale;
    L.grad_weight[e] = L.accumulate ? L.grad_weight[e] + v : v;
  }
}

// Blocks per layer of an elementwise pass over the largest layer's `count` elements (≥ 1).
unsigned element_blocks(std::int64_t count) {
  return static_cast<unsigned>(
      std::clamp<std::int64_t>((count + 4 * kThreads - 1) / (4 * kThreads), 1, 1024));
}

}  // namespace

std::int64_t lipschitz_workspace_floats(const LipschitzBatch& batch) {
  return workspace_offset(batch, batch.count);
}

const char* lipschitz_weights(const LipschitzBatch& b, float* workspace, void* stream) {
  if (b.count < 1 || b.count > kMaxLipschitzLayers) return "lipschitz_weights: 1 to 16 layers";
  int max_rows = 0, max_cols = 0;
  std::int64_t max_count = 0;
  for (int l = 0; l < b.count; ++l) {
    max_rows = std::max(max_rows, b.layer[l].rows);
    max_cols = std::max(max_cols, b.layer[l].cols);
    max_count = std::max(max_count, static_cast<std::int64_t>(b.layer[l].rows) * b.layer[l].cols);
    if (b.layer[l].rows < 1 || b.layer[l].cols < 1) return "lipschitz_weights: an empty layer";
  }
  if (max_cols > kMaxLipschitzColumns) return "lipschitz_weights: more than 8192 columns";
  const auto s = static_cast<cudaStream_t>(stream);
  transposed_product_kernel<<<dim3((max_cols + 31) / 32, b.count), kThreads, 0, s>>>(b, workspace);
  product_kernel<<<dim3((max_rows + kThreads / 32 - 1) / (kThreads / 32), b.count), kThreads,
                   sizeof(float) * max_cols, s>>>(b, workspace);
  return dispatch(b.scalar, [&](auto t) {
    finish_kernel<decltype(t)>
        <<<dim3(element_blocks(max_count), b.count), kThreads, 0, s>>>(b, workspace);
    return launched();
  });
}

const char* lipschitz_weights_backward(const LipschitzGradBatch& b, void* stream) {
  if (b.count < 1 || b.count > kMaxLipschitzLayers) return "lipschitz_weights: 1 to 16 layers";
  std::int64_t max_count = 0;
  for (int l = 0; l < b.count; ++l) max_count = std::max(max_count, b.layer[l].count);
  return dispatch(b.scalar, [&](auto t) {
    backward_kernel<decltype(t)><<<dim3(element_blocks(max_count), b.count), kThreads, 0,
                                   static_cast<cudaStream_t>(stream)>>>(b);
    return launched();
  });
}

}  // namespace strata::nn::cuda
