#include "strata/train/adam.hpp"

#include <torch/torch.h>

#include <cmath>
#include <cstring>

#include "strata/core/error.hpp"

#ifdef STRATA_HAVE_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "../core/kernel_support.hpp"
#include "cuda/adam_kernel.hpp"
#endif

namespace strata::train {

Adam::Adam(std::vector<torch::Tensor> params, double lr, double beta1, double beta2, double eps)
    : params_(std::move(params)), lr_(lr), beta1_(beta1), beta2_(beta2), eps_(eps) {
  check(lr >= 0.0 && beta1 >= 0.0 && beta1 < 1.0 && beta2 >= 0.0 && beta2 < 1.0 && eps > 0.0, "",
        "Adam: need lr >= 0, betas in [0, 1) and eps > 0");
  for (const auto& p : params_) {
    m_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    v_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
  }
}

void Adam::count_on_device() {
  if (t_device_.defined() || params_.empty()) return;
  t_device_ =
      torch::full({}, static_cast<double>(t_), params_.front().options().dtype(torch::kFloat64));
}

void Adam::step() {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  grads.reserve(params_.size());
  for (const auto& p : params_) {
    check(p.grad().defined(), "", "Adam: a parameter has no gradient");
    grads.push_back(p.grad());
  }
  ++t_;
  if (fused_step(grads)) return;
  torch::_foreach_mul_(m_, beta1_);
  torch::_foreach_add_(m_, grads, 1.0 - beta1_);
  torch::_foreach_mul_(v_, beta2_);
  torch::_foreach_addcmul_(v_, grads, grads, 1.0 - beta2_);
  auto denominator = torch::_foreach_sqrt(v_);
  if (t_device_.defined()) {
    // The bias corrections 1 − βᵗ as 0-dim device tensors.
    t_device_.add_(1.0);
    const auto step_size = -lr_ / (1.0 - torch::pow(beta1_, t_device_));
    const auto inverse_root2 = torch::rsqrt(1.0 - torch::pow(beta2_, t_device_));
    for (std::size_t i = 0; i < params_.size(); ++i) {
      denominator[i].mul_(inverse_root2).add_(eps_);
      params_[i].addcdiv_(m_[i] * step_size, denominator[i]);
    }
    return;
  }
  const double correction1 = 1.0 - std::pow(beta1_, static_cast<double>(t_));
  const double correction2 = 1.0 - std::pow(beta2_, static_cast<double>(t_));
  torch::_foreach_div_(denominator, std::sqrt(correction2));
  torch::_foreach_add_(denominator, eps_);
  torch::_foreach_addcdiv_(params_, m_, denominator, -lr_ / correction1);
}

bool Adam::fused_step(const std::vector<torch::Tensor>& grads) {
#ifdef STRATA_HAVE_CUDA_KERNELS
  if (params_.empty() || !params_.front().is_cuda()) return false;
  const auto device = params_.front().device();
  const auto fits = [&](const torch::Tensor& t, const torch::Tensor& p) {
    return t.device() == device && t.scalar_type() == torch::kFloat32 &&
           t.is_non_overlapping_and_dense() && t.strides() == p.strides();
  };
  // The tables: per tensor its four pointers and element count (cuda::AdamTensor), then per
  // block of kAdamChunk elements its tensor and offset (cuda::AdamChunk).
  std::vector<std::int64_t> table;
  std::int64_t chunks = 0;
  const auto pointer = [](const torch::Tensor& t) {
    std::int64_t bits = 0;
    const void* data = t.data_ptr();
    std::memcpy(&bits, &data, sizeof(data));
    return bits;
  };
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i];
    if (!fits(p, p) || !fits(grads[i], p) || !fits(m_[i], p) || !fits(v_[i], p)) return false;
    table.insert(table.end(),
                 {pointer(p), pointer(grads[i]), pointer(m_[i]), pointer(v_[i]), p.numel()});
    chunks += (p.numel() + cuda::kAdamChunk - 1) / cuda::kAdamChunk;
  }
  if (chunks > (std::int64_t{1} << 31) - 1) return false;
  const auto tensors = static_cast<std::int64_t>(params_.size());
  for (std::int64_t i = 0; i < tensors; ++i)
    for (std::int64_t offset = 0; offset < params_[i].numel(); offset += cuda::kAdamChunk)
      table.insert(table.end(), {i, offset});
  if (table != fused_table_host_) {  // new tensors: a host-to-device copy (never while capturing)
    fused_table_host_ = table;
    fused_table_ =
        torch::from_blob(fused_table_host_.data(),
                         {static_cast<std::int64_t>(fused_table_host_.size())}, torch::kInt64)
            .to(device);
  }
  const c10::cuda::CUDAGuard guard(device);
  if (t_device_.defined()) t_device_.add_(1.0);
  const auto* base = fused_table_.data_ptr<std::int64_t>();
  static_assert(sizeof(cuda::AdamTensor) == 5 * sizeof(std::int64_t));
  static_assert(sizeof(cuda::AdamChunk) == 2 * sizeof(std::int64_t));
  const char* error = cuda::adam_step(
      reinterpret_cast<const cuda::AdamTensor*>(base),
      reinterpret_cast<const cuda::AdamChunk*>(base + 5 * tensors), static_cast<int>(chunks),
      t_device_.defined() ? t_device_.data_ptr<double>() : nullptr, static_cast<double>(t_),
      {lr_, beta1_, beta2_, eps_}, c10::cuda::getCurrentCUDAStream().stream());
  check_launch(error, "Adam");
  return true;
#else
  (void)grads;
  return false;
#endif
}

void Adam::zero_grad() {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params_)
    if (p.grad().defined()) grads.push_back(p.mutable_grad());
  if (!grads.empty()) torch::_foreach_zero_(grads);
}

}  // namespace strata::train
