// CUDA graphs of inference stages (nn::StageGraphs) and HIPe with them: replays give the eager
// results, the cache records once per stage and shape, follows moved parameters, and stays eager
// where it cannot record (the CPU, autograd).
#include <torch/torch.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "strata/core/cuda_graph.hpp"
#include "strata/models/hipe.hpp"
#include "strata/nn/layers.hpp"
#include "strata/nn/layout.hpp"
#include "strata/nn/stage_graphs.hpp"
#include "testing.hpp"

namespace strata::nn {
namespace {

using testing::max_abs_diff;

torch::nn::Sequential small_stage() {
  return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)),
                               InstanceNorm(), torch::nn::ReLU(),
                               torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 3, 3).padding(1)));
}

TEST(StageGraphs, EagerOnTheCpuAndWithAutograd) {
  torch::manual_seed(0);
  auto stage = small_stage();
  StageGraphs graphs;
  const auto x = torch::rand({1, 3, 20, 24});
  for (int i = 0; i < 3; ++i) {
    torch::NoGradGuard no_grad;
    EXPECT_EQ(max_abs_diff(graphs.run(stage, x), forward_fused(stage, x)), 0.0);
  }
  EXPECT_EQ(graphs.recorded(), 0);
  EXPECT_EQ(graphs.replayed(), 0);
  const auto y = graphs.run(stage, x);  // autograd on: eager, differentiable
  EXPECT_TRUE(y.requires_grad());
}

bool can_record() { return torch::cuda::is_available() && StepGraph::supported(); }

TEST(StageGraphs, ReplaysMatchEagerRunsAndFollowMovedParameters) {
  if (!can_record()) GTEST_SKIP() << "no CUDA graphs in this build or no CUDA device";
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;
  auto stage = small_stage();
  stage->to(torch::kCUDA);
  stage->eval();
  StageGraphs graphs(2);
  std::vector<torch::Tensor> inputs;
  for (int i = 0; i < 4; ++i) inputs.push_back(torch::rand({1, 3, 20, 24}, torch::kCUDA));
  std::vector<torch::Tensor> outputs;
  for (const auto& x : inputs) outputs.push_back(graphs.run(stage, x));
  EXPECT_EQ(graphs.recorded(), 1);  // eager, then recorded on the second call
  EXPECT_EQ(graphs.replayed(), 3);
  for (std::size_t i = 0; i < inputs.size(); ++i)  // every output its own tensor
    EXPECT_LE(max_abs_diff(outputs[i], forward_fused(stage, inputs[i])), 1e-6) << i;
  // In-place changes of the weights are seen by the replays.
  for (auto& p : stage->parameters()) p.mul_(0.5);
  EXPECT_LE(max_abs_diff(graphs.run(stage, inputs[0]), forward_fused(stage, inputs[0])), 1e-6);
  EXPECT_EQ(graphs.recorded(), 1);
  // Moved parameters (a new dtype): eager once, then recorded again.
  stage->to(torch::kDouble);
  const auto x64 = inputs[1].to(torch::kDouble);
  for (int i = 0; i < 3; ++i)
    EXPECT_LE(max_abs_diff(graphs.run(stage, x64), forward_fused(stage, x64)), 1e-12);
  EXPECT_EQ(graphs.recorded(), 2);
  // Another shape is another recording; beyond the capacity the least recently used goes (the
  // float32 key), the double one stays.
  const auto wide = torch::rand({1, 3, 20, 40}, torch::dtype(torch::kDouble).device(torch::kCUDA));
  for (int i = 0; i < 2; ++i)
    EXPECT_LE(max_abs_diff(graphs.run(stage, wide), forward_fused(stage, wide)), 1e-12);
  EXPECT_EQ(graphs.recorded(), 3);
  EXPECT_EQ(graphs.size(), 2u);
  EXPECT_LE(max_abs_diff(graphs.run(stage, x64), forward_fused(stage, x64)), 1e-12);
  EXPECT_EQ(graphs.recorded(), 3);  // replayed, not recorded again
  const auto narrow = torch::rand({1, 3, 20, 32}, x64.options());
  for (int i = 0; i < 2; ++i) graphs.run(stage, narrow);  // drops `wide`, now the oldest
  EXPECT_EQ(graphs.recorded(), 4);
  for (int i = 0; i < 2; ++i)
    EXPECT_LE(max_abs_diff(graphs.run(stage, wide), forward_fused(stage, wide)), 1e-12);
  EXPECT_EQ(graphs.recorded(), 5);  // `wide` was dropped: eager, then recorded anew
  // Back to float32: the float32 key was dropped above, so eager, then recorded anew.
  stage->to(torch::kFloat);
  for (int i = 0; i < 3; ++i)
    EXPECT_LE(max_abs_diff(graphs.run(stage, inputs[2]), forward_fused(stage, inputs[2])), 1e-6);
  EXPECT_EQ(graphs.recorded(), 6);
  // A layer in training mode, or inference mode, keeps every call eager.
  stage[1]->train();
  for (int i = 0; i < 3; ++i) graphs.run(stage, inputs[3]);
  stage->eval();
  {
    c10::InferenceMode inference;
    const auto x = inputs[3].clone();
    for (int i = 0; i < 3; ++i) graphs.run(stage, x);
  }
  EXPECT_EQ(graphs.recorded(), 6);
  graphs.clear();
  EXPECT_EQ(graphs.size(), 0u);
}

