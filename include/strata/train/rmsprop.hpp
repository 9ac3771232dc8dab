// RMSprop (Hinton's, as torch.optim.RMSprop without momentum or centering) with its state exposed
// by parameter name, so checkpoints hold it and a resumed run continues bit for bit.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

namespace strata::train {

class RmsProp {
 public:
  /// Optimises every parameter of `module` (by dotted name).
  explicit RmsProp(const torch::nn::Module& module, double alpha = 0.9, double eps = 1e-8);

  /// v ← α v + (1 − α) g², p ← p − lr · g / (√v + eps), for parameters that have a gradient.
  void step(double lr);
  void zero_grad();

  /// The running averages v by parameter name.
  const std::map<std::string, torch::Tensor>& state() const { return square_avg_; }
  /// Restores state() (same names and shapes; throws strata::Error otherwise).
  void load_state(const std::map<std::string, torch::Tensor>& state);

 private:
  std::map<std::string, torch::Tensor> params_, square_avg_;
  double alpha_, eps_;
};

}  // namespace strata::train
