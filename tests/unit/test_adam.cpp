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

// On CUDA (the fused kernel where it applies): more tensors, one over several kernel chunks and
// one channels-last, against torch::optim::Adam on the same device; the step count on the host
// or the device; a float64 tensor among them sends the step to the LibTorch-op path.
class AdamCuda : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(AdamCuda, FollowsLibTorchAdam) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto [device_count, with_float64] = GetParam();
  const auto cuda = torch::TensorOptions().device(torch::kCUDA);
  torch::manual_seed(0);
  const std::vector<torch::Tensor> start{
      torch::randn({4, 3}, cuda), torch::randn({3, 5}, cuda), torch::randn({10000}, cuda),
      torch::randn({8, 16, 3, 3}, cuda).contiguous(torch::MemoryFormat::ChannelsLast),
      torch::randn({7}, cuda.dtype(with_float64 ? torch::kFloat64 : torch::kFloat32))};
  const auto target = torch::randn({4, 5}, cuda);
  const auto loss = [&](const std::vector<torch::Tensor>& p) {
    return loss_of(p, target) + (p[2] - 1.0).square().sum() + (p[3] * p[3] * p[3]).abs().sum() +
           p[4].square().sum().to(torch::kFloat32);
  };
  std::vector<torch::Tensor> ours, theirs;
  for (const auto& t : start) {
    ours.push_back(t.clone().requires_grad_(true));
    theirs.push_back(t.clone().requires_grad_(true));
  }
  Adam adam(ours, 0.05);
  if (device_count) adam.count_on_device();
  torch::optim::Adam reference(theirs, torch::optim::AdamOptions(0.05));
  for (int i = 0; i < 30; ++i) {
    adam.zero_grad();
    loss(ours).backward();
    adam.step();
    reference.zero_grad();
    loss(theirs).backward();
    reference.step();
  }
  for (std::size_t k = 0; k < start.size(); ++k) {
    EXPECT_LE(testing::max_abs_diff(ours[k], theirs[k]), 1e-5) << "tensor " << k;
    EXPECT_EQ(ours[k].strides(), start[k].strides());
  }
}

INSTANTIATE_TEST_SUITE_P(CountAndDtypes, AdamCuda,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()));

TEST(Adam, RefusesBadSettingsAndMissingGradients) {
  const auto p = torch::zeros({2}, torch::requires_grad());
  EXPECT_THROW(Adam({p}, -1.0), Error);
  EXPECT_THROW(Adam({p}, 0.1, 1.0), Error);
  Adam adam({p}, 0.1);
  EXPECT_THROW(adam.step(), Error);
}

}  // namespace
}  // namespace strata::train
