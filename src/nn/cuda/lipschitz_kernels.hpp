// strata's CUDA kernels for the Lipschitz normalisation of convolution weights (thesis Eq. 2.5)
// with a warm-started power iteration: one step for a batch of layers of any shapes in three
// kernels, writing W / max(1, σ/λ) in the compute dtype, and its backward pass in one kernel.
// Torch-free, called from src/nn/lipschitz.cpp; built only when LibTorch has CUDA.
#pragma once

#include <cstdint>

#include "layer_kernels.hpp"

namespace strata::nn::cuda {

constexpr int kMaxLipschitzLayers = 16;
/// Columns (C_in·k·k) the kernels take: the normalised vector v lives in shared memory.
constexpr int kMaxLipschitzColumns = 8192;

/// One layer: its float32 weight as a rows × cols matrix (row-major, C_out × C_in·k·k in the
/// weight's memory order), its power-iteration vector u (rows, float32, updated in place), and
/// the outputs: effective (rows × cols in the batch's scalar type), sigma (1 float: the new
/// ‖W‖_sn estimate) and scale (1 float: 1 / max(1, σ/λ)).
struct LipschitzLayer {
  const float* weight = nullptr;
  float* u = nullptr;
  void* effective = nullptr;
  float* sigma = nullptr;
  float* scale = nullptr;
  int rows = 0, cols = 0;
};

struct LipschitzBatch {
  LipschitzLayer layer[kMaxLipschitzLayers];
  int count = 0;
  float lambda = 0.0f;
  Scalar scalar = Scalar::Float32;
};

/// Floats of the workspace lipschitz_weights takes.
std::int64_t lipschitz_workspace_floats(const LipschitzBatch& batch);

/// One power-iteration step per layer, v = Wᵀu / ‖Wᵀu‖, u = Wv / ‖Wv‖, σ = ‖Wv‖, then
/// effective = W / max(1, σ/λ) (Eq. 2.5). nullptr on success or CUDA's error string.
const char* lipschitz_weights(const LipschitzBatch& batch, float* workspace, void* stream);

/// Backward: grad_weight (float32, rows·cols) = (or += when accumulate) grad_effective (the
/// batch's scalar type, same memory order) · scale, per layer.
struct LipschitzGradLayer {
  const void* grad_effective = nullptr;
  float* grad_weight = nullptr;
  const float* scale = nullptr;
  std::int64_t count = 0;
  bool accumulate = false;
};
struct LipschitzGradBatch {
  LipschitzGradLayer layer[kMaxLipschitzLayers];
  int count = 0;
  Scalar scalar = Scalar::Float32;
};
const char* lipschitz_weights_backward(const LipschitzGradBatch& batch, void* stream);

}  // namespace strata::nn::cuda
