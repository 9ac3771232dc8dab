#include "strata/train/rmsprop.hpp"

#include <torch/torch.h>

#include "strata/core/error.hpp"

namespace strata::train {

RmsProp::RmsProp(const torch::nn::Module& module, double alpha, double eps)
    : alpha_(alpha), eps_(eps) {
  for (const auto& p : module.named_parameters()) {
    params_[p.key()] = p.value();
    square_avg_[p.key()] = torch::zeros_like(p.value());
  }
}

void RmsProp::step(double lr) {
  torch::NoGradGuard no_grad;
  for (auto& [name, p] : params_) {
    const auto& g = p.grad();
    if (!g.defined()) continue;
    auto& v = square_avg_.at(name);
    v.mul_(alpha_).addcmul_(g, g, 1.0 - alpha_);
    p.addcdiv_(g, v.sqrt().add_(eps_), -lr);
  }
}

void RmsProp::zero_grad() {
  for (auto& [name, p] : params_)
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
}

void RmsProp::load_state(const std::map<std::string, torch::Tensor>& state) {
  check(state.size() == square_avg_.size(), "", "optimizer state: parameter count differs");
  for (auto& [name, v] : square_avg_) {
    const auto it = state.find(name);
    check(it != state.end() && it->second.sizes() == v.sizes(), "",
          "optimizer state: missing or mis-shaped entry " + name);
    torch::NoGradGuard no_grad;
    v.copy_(it->second);
  }
}

}  // namespace strata::train