// Two peelings with one cache (the second replays every stage) against eager peeling, in float32
// and float16 channels-last, and the guider's edge maps over scales and flips. Eager runs are
// compared with each other too: replays may differ from them only as much as they do.
TEST(StageGraphs, HipeWithGraphsMatchesEagerHipe) {
  if (!can_record()) GTEST_SKIP() << "no CUDA graphs in this build or no CUDA device";
  torch::manual_seed(2);
  models::HipeGuider guider;
  models::HipePeeler peeler;
  guider->eval();
  peeler->eval();
  const auto image = torch::rand({3, 50, 66}, torch::kCUDA);
  for (const auto dtype : {torch::kFloat32, torch::kFloat16}) {
    for (torch::nn::Module* m : {static_cast<torch::nn::Module*>(guider.get()),
                                 static_cast<torch::nn::Module*>(peeler.get())}) {
      m->to(torch::kCUDA, dtype);
      to_channels_last(*m);
    }
    const models::PeelOptions eager{3, {}, dtype, true};
    const auto first = models::hipe_peel(guider, peeler, image, eager);
    const auto want = models::hipe_peel(guider, peeler, image, eager);
    double scatter = 0.0;
    for (std::size_t t = 0; t < want.levels.size(); ++t)
      scatter = std::max(scatter, max_abs_diff(first.levels[t], want.levels[t]));
    auto options = eager;
    options.graphs = std::make_shared<StageGraphs>();
    for (int call = 0; call < 2; ++call) {
      const auto got = models::hipe_peel(guider, peeler, image, options);
      for (std::size_t t = 0; t < want.levels.size(); ++t) {
        EXPECT_LE(max_abs_diff(got.levels[t], want.levels[t]), std::max(1e-6, 2 * scatter))
            << "dtype " << dtype << " call " << call << " level " << t << "; eager runs differ by "
            << scatter;
        EXPECT_LE(max_abs_diff(got.guidance[t], want.guidance[t]), 1e-6)
            << "dtype " << dtype << " call " << call << " level " << t;
      }
    }
    EXPECT_EQ(options.graphs->recorded(), 5) << dtype;  // head, body, state, mask, peeler
    EXPECT_GT(options.graphs->replayed(), 5) << dtype;
  }
  guider->to(torch::kFloat32);  // hipe_edges runs the guider in float32
  models::EdgeOptions edges{3, {0.5, 1.0}, models::EdgeCombine::Logit, 0, 2};
  const auto want = models::hipe_edges(guider, image, edges);
  edges.graphs = std::make_shared<StageGraphs>();
  EXPECT_LE(max_abs_diff(models::hipe_edges(guider, image, edges), want), 1e-6);
  EXPECT_GT(edges.graphs->replayed(), 0);
}

// Tuned convolutions (cuDNN's benchmark mode inside the call) give the CPU's peeling up to the
// algorithms' rounding and leave the mode as it was. The size is one no other test uses: tuning
// does nothing for shapes the process has run already.
TEST(StageGraphs, TunedConvolutionsPeelAlike) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(4);
  models::HipeGuider guider;
  models::HipePeeler peeler;
  guider->to(torch::kCUDA);
  peeler->to(torch::kCUDA);
  const auto image = torch::rand({3, 44, 58}, torch::kCUDA);
  models::PeelOptions options{2, {}};
  options.tune_convolutions = true;
  const auto got = models::hipe_peel(guider, peeler, image, options);
  EXPECT_FALSE(at::globalContext().benchmarkCuDNN());
  options.tune_convolutions = false;
  guider->to(torch::kCPU);
  peeler->to(torch::kCPU);
  const auto want = models::hipe_peel(guider, peeler, image.cpu(), options);
  for (std::size_t t = 0; t < want.levels.size(); ++t)  // TF32 on the GPU
    EXPECT_LE(max_abs_diff(got.levels[t].cpu(), want.levels[t]), 2e-2) << t;
}

}  // namespace
}  // namespace strata::nn
