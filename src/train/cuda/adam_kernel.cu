#include "adam_kernel.hpp"

#include <cuda_runtime.h>

namespace strata::train::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    adam_kernel(const AdamTensor* tensors, const AdamChunk* chunks, const double* count,
                double host_count, AdamSettings s) {
  const AdamChunk chunk = chunks[blockIdx.x];
  const AdamTensor t = tensors[chunk.tensor];
  const double step = count ? *count : host_count;
  // The bias corrections in float64, as the LibTorch-op path computes them.
  const float step_size = static_cast<float>(-s.lr / (1.0 - pow(s.beta1, step)));
  const float inverse_root2 = static_cast<float>(rsqrt(1.0 - pow(s.beta2, step)));
  const float b1 = static_cast<float>(s.beta1), b2 = static_cast<float>(s.beta2);
  const float c1 = static_cast<float>(1.0 - s.beta1), c2 = static_cast<float>(1.0 - s.beta2);
  const float eps = static_cast<float>(s.eps);
  const long long end = min(chunk.offset + kAdamChunk, t.numel);
  for (long long i = chunk.offset + threadIdx.x; i < end; i += kThreads) {
    const float g = t.grad[i];
    const float m = t.m[i] * b1 + g * c1;
    const float v = t.v[i] * b2 + g * g * c2;
    t.m[i] = m;
    t.v[i] = v;
    t.param[i] += m * step_size / (sqrtf(v) * inverse_root2 + eps);
  }
}

}  // namespace

const char* adam_step(const AdamTensor* tensors, const AdamChunk* chunks, int chunk_count,
                      const double* count, double host_count, const AdamSettings& settings,
                      void* stream) {
  if (chunk_count <= 0) return nullptr;
  adam_kernel<<<chunk_count, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      tensors, chunks, count, host_count, settings);
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

}  // namespace strata::train::cuda
