// The DIP benchmark's degradations (thesis ch. 2 protocols), `strata eval restore` and the
// curves of `strata restore --plot`.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <string>

#include "strata/core/file.hpp"
#include "strata/eval/metrics.hpp"
#include "strata/image/color.hpp"
#include "strata/image/tensor.hpp"
#include "strata/train/dip_benchmark.hpp"
#include "testing.hpp"

namespace strata::train {
namespace {

torch::Tensor ramp_image(std::int64_t h, std::int64_t w) {
  const auto y = torch::linspace(0.1, 0.9, h).view({1, h, 1});
  const auto x = torch::linspace(0.2, 0.8, w).view({1, 1, w});
  return torch::cat({y + 0 * x, 0.5 * (y + x), 1.0 - x + 0 * y}, 0).clamp(0.0, 1.0);
}

DipBenchmarkOptions with_task(RestoreTask task) {
  DipBenchmarkOptions o;
  o.restore.task = task;
  return o;
}

TEST(DipBenchmark, NoiseHasTheRequestedSigmaAndIsClipped) {
  const auto clean = torch::full({3, 64, 64}, 0.5);
  auto o = with_task(RestoreTask::Denoise);
  o.sigma = 25.0;
  const auto d = degrade_for_benchmark(clean, o, 7);
  EXPECT_NEAR((d.observed - clean).std().item<double>(), 25.0 / 255.0, 0.003);
  EXPECT_TRUE(torch::equal(d.reference, clean));
  EXPECT_TRUE(torch::equal(degrade_for_benchmark(clean, o, 7).observed, d.observed));
  EXPECT_FALSE(torch::equal(degrade_for_benchmark(clean, o, 8).observed, d.observed));
  o.sigma = 400.0;  // most values leave [0, 1] before clipping
  const auto clipped = degrade_for_benchmark(clean, o, 7).observed;
  EXPECT_GE(clipped.min().item<double>(), 0.0);
  EXPECT_LE(clipped.max().item<double>(), 1.0);
}

TEST(DipBenchmark, DeblockingCompressesTheLumaChannel) {
  const auto clean = torch::rand({3, 48, 40}, torch::TensorOptions().dtype(torch::kFloat32));
  auto o = with_task(RestoreTask::Deblock);
  o.quality = 10;
  const auto d = degrade_for_benchmark(clean, o, 0);
  ASSERT_EQ(d.observed.sizes(), (std::vector<std::int64_t>{1, 48, 40}));
  // The reference is the 8-bit Y (studio range) of the colour image.
  const auto y = image::rgb_to_ycbcr(clean).narrow(0, 0, 1);
  EXPECT_LT((d.reference - y).abs().max().item<double>(), 0.5 / 255.0 + 1e-6);
  const double q10 = eval::mean_psnr(d.observed, d.reference);
  o.quality = 90;
  const double q90 = eval::mean_psnr(degrade_for_benchmark(clean, o, 0).observed, d.reference);
  EXPECT_LT(q10, q90);
  // A gray image stays itself (not the Y of replicated RGB).
  const auto gray = clean.narrow(0, 0, 1);
  const auto g = degrade_for_benchmark(gray, o, 0);
  EXPECT_LT((g.reference - gray).abs().max().item<double>(), 0.5 / 255.0 + 1e-6);
}

TEST(DipBenchmark, CentreHoleHasTheRequestedArea) {
  const auto clean = ramp_image(100, 60);
  auto o = with_task(RestoreTask::Inpaint);
  o.hole_ratio = 0.25;  // 50 × 30 hole, centred
  const auto d = degrade_for_benchmark(clean, o, 0);
  ASSERT_EQ(d.mask.sizes(), (std::vector<std::int64_t>{1, 100, 60}));
  EXPECT_EQ(d.mask.eq(0).sum().item<int64_t>(), 50 * 30);
  EXPECT_EQ(d.mask[0][25][15].item<float>(), 0.0f);
  EXPECT_EQ(d.mask[0][24][15].item<float>(), 1.0f);
  EXPECT_EQ(d.mask[0][74][44].item<float>(), 0.0f);
  EXPECT_EQ(d.mask[0][75][44].item<float>(), 1.0f);
  EXPECT_TRUE(torch::equal(d.observed, clean * d.mask));
}

TEST(DipBenchmark, SuperResolutionCropsToTheScale) {
  const auto clean = ramp_image(35, 42);
  auto o = with_task(RestoreTask::SuperResolution);
  o.restore.scale = 4;
  const auto d = degrade_for_benchmark(clean, o, 0);
  EXPECT_EQ(d.reference.sizes(), (std::vector<std::int64_t>{3, 32, 40}));
  EXPECT_EQ(d.observed.sizes(), (std::vector<std::int64_t>{3, 8, 10}));
  EXPECT_NEAR(d.observed.mean().item<double>(), d.reference.mean().item<double>(), 0.01);
}

TEST(DipBenchmark, CliRunsASubsetAndRejectsBadInput) {
  testing::TempDir dir;
  make_directories(dir.file("set"));
  for (const char* name : {"a.png", "b.png", "c.png"})
    image::write_image(dir.file(std::string("set/") + name), ramp_image(20, 24));
  const auto r = testing::run_strata({"--device", "cpu", "-q", "--json", "eval", "restore",
                                      "denoise", "--images", dir.file("set"), "--limit", "2",
                                      "--max-iters", "2", "--sigma", "15"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["images"], 2);
  EXPECT_EQ(j["rows"][0]["id"], "a");
  EXPECT_EQ(j["rows"][1]["iterations"], 2);
  EXPECT_GT(j["rows"][0]["degraded_psnr"].get<double>(), 20.0);
  EXPECT_FALSE(j.contains("luma_psnr"));
  const auto sr =
      testing::run_strata({"--device", "cpu", "-q", "--json", "eval", "restore", "sr", "--images",
                           dir.file("set"), "--limit", "1", "--scale", "2", "--max-iters", "1"});
  ASSERT_EQ(sr.exit_code, 0) << sr.err;
  const auto s = nlohmann::json::parse(sr.out);  // on Y as the thesis's tables: luma_psnr
  EXPECT_GT(s["input_luma_psnr"].get<double>(), 20.0);
  EXPECT_EQ(s["luma_psnr"], s["rows"][0]["luma_psnr"]);
  EXPECT_GT(s["rows"][0]["luma_psnr"].get<double>(), 10.0);  // set, and on Y, not the RGB PSNR
  EXPECT_NE(s["rows"][0]["luma_psnr"], s["rows"][0]["psnr"]);
  const auto bad = testing::run_strata(
      {"eval", "restore", "denoise", "--images", dir.file("missing"), "--max-iters", "2"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_EQ(bad.err.find('\n'), bad.err.size() - 1) << bad.err;  // one line
  const auto ratio = testing::run_strata({"eval", "restore", "inpaint", "--images", dir.file("set"),
                                          "--ratio", "1.5", "--max-iters", "2"});
  EXPECT_EQ(ratio.exit_code, 1);
  EXPECT_NE(ratio.err.find("hole ratio"), std::string::npos) << ratio.err;
}

// Each image's λ and the noise level it came from in the per-image log line (what
// scripts/dip-bench-merge.py reads back from parts cut short), and `restore sr --reference` on Y.
TEST(DipBenchmark, CliReportsLambdaNoiseAndLumaPsnr) {
  testing::TempDir dir;
  make_directories(dir.file("set"));
  image::write_image(dir.file("set/a.png"), ramp_image(20, 24));
  const auto log = testing::run_strata({"--device", "cpu", "eval", "restore", "denoise", "--images",
                                        dir.file("set"), "--max-iters", "1", "--sigma", "25"});
  ASSERT_EQ(log.exit_code, 0) << log.err;
  EXPECT_NE(log.err.find("[eval restore] a: "), std::string::npos) << log.err;
  EXPECT_NE(log.err.find(", λ 1."), std::string::npos) << log.err;
  EXPECT_NE(log.err.find(" (noise σ ≈ "), std::string::npos) << log.err;
  const auto reference = ramp_image(20, 24);
  image::write_image(dir.file("ref.png"), reference);
  image::write_image(dir.file("low.png"),
                     reference.unsqueeze(0).view({1, 3, 10, 2, 12, 2}).mean({3, 5}).squeeze(0));
  const auto sr =
      testing::run_strata({"--device", "cpu", "-q", "--json", "restore", "sr", dir.file("low.png"),
                           "-o", dir.file("high.png"), "--scale", "2", "--reference",
                           dir.file("ref.png"), "--max-iters", "1"});
  ASSERT_EQ(sr.exit_code, 0) << sr.err;
  const auto j = nlohmann::json::parse(sr.out);
  ASSERT_TRUE(j.contains("luma_psnr")) << sr.out;
  EXPECT_NEAR(j["luma_psnr"].get<double>(),
              eval::luma_psnr(image::read_image(dir.file("high.png")), reference, 2), 1e-6);
  EXPECT_NE(j["luma_psnr"], j["psnr"]);
  EXPECT_EQ(j["noise_sigma"], nullptr);  // nothing estimated for sr
}

TEST(DipBenchmark, CliSkipKeepsEachImagesNoise) {
  testing::TempDir dir;
  make_directories(dir.file("set"));
  for (const char* name : {"a.png", "b.png", "c.png"})  // equal images: only the noise differs
    image::write_image(dir.file(std::string("set/") + name), ramp_image(20, 24));
  const auto run = [&dir](std::vector<std::string> extra) {
    std::vector<std::string> args{"--device",      "cpu",         "-q",      "--json",
                                  "eval",          "restore",     "denoise", "--images",
                                  dir.file("set"), "--max-iters", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return testing::run_strata(args);
  };
  const auto whole = run({"--limit", "2"});
  const auto part = run({"--skip", "1", "--limit", "1"});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  ASSERT_EQ(part.exit_code, 0) << part.err;
  const auto w = nlohmann::json::parse(whole.out)["rows"];
  const auto p = nlohmann::json::parse(part.out)["rows"];
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0]["id"], "b");
  EXPECT_EQ(p[0]["degraded_psnr"], w[1]["degraded_psnr"]);  // b's noise, as in the whole run
  EXPECT_EQ(p[0]["psnr"], w[1]["psnr"]);                    // and b's fit
  EXPECT_NE(p[0]["degraded_psnr"], w[0]["degraded_psnr"]);
  const auto none = run({"--skip", "3"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("leaves no images"), std::string::npos) << none.err;
}

TEST(RestoreCli, PlotsPsnrRatioAndBands) {
  testing::TempDir dir;
  image::write_image(dir.file("in.png"), ramp_image(20, 24));
  const auto r =
      testing::run_strata({"--device", "cpu", "-q", "restore", "denoise", dir.file("in.png"), "-o",
                           dir.file("r.png"), "--reference", dir.file("in.png"), "--sigma", "20",
                           "--max-iters", "3", "--fbc", "--plot", dir.file("c.svg")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* name : {"c.svg", "c-ratio.svg", "c-fbc.svg"}) {
    const auto bytes = read_file(dir.file(name));
    const std::string svg(bytes.begin(), bytes.end());
    EXPECT_NE(svg.find("<polyline"), std::string::npos) << name;
  }
  const auto bad = testing::run_strata({"restore", "denoise", dir.file("in.png"), "-o",
                                        dir.file("x.png"), "--plot", dir.file("c.pdf")});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.err.find('\n'), bad.err.size() - 1) << bad.err;  // one line, before any work
  EXPECT_FALSE(path_exists(dir.file("x.png")));
}

}  // namespace
}  // namespace strata::train
