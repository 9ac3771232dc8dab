// strata's CUDA kernel for one Adam step over many float32 tensors at once: one launch where the
// multi-tensor LibTorch ops with a device-side step count take four small kernels per tensor
// (about a hundred per deep-image-prior iteration). Torch-free on purpose: compiled by nvcc
// without LibTorch headers, called from src/train/adam.cpp, which owns the tensors and keeps the
// LibTorch-op path for CPU builds and every other case.
#pragma once

namespace strata::train::cuda {

/// One tensor of the step: parameter, gradient and the two moments, all float32 with the same
/// dense layout (numel elements from each pointer).
struct AdamTensor {
  float* param;
  const float* grad;
  float* m;
  float* v;
  long long numel;
};

/// A block's share: elements offset .. offset + kAdamChunk − 1 of tensor `tensor`.
struct AdamChunk {
  long long tensor, offset;
};
constexpr long long kAdamChunk = 4096;

struct AdamSettings {
  double lr, beta1, beta2, eps;
};

/// m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + eps) for every
/// chunk, with t read from `count` (device memory, already advanced) when not null, else
/// `host_count`. `tensors` and `chunks` are device arrays. nullptr on success or CUDA's error
/// string; `stream` is a cudaStream_t.
const char* adam_step(const AdamTensor* tensors, const AdamChunk* chunks, int chunk_count,
                      const double* count, double host_count, const AdamSettings& settings,
                      void* stream);

}  // namespace strata::train::cuda
