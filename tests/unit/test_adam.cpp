// strata's multi-tensor Adam against torch::optim::Adam: the same trajectory.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "strata/core/error.hpp"
#include "strata/train/adam.hpp"
#include "testing.hpp"

namespace strata::train {
namespace {

// A small least-squares problem with two parameter tensors of different shapes.
torch::Tensor loss_of(const std::vector<torch::Tensor>& p, const torch::Tensor& target) {
  return (p[0].matmul(p[1]) - target).square().sum() + p[1].abs().sum() * 0.1;
}

class AdamTrajectory : public ::testing::TestWithParam<bool> {};

TEST_P(AdamTrajectory, FollowsLibTorchAdam) {
  torch::manual_seed(0);
  const auto a0 = torch::randn({4, 3}), b0 = torch::randn({3, 5}), target = torch::randn({4, 5});
  std::vector<torch::Tensor> ours{a0.clone().requires_grad_(true), b0.clone().requires_grad_(true)};
  std::vector<torch::Tensor> theirs{a0.clone().requires_grad_(true),
                                    b0.clone().requires_grad_(true)};
  Adam adam(ours, 0.05);
  if (GetParam()) adam.count_on_device();
  torch::optim::Adam reference(theirs, torch::optim::AdamOptions(0.05));
  for (int i = 0; i < 50; ++i) {
    adam.zero_grad();
    loss_of(ours, target).backward();
    adam.step();
    reference.zero_grad();
    loss_of(theirs, target).backward();
    reference.step();
  }
  EXPECT_EQ(adam.steps(), 50);
  for (int k = 0; k < 2; ++k) EXPECT_LE(testing::max_abs_diff(ours[k], theirs[k]), 1e-5);
  // and it optimised: the loss fell
  EXPECT_LT(loss_of(ours, target).item<double>(), loss_of({a0, b0}, target).item<double>() * 0.5);
}

INSTANTIATE_TEST_SUITE_P(HostAndDeviceCount, AdamTrajectory, ::testing::Bool());

TEST(Adam, RefusesBadSettingsAndMissingGradients) {
  const auto p = torch::zeros({2}, torch::requires_grad());
  EXPECT_THROW(Adam({p}, -1.0), Error);
  EXPECT_THROW(Adam({p}, 0.1, 1.0), Error);
  Adam adam({p}, 0.1);
  EXPECT_THROW(adam.step(), Error);
}

}  // namespace
}  // namespace strata::train
