// Adam (Kingma & Ba 2015, as torch.optim.Adam without weight decay or AMSGrad) over a fixed list
// of parameters, stepping all of them with a handful of multi-tensor (_foreach) kernels instead
// of ~10 per parameter: the deep-image-prior loop is launch-bound on the GPU.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace strata::train {

class Adam {
 public:
  explicit Adam(std::vector<torch::Tensor> params, double lr, double beta1 = 0.9,
                double beta2 = 0.999, double eps = 1e-8);

  /// Keeps the step count t on the parameters' device, so that step() reads nothing from the
  /// host and can be recorded once in a CUDA graph and replayed (a few more kernels per step).
  void count_on_device();

  /// m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + eps).
  /// Every parameter must have a gradient. On CUDA, with float32 parameters and gradients of the
  /// same dense layout, one fused kernel does the step (built with the CUDA kernels).
  void step();
  /// Zeroes the gradients in place (keeps their memory).
  void zero_grad();
  long steps() const { return t_; }

 private:
  std::vector<torch::Tensor> params_, m_, v_;
  double lr_, beta1_, beta2_, eps_;
  long t_ = 0;
  torch::Tensor t_device_;  // float64 step count when counting on the device

  /// The fused CUDA step; false (nothing done) where it does not apply.
  bool fused_step(const std::vector<torch::Tensor>& grads);
  std::vector<std::int64_t> fused_table_host_;  // the kernel's tensor and chunk tables
  torch::Tensor fused_table_;                   // the same on the device
};

}  // namespace strata::train
