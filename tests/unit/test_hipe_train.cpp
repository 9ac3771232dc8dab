// HIPe training: ∇, the losses against hand-computed values, RMSprop against LibTorch's, the data
// sampler, exact resume, and the train/peel commands end to end on a tiny data set.
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/filter/gradient.hpp"
#include "strata/image/tensor.hpp"
#include "strata/nn/weights.hpp"
#include "strata/train/edge_data.hpp"
#include "strata/train/hipe_losses.hpp"
#include "strata/train/hipe_trainer.hpp"
#include "strata/train/rmsprop.hpp"
#include "testing.hpp"

namespace strata::train {
namespace {

using testing::max_abs_diff;

TEST(Gradient, ForwardDifferencesByHand) {
  const auto x = torch::tensor({1.0f, 2.0f, 4.0f, 3.0f, 3.0f, 0.0f}).view({1, 2, 3});
  // row 0: |0| + |0|, |2-1|, |4-2|; row 1: |3-1| + 0, |3-2| + |3-3|, |0-4| + |0-3|
  const auto expected = torch::tensor({0.0f, 1.0f, 2.0f, 2.0f, 1.0f, 7.0f}).view({1, 2, 3});
  EXPECT_EQ(max_abs_diff(filter::gradient_l1(x), expected), 0.0);
  EXPECT_EQ(filter::gradient_l1(torch::ones({3, 5, 4})).abs().sum().item<double>(), 0.0);
}

TEST(HipeLosses, GuiderTargetsFollowTheRecursion) {
  // One channel row: a step of 0.5 at column 1; edges on column 1 only.
  const auto image = torch::tensor({0.0f, 0.5f, 0.5f}).view({1, 1, 1, 3}).expand({1, 3, 1, 3});
  const auto edges = torch::tensor({0.0f, 1.0f, 0.0f}).view({1, 1, 1, 3});
  const auto t = guider_targets(image, edges, 5);
  ASSERT_EQ(t.size(), 5u);
  // on the edge: ∇ = 0.5, T1 = 0.6·0.5 + 1 = 1.3, then kept (∘E = 1); off edges ∇ = 0.
  for (std::size_t k = 0; k < 5; ++k) {
    EXPECT_NEAR(t[k][0][0][0][1].item<double>(), 1.3, 1e-6) << k;
    EXPECT_NEAR(t[k][0][0][0][2].item<double>(), 0.0, 1e-6) << k;
  }
  // Off-edge gradient decays by (1 − α_t): 0.6, 0.3, 0.06, 0 (α = 0.4, 0.5, 0.8, 1).
  const auto flat = torch::tensor({0.0f, 1.0f, 1.0f}).view({1, 1, 1, 3}).expand({1, 3, 1, 3});
  const auto off = guider_targets(flat, torch::zeros({1, 1, 1, 3}), 4);
  const double expect[] = {0.6, 0.3, 0.06, 0.0};
  for (std::size_t k = 0; k < 4; ++k)
    EXPECT_NEAR(off[k][0][0][0][1].item<double>(), expect[k], 1e-6);
}

TEST(HipeLosses, GuiderLossByHand) {
  // G = 0.25 everywhere, T = 0.5: per level λ·0.75·0.5 + 0.25·0.5; levels λ = 20, 20.
  const auto g = torch::full({1, 1, 2, 2}, 0.25);
  const auto target = torch::full({1, 3, 2, 2}, 0.5);
  const auto loss = guider_loss({g, g}, {target, target});
  EXPECT_NEAR(loss.item<double>(), 1.5 * 2 * (20 * 0.375 + 0.125), 1e-5);
  EXPECT_THROW(guider_loss({g}, {target, target}), Error);
}

TEST(HipeLosses, PeelerLossByHand) {
  torch::manual_seed(0);
  const auto image = torch::rand({2, 3, 8, 8});
  const auto g = torch::full({2, 1, 8, 8}, 0.5);
  // Levels equal to the targets: no reconstruction or preservation loss, consistency only.
  const auto same = peeler_loss({image, image}, {image, image}, {g, g});
  EXPECT_NEAR(same.reconstruction.item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(same.preservation.item<double>(), 0.0, 1e-12);
  const auto grad = filter::gradient_l1(image);
  const double con =
      2 * (grad / (grad * 0.5 + 0.005)).square().sum().sqrt().item<double>() / (3.0 * 2 * 64);
  EXPECT_NEAR(same.consistency.item<double>(), con, 1e-4 * con);
  EXPECT_NEAR(same.total.item<double>(), 4.0 * con, 1e-4 * con);
  // A flat level: reconstruction is its MSE (averaged over levels), preservation Eq. 4.
  const auto flat = torch::full_like(image, 0.5);
  const auto l = peeler_loss({flat, image}, {image, image}, {g, g});
  EXPECT_NEAR(l.reconstruction.item<double>(), (flat - image).square().mean().item<double>() / 2,
              1e-6);
  EXPECT_NEAR(l.preservation.item<double>(), (0.5 * grad).square().mean().item<double>() / 2, 1e-6);
}

TEST(RmsProp, MatchesLibTorch) {
  torch::manual_seed(1);
  auto a = torch::nn::Linear(4, 3);
  auto b = torch::nn::Linear(4, 3);
  nn::load_module_weights(*b, {nn::module_state(*a), {}}, "a");
  RmsProp ours(*a, 0.9, 1e-8);
  torch::optim::RMSprop reference(b->parameters(),
                                  torch::optim::RMSpropOptions(0.01).alpha(0.9).eps(1e-8));
  const auto x = torch::randn({5, 4});
  for (int i = 0; i < 3; ++i) {
    ours.zero_grad();
    a->forward(x).square().sum().backward();
    ours.step(0.01);
    reference.zero_grad();
    b->forward(x).square().sum().backward();
    reference.step();
  }
  EXPECT_LT(max_abs_diff(a->weight, b->weight), 1e-6);
  EXPECT_LT(max_abs_diff(a->bias, b->bias), 1e-6);
}

// A tiny data set: 3 images of 40×48 with two annotators each.
struct TinyData {
  testing::TempDir dir;
  std::string images = dir.file("images"), gt = dir.file("gt");
  TinyData() {
    make_directories(images);
    make_directories(gt);
    torch::manual_seed(7);
    for (int i = 0; i < 3; ++i) {
      const std::string id = "img" + std::to_string(i);
      image::write_image(images + "/" + id + ".png", torch::rand({3, 40, 48}));
      auto e1 = torch::zeros({1, 40, 48}), e2 = torch::zeros({1, 40, 48});
      e1.narrow(2, 10 + i, 1).fill_(1.0);
      e2.narrow(2, 10 + i, 2).fill_(1.0);
      image::write_image(gt + "/" + id + "_1.png", e1);
      image::write_image(gt + "/" + id + "_2.png", e2);
    }
  }
};

TEST(EdgeDataset, AnnotatorMeanAndDeterministicSampling) {
  TinyData d;
  const EdgeDataset data({d.images}, {d.gt}, 32);
  EXPECT_EQ(data.size(), 3u);
  const auto a = data.sample(5, 17, 4, torch::kCPU), b = data.sample(5, 17, 4, torch::kCPU);
  EXPECT_EQ(a.images.sizes(), (std::vector<std::int64_t>{4, 3, 32, 32}));
  EXPECT_EQ(max_abs_diff(a.images, b.images), 0.0);
  EXPECT_GT(max_abs_diff(a.images, data.sample(5, 18, 4, torch::kCPU).images), 0.0);
  // Edge values are the annotator mean: 0, 0.5 or 1 (to 8-bit precision).
  const auto e = a.edges;
  const auto near = [&e](double v) { return (e - v).abs().lt(0.003); };
  EXPECT_TRUE((near(0.0) | near(0.5) | near(1.0)).all().item<bool>());
  EXPECT_THROW(EdgeDataset({d.images}, {d.gt}, 41), Error);      // crop > image
  EXPECT_THROW(EdgeDataset({d.images}, {d.images}, 32), Error);  // no annotations
}

HipeTrainOptions tiny_options(const TinyData& d, const std::string& out) {
  HipeTrainOptions o;
  o.image_dirs = {d.images};
  o.gt_dirs = {d.gt};
  o.out_dir = out;
  o.iterations = 4;
  o.batch = 2;
  o.crop = 32;
  o.levels = 2;
  o.seed = 3;
  return o;
}

TEST(HipeTrainer, ResumeContinuesExactly) {
  TinyData d;
  auto straight = tiny_options(d, d.dir.file("straight"));
  const auto s = train_hipe(straight);
  ASSERT_TRUE(s.finished);
  auto split = tiny_options(d, d.dir.file("split"));
  split.max_run_iterations = 2;
  const auto first = train_hipe(split);
  EXPECT_FALSE(first.finished);
  EXPECT_EQ(first.iteration, 2);
  split.resume = true;
  split.max_run_iterations = 0;
  EXPECT_TRUE(train_hipe(split).finished);
  const auto w1 = nn::load_safetensors(s.weights_path);
  const auto w2 = nn::load_safetensors(d.dir.file("split") + "/hipe-guider.safetensors");
  ASSERT_EQ(w1.tensors.size(), w2.tensors.size());
  for (const auto& [name, t] : w1.tensors)
    EXPECT_EQ(max_abs_diff(t, w2.tensors.at(name)), 0.0) << name;
  EXPECT_EQ(w1.metadata.at("model"), "hipe-guider");
  // Resuming with other settings is refused.
  auto other = tiny_options(d, d.dir.file("split"));
  other.resume = true;
  other.batch = 3;
  EXPECT_THROW(train_hipe(other), Error);
}

TEST(HipeTrainer, GuiderLossDecreases) {
  TinyData d;
  auto o = tiny_options(d, d.dir.file("run"));
  o.iterations = 30;
  o.lr = 1e-3;
  train_hipe(o);
  std::ifstream log(d.dir.file("run") + "/log.csv");
  std::string line;
  std::vector<double> losses;
  std::getline(log, line);
  while (std::getline(log, line)) losses.push_back(std::stod(line.substr(line.rfind(',') + 1)));
  ASSERT_EQ(losses.size(), 3u);
  EXPECT_LT(losses.back(), losses.front());
}

TEST(HipeTrainer, TeacherTargetsSmoothMoreEachLevel) {
  TinyData d;
  const EdgeDataset data({d.images}, {}, 32);
  const auto batch = data.sample(1, 0, 2, torch::kCPU);
  HipeTrainOptions o;
  o.teacher = "l0";
  o.teacher_alpha = 0.01;
  o.levels = 3;
  const auto levels = teacher_targets(batch.images, o);
  ASSERT_EQ(levels.size(), 3u);
  double previous = filter::gradient_l1(batch.images).sum().item<double>();
  for (const auto& level : levels) {
    const double energy = filter::gradient_l1(level).sum().item<double>();
    EXPECT_LT(energy, previous);
    previous = energy;
  }
  o.teacher = "bilateral";
  EXPECT_THROW(teacher_targets(batch.images, o), Error);
}

// Per-image targets (the teacher's levels of whole images) are cut and flipped with their crops.
TEST(HipeTrainer, PrecomputedTargetsFollowTheCrops) {
  TinyData d;
  image::write_image(d.images + "/other.png", torch::rand({3, 36, 52}));  // a batch of its own
  EdgeDataset data({d.images}, {}, 32);
  std::size_t reported = 0;
  data.precompute_targets(
      [](const torch::Tensor& images) {
        return std::vector<torch::Tensor>{images * 0.5, 1.0 - images};
      },
      2, [&reported](std::size_t done, std::size_t) { reported = done; });
  EXPECT_EQ(reported, data.size());
  for (std::int64_t iteration = 0; iteration < 4; ++iteration) {
    const auto b = data.sample(7, iteration, 3, torch::kCPU);
    ASSERT_EQ(b.targets.size(), 2u);
    ASSERT_EQ(b.targets[0].sizes(), b.images.sizes());
    EXPECT_LE(max_abs_diff(b.targets[0], b.images * 0.5), 1e-3);  // float16 storage
    EXPECT_LE(max_abs_diff(b.targets[1], 1.0 - b.images), 1e-3);
  }
  EXPECT_THROW(data.precompute_targets(
                   [](const torch::Tensor& images) {
                     return std::vector<torch::Tensor>{images.narrow(2, 0, 8)};
                   },
                   2),
               Error);
}

// Supervised mode ("Ours-S") needs no boundary maps.
TEST(HipeTrainer, SupervisedStagesTrainWithoutBoundaries) {
  TinyData d;
  auto o = tiny_options(d, d.dir.file("guider"));
  o.gt_dirs.clear();
  o.teacher = "l0";
  const auto g = train_hipe(o);
  ASSERT_TRUE(g.finished);
  EXPECT_TRUE(std::isfinite(g.last_loss));
  const auto w = nn::load_safetensors(g.weights_path);
  EXPECT_EQ(w.metadata.at("teacher"), "l0");
  o.stage = HipeStage::Peeler;
  o.guider_weights = g.weights_path;
  o.out_dir = d.dir.file("peeler");
  const auto p = train_hipe(o);
  EXPECT_TRUE(p.finished);
  EXPECT_TRUE(std::isfinite(p.last_loss));
  o.stage = HipeStage::Guider;
  o.teacher.clear();
  EXPECT_THROW(train_hipe(o), Error);  // unsupervised guider without boundaries
}

// run_strata with the arguments of a space-separated string (test paths have no spaces).
testing::RunResult strata(const std::string& line) {
  std::vector<std::string> args;
  std::istringstream in(line);
  for (std::string a; in >> a;) args.push_back(a);
  return testing::run_strata(args);
}

TEST(HipeCli, TrainThenPeel) {
  TinyData d;
  const std::string models = d.dir.file("models");
  const std::string common = " --iters 2 --batch 1 --crop 32 --levels 2 --out " + models;
  auto r =
      strata("--device cpu -q train hipe-guider --data " + d.images + " --gt " + d.gt + common);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = strata("--device cpu -q train hipe-peeler --data " + d.images + " --guider " + models +
             "/hipe-guider.safetensors" + common);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string out = d.dir.file("peeled");
  const std::string input = d.images + "/img0.png";
  r = strata("--device cpu peel " + input + " -o " + out + " --levels 3 --sheet --model " + models);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"I_1.png", "I_3.pfm", "G_2.png", "P_3.png", "C_1.pfm", "sheet.png"})
    EXPECT_TRUE(path_exists(out + "/" + f)) << f;
  // I^{t-1} = I^t + C^t holds in the float outputs.
  const auto i1 = image::read_image(out + "/I_1.pfm"), i2 = image::read_image(out + "/I_2.pfm");
  const auto c2 = image::read_image(out + "/C_2.pfm");
  EXPECT_LT(max_abs_diff(i1, i2 + c2), 1e-6);
  const auto original = image::read_image(input);
  EXPECT_LT(max_abs_diff(original, i1 + image::read_image(out + "/C_1.pfm")), 1e-6);
  // User guidance needs no guider; missing weights and inputs are clear errors.
  r = strata("--device cpu -q peel " + input + " -o " + d.dir.file("user") +
             " --levels 2 --guide " + d.gt + "/img0_1.png --model " + models);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = strata("--device cpu peel " + input + " -o " + d.dir.file("x") + " --model " +
             d.dir.file("nowhere"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no HIPe weights"), std::string::npos) << r.err;
  EXPECT_FALSE(path_exists(d.dir.file("x")));
  r = strata("--device cpu peel " + d.dir.file("missing.png") + " -o " + out);
  EXPECT_EQ(r.exit_code, 1);
}

}  // namespace
}  // namespace strata::train
