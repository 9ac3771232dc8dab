#include "strata/train/adam.hpp"

#include <torch/torch.h>

#include <cmath>

#include "strata/core/error.hpp"

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

void Adam::zero_grad() {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params_)
    if (p.grad().defined()) grads.push_back(p.mutable_grad());
  if (!grads.empty()) torch::_foreach_zero_(grads);
}

}  // namespace strata::train
