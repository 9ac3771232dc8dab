// Properties every catalogued filter must have, checked through the uniform registry interface.
#include <torch/torch.h>

#include "strata/core/error.hpp"
#include "strata/filter/registry.hpp"
#include "testing.hpp"

namespace strata::filter {
namespace {

// A small RGB test scene: smooth ramp, a step edge and fine texture.
torch::Tensor scene() {
  torch::manual_seed(1);
  const auto y = torch::linspace(0, 1, 40).view({1, 40, 1});
  const auto x = torch::linspace(0, 1, 48).view({1, 1, 48});
  torch::Tensor img = (0.3 * y + 0.2 * x).expand({3, 40, 48}).clone();
  img.narrow(2, 24, 24).add_(0.4);
  return img + 0.02 * torch::randn({3, 40, 48});
}

TEST(Registry, NamesAreUniqueAndFindable) {
  std::set<std::string> names;
  for (const auto& f : filter_catalogue()) {
    EXPECT_TRUE(names.insert(f.name).second) << f.name;
    EXPECT_EQ(&find_filter(f.name), &f);
    EXPECT_FALSE(f.description.empty());
  }
  EXPECT_GE(names.size(), 12u);
  try {
    find_filter("nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.reason().find("guided"), std::string::npos) << "lists the known filters";
  }
}

TEST(Registry, EveryFilterKeepsShapeAndIsFinite) {
  const torch::Tensor img = scene();
  for (const auto& f : filter_catalogue()) {
    const torch::Tensor out = run_filter(f, img, {}, {});
    EXPECT_EQ(out.sizes(), img.sizes()) << f.name;
    EXPECT_EQ(out.scalar_type(), torch::kFloat32) << f.name;
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>()) << f.name;
    EXPECT_GT(testing::max_abs_diff(out, img), 5e-3) << f.name << " changes the image";
  }
}

TEST(Registry, EveryFilterLeavesAConstantImageConstant) {
  const torch::Tensor flat = torch::full({3, 24, 30}, 0.37f);
  for (const auto& f : filter_catalogue()) {
    const torch::Tensor out = run_filter(f, flat, {}, {});
    EXPECT_LT(testing::max_abs_diff(out, flat), 1e-4) << f.name;
  }
}

TEST(Registry, BatchesEqualSingleImages) {
  const torch::Tensor a = scene(), b = scene().flip({2});
  for (const auto& f : filter_catalogue()) {
    const torch::Tensor both = run_filter(f, torch::stack({a, b}), {}, {});
    EXPECT_LT(testing::max_abs_diff(both[1], run_filter(f, b, {}, {})), 1e-4) << f.name;
  }
}

TEST(Registry, ParametersAreValidated) {
  const torch::Tensor img = scene();
  EXPECT_THROW(run_filter(find_filter("box"), img, {}, {{"eps", 0.1}}), Error);
  EXPECT_THROW(run_filter(find_filter("box"), img, {}, {{"radius", 1.5}}), Error);
  EXPECT_THROW(run_filter(find_filter("box"), img, img, {}), Error);  // takes no guide
  EXPECT_THROW(run_filter(find_filter("guided"), img, {}, {{"eps", NAN}}), Error);
  const torch::Tensor r2 = run_filter(find_filter("box"), img, {}, {{"radius", 2}});
  const torch::Tensor r5 = run_filter(find_filter("box"), img, {}, {{"radius", 5}});
  EXPECT_GT(testing::max_abs_diff(r2, r5), 1e-3) << "the value reaches the filter";
}

TEST(Registry, GuideChangesGuidedFilters) {
  const torch::Tensor img = scene();
  const torch::Tensor flat_guide = torch::full({1, 40, 48}, 0.5f);
  for (const char* name : {"guided", "umgf", "weighted-guided"}) {
    const torch::Tensor self = run_filter(find_filter(name), img, {}, {});
    const torch::Tensor guided = run_filter(find_filter(name), img, flat_guide, {});
    EXPECT_GT(testing::max_abs_diff(self, guided), 1e-2) << name;
  }
}

}  // namespace
}  // namespace strata::filter
