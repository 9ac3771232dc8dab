// CLI tests: run the real strata executable and check exit codes, stdout/stderr and files.
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "strata/image/tensor.hpp"
#include "testing.hpp"

namespace strata {
namespace {

using testing::run_strata;
using testing::TempDir;

std::string fixture(const std::string& name) {
  return std::string(STRATA_SOURCE_DIR) + "/tests/fixtures/" + name;
}

std::size_t line_count(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

// A failed run: non-zero exit, exactly one line on stderr starting "strata: error:".
void expect_clean_failure(const testing::RunResult& r, int code, const std::string& substring) {
  EXPECT_EQ(r.exit_code, code) << r.err;
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("strata: error:", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(substring), std::string::npos) << r.err;
}

TEST(Cli, HelpAndVersion) {
  const auto help = run_strata({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("info"), std::string::npos);
  EXPECT_NE(help.out.find("convert"), std::string::npos);
  EXPECT_NE(help.out.find("--device"), std::string::npos);
  const auto version = run_strata({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind(std::string("strata ") + STRATA_VERSION, 0), 0u) << version.out;
}

TEST(Cli, UsageErrorsExitTwo) {
  expect_clean_failure(run_strata({}), 2, "no command given");
  expect_clean_failure(run_strata({"frobnicate"}), 2, "not expected: frobnicate");
  expect_clean_failure(run_strata({"--max-pixels", "0", "info"}), 2, "max-pixels");
  expect_clean_failure(run_strata({"info", "--threads", "-3"}), 2, "threads");
  expect_clean_failure(run_strata({"convert", "a.png"}), 2, "output");
}

TEST(Cli, InfoJsonParses) {
  const auto r = run_strata({"info", "--json", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("strata_version"), STRATA_VERSION);
  EXPECT_EQ(j.at("threads"), 1);
  EXPECT_EQ(j.at("cuda_available").get<bool>(), torch::cuda::is_available());
  EXPECT_EQ(j.at("devices").at(0), "cpu");
  EXPECT_EQ(j.at("device"), torch::cuda::is_available() ? "cuda:0" : "cpu");
  // Global options are accepted before the command too, and human output goes to stdout.
  const auto h = run_strata({"--device", "cpu", "info"});
  ASSERT_EQ(h.exit_code, 0) << h.err;
  EXPECT_NE(h.out.find("selected device cpu"), std::string::npos) << h.out;
}

TEST(Cli, BadDeviceIsACleanError) {
  expect_clean_failure(run_strata({"info", "--device", "tpu"}), 1, "bad device");
  if (!torch::cuda::is_available())
    expect_clean_failure(run_strata({"info", "--device", "cuda"}), 1, "CUDA is not available");
}

TEST(Cli, ConvertRoundTripsThroughFloat) {
  TempDir dir;
  const auto a = run_strata({"convert", fixture("rgb8_3x2.png"), dir.file("x.pfm"), "--json"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const auto j = nlohmann::json::parse(a.out);
  EXPECT_EQ(j.at("width"), 3);
  EXPECT_EQ(j.at("height"), 2);
  EXPECT_EQ(j.at("channels"), 3);
  const auto b = run_strata({"-q", "convert", dir.file("x.pfm"), dir.file("y.png")});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_TRUE(b.err.empty()) << b.err;
  EXPECT_EQ(testing::read_bytes(dir.file("y.png")).size() > 0, true);
  EXPECT_EQ(testing::max_abs_diff(image::read_image(dir.file("y.png")),
                                  image::read_image(fixture("rgb8_3x2.png"))),
            0.0);
}

TEST(Cli, ConvertResizesAndChangesChannels) {
  TempDir dir;
  const auto r = run_strata({"convert", fixture("rgb8_3x2.png"), dir.file("g.png"), "--gray",
                             "--size", "6x4", "--method", "nearest", "--depth", "16"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const torch::Tensor g = image::read_image(dir.file("g.png"));
  EXPECT_EQ(g.sizes(), (std::vector<std::int64_t>{1, 4, 6}));
  EXPECT_NEAR(g[0][0][0].item<float>(), 0.299f, 1.0f / 65535);
  const auto s =
      run_strata({"convert", fixture("rgb8_3x2.png"), dir.file("s.png"), "--scale", "2"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(image::read_image(dir.file("s.png")).sizes(), (std::vector<std::int64_t>{3, 4, 6}));
}

TEST(Cli, BadInputsLeaveNoOutput) {
  TempDir dir;
  testing::write_bytes(dir.file("broken.png"), {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0});
  expect_clean_failure(run_strata({"convert", dir.file("broken.png"), dir.file("o.png")}), 1,
                       "broken.png");
  expect_clean_failure(run_strata({"convert", dir.file("missing.png"), dir.file("o.png")}), 1,
                       "cannot open");
  expect_clean_failure(
      run_strata({"convert", fixture("rgb8_3x2.png"), dir.file("o.png"), "--size", "3by2"}), 1,
      "bad --size");
  expect_clean_failure(run_strata({"convert", fixture("rgb8_3x2.png"), dir.file("o.bmp")}), 1,
                       "unknown output format");
  expect_clean_failure(run_strata({"convert", fixture("rgb8_3x2.png"), dir.file("o.flo")}), 1,
                       "FLO");
  expect_clean_failure(
      run_strata({"convert", fixture("rgb8_3x2.png"), dir.file("o.png"), "--max-pixels", "5"}), 1,
      "exceeds the limit");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"broken.png"});
}

TEST(Cli, NeverOverwritesTheInputUnlessForced) {
  TempDir dir;
  const std::string in = dir.file("in.png");
  testing::write_bytes(in, testing::read_bytes(fixture("rgb8_3x2.png")));
  const auto before = testing::read_bytes(in);
  expect_clean_failure(run_strata({"convert", in, in, "--gray"}), 1, "overwrite input");
  EXPECT_EQ(testing::read_bytes(in), before);
  const auto forced = run_strata({"convert", in, in, "--gray", "--force"});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_EQ(image::read_image(in).size(0), 1);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"in.png"});
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

using testing::run_strata;
using testing::TempDir;

std::string scene_path() { return std::string(STRATA_SOURCE_DIR) + "/examples/scene.png"; }

TEST(CliFilter, ListsEveryFilterWithDefaults) {
  const auto r = run_strata({"filter", "--list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_GE(j.size(), 12u);
  bool saw_guided = false;
  for (const auto& f : j)
    if (f.at("name") == "guided") {
      saw_guided = true;
      EXPECT_EQ(f.at("params").at("radius"), 8);
      EXPECT_EQ(f.at("guide"), "optional");
    }
  EXPECT_TRUE(saw_guided);
  const auto human = run_strata({"filter", "--list"});
  EXPECT_NE(human.out.find("--sigma-r"), std::string::npos) << human.out;
}

TEST(CliFilter, RunsWithParametersAndGuide) {
  TempDir dir;
  const auto r = run_strata({"filter", "guided", scene_path(), dir.file("g.png"), "--radius", "4",
                             "--eps", "0.001", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).at("params").at("radius"), 4);
  const torch::Tensor in = image::read_image(scene_path());
  const torch::Tensor out = image::read_image(dir.file("g.png"));
  EXPECT_EQ(out.sizes(), in.sizes());
  EXPECT_GT(testing::max_abs_diff(out, in), 0.05);
  const auto j = run_strata({"filter", "bilateral", scene_path(), dir.file("j.pfm"), "--guide",
                             scene_path(), "--sigma-s", "2"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  EXPECT_EQ(image::read_image(dir.file("j.pfm")).sizes(), in.sizes());
}

TEST(CliFilter, BadRequestsAreCleanErrors) {
  TempDir dir;
  expect_clean_failure(run_strata({"filter", "sharpen", scene_path(), dir.file("o.png")}), 1,
                       "unknown filter");
  expect_clean_failure(
      run_strata({"filter", "box", scene_path(), dir.file("o.png"), "--eps", "0.1"}), 1,
      "no parameter --eps");
  expect_clean_failure(
      run_strata({"filter", "box", scene_path(), dir.file("o.png"), "--guide", scene_path()}), 1,
      "takes no guide");
  expect_clean_failure(run_strata({"filter", "box", scene_path()}), 1, "usage");
  expect_clean_failure(
      run_strata({"filter", "guided", scene_path(), dir.file("o.png"), "--radius", "-2"}), 1,
      "radius");
  EXPECT_TRUE(dir.list().empty());
}

// --tile (exact tiled inference) writes what the untiled run writes, with the shipped weights.
// The peel is guided by a given map: the shipped peeler turns the guider's float32 rounding
// (its maps differ from a float64 run by 3e-4) into 2e-3 in C, tiled or not (docs/hipe.md).
TEST(CliHipe, TiledPeelAndEdgesEqualUntiled) {
  TempDir dir;
  const torch::Tensor scene = image::read_image(scene_path());
  image::write_image(dir.file("in.png"), scene.narrow(1, 20, 40).narrow(2, 30, 54));
  for (const std::string tile : {"0", "16"}) {
    const auto peel = run_strata({"--device", "cpu", "-q", "peel", dir.file("in.png"), "-o",
                                  dir.file("peel" + tile), "--levels", "2", "--guide",
                                  dir.file("in.png"), "--tile", tile});
    ASSERT_EQ(peel.exit_code, 0) << peel.err;
    const auto edges =
        run_strata({"--device", "cpu", "-q", "edges", dir.file("in.png"), "-o",
                    dir.file("edges" + tile + ".pfm"), "--recurrences", "2", "--tile", tile});
    ASSERT_EQ(edges.exit_code, 0) << edges.err;
  }
  const auto same = [&](const std::string& a, const std::string& b) {
    const auto whole = image::read_image(dir.file(a)), tiled = image::read_image(dir.file(b));
    EXPECT_EQ(tiled.sizes(), whole.sizes()) << b;
    EXPECT_LT(testing::max_abs_diff(tiled, whole), 1e-4) << b;
  };
  for (const std::string f : {"I_1.pfm", "I_2.pfm", "C_1.pfm", "C_2.pfm"})
    same("peel0/" + f, "peel16/" + f);
  same("edges0.pfm", "edges16.pfm");
  expect_clean_failure(
      run_strata({"peel", dir.file("in.png"), "-o", dir.file("x"), "--tile", "-4"}), 2, "--tile");
}

TEST(CliEval, FilterDenoiseOnATinySet) {
  TempDir dir;
  const torch::Tensor scene = image::read_image(scene_path());
  image::write_image(dir.file("a.png"), scene.narrow(1, 0, 64).narrow(2, 0, 96));
  image::write_image(dir.file("b.png"), scene.narrow(1, 100, 64).narrow(2, 100, 96));
  const auto r =
      run_strata({"eval", "filter-denoise", "--images", dir.path(), "--sigmas", "25", "--methods",
                  "gf,umgf-gf", "--radii", "2", "--eps-sqrt", "0.1", "--umgf-lowpass-boxes", "1,2",
                  "--umgf-amount", "smooth,raw", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("images"), 2);
  const auto& row = j.at("rows").at(0);
  EXPECT_GT(row.at("methods").at("GF").at("psnr").get<double>(),
            row.at("input_psnr").get<double>());
  const int boxes = row.at("methods").at("Ours+GF").at("lowpass_boxes").get<int>();
  EXPECT_TRUE(boxes == 1 || boxes == 2);
  expect_clean_failure(
      run_strata({"eval", "filter-denoise", "--images", dir.path(), "--umgf-amount", "sharp"}), 2,
      "--umgf-amount");
  expect_clean_failure(run_strata({"eval", "filter-denoise", "--images", dir.file("none")}), 1,
                       "cannot list folder");
}

}  // namespace
}  // namespace strata
