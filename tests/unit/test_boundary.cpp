// Tests of the BSDS500 boundary benchmark: thinning, pixel correspondence, and the benchmark's own
// self-test (BIDS/BSDS500 bench/data test_2).
#include "strata/eval/boundary.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/image/codec.hpp"
#include "testing.hpp"

namespace strata::eval {
namespace {

BinaryMap from_rows(const std::vector<std::string>& rows) {
  BinaryMap m(static_cast<int>(rows[0].size()), static_cast<int>(rows.size()));
  for (int y = 0; y < m.height; ++y)
    for (int x = 0; x < m.width; ++x) m.at(x, y) = rows[y][x] == '#';
  return m;
}

TEST(Thinning, ThickBarBecomesOnePixelLine) {
  BinaryMap m(20, 9);
  for (int y = 3; y <= 5; ++y)
    for (int x = 2; x <= 17; ++x) m.at(x, y) = 1;
  thin(m);
  EXPECT_GT(m.count(), 10);
  for (int x = 0; x < m.width; ++x) {
    int column = 0;
    for (int y = 0; y < m.height; ++y) column += m.at(x, y);
    EXPECT_LE(column, 1) << "x = " << x;
  }
  for (int x = 4; x <= 15; ++x) EXPECT_EQ(m.at(x, 4), 1) << "x = " << x;
}

TEST(Thinning, ThinShapesAreUnchanged) {
  const BinaryMap line = from_rows({"..........", ".########.", ".........."});
  BinaryMap m = line;
  thin(m);
  EXPECT_EQ(m.data, line.data);
  const BinaryMap diagonal = from_rows({"#....", ".#...", "..#..", "...#.", "....#"});
  m = diagonal;
  thin(m);
  EXPECT_EQ(m.data, diagonal.data);
  const BinaryMap dot = from_rows({"...", ".#.", "..."});
  m = dot;
  thin(m);
  EXPECT_EQ(m.data, dot.data);
}

TEST(Thinning, FilledSquareShrinksToFewPixels) {
  BinaryMap m(9, 9);
  for (int y = 2; y <= 6; ++y)
    for (int x = 2; x <= 6; ++x) m.at(x, y) = 1;
  thin(m);
  EXPECT_GE(m.count(), 1);
  EXPECT_LE(m.count(), 3);
}

TEST(Correspond, ShiftedLineWithinAndBeyondTolerance) {
  BinaryMap a(30, 12), b(30, 12), c(30, 12);
  for (int x = 5; x < 25; ++x) {
    a.at(x, 2) = 1;
    b.at(x, 5) = 1;   // 3 px away
    c.at(x, 10) = 1;  // 8 px away
  }
  const Correspondence near = correspond_pixels(a, b, 4.0);
  EXPECT_EQ(near.count, 20);
  EXPECT_EQ(near.cost, 20 * 300);
  EXPECT_EQ(near.matched1, a.data);
  EXPECT_EQ(near.matched2, b.data);
  const Correspondence far = correspond_pixels(a, c, 4.0);
  EXPECT_EQ(far.count, 0);
  EXPECT_THROW(correspond_pixels(a, BinaryMap(3, 3), 4.0), Error);
}

TEST(Correspond, OneToOne) {
  // Three machine pixels around one human pixel: only one can be matched.
  const BinaryMap a = from_rows({".....", ".#.#.", "..#..", "....."});
  const BinaryMap b = from_rows({".....", ".....", "..#..", "....."});
  const Correspondence m = correspond_pixels(a, b, 2.0);
  EXPECT_EQ(m.count, 1);
  EXPECT_EQ(m.cost, 0);  // the coincident pixel is the cheapest partner
  EXPECT_EQ(m.matched1[2 * 5 + 2], 1);
  long n1 = 0;
  for (auto v : m.matched1) n1 += v;
  EXPECT_EQ(n1, 1);
}

// Exhaustive best (max cardinality, then min cost) over matchings of small maps.
std::pair<long, long> brute_force(const BinaryMap& a, const BinaryMap& b, double r) {
  std::vector<std::pair<int, int>> pa, pb;
  for (int y = 0; y < a.height; ++y)
    for (int x = 0; x < a.width; ++x) {
      if (a.at(x, y)) pa.emplace_back(x, y);
      if (b.at(x, y)) pb.emplace_back(x, y);
    }
  std::pair<long, long> best{0, 0};  // (count, -cost)
  std::vector<bool> used(pb.size(), false);
  std::function<void(std::size_t, long, long)> go = [&](std::size_t i, long cnt, long cost) {
    if (i == pa.size()) {
      if (cnt > best.first || (cnt == best.first && -cost > best.second)) best = {cnt, -cost};
      return;
    }
    go(i + 1, cnt, cost);
    for (std::size_t j = 0; j < pb.size(); ++j) {
      const int dx = pa[i].first - pb[j].first, dy = pa[i].second - pb[j].second;
      const double d2 = dx * dx + dy * dy;
      if (used[j] || d2 > r * r) continue;
      used[j] = true;
      go(i + 1, cnt + 1, cost + std::lround(std::sqrt(d2) * 100));
      used[j] = false;
    }
  };
  go(0, 0, 0);
  return {best.first, -best.second};
}

TEST(Correspond, MatchesExhaustiveSearchOnRandomMaps) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    BinaryMap a(7, 6), b(7, 6);
    std::bernoulli_distribution on(0.17);
    for (auto& v : a.data) v = on(rng);
    for (auto& v : b.data) v = on(rng);
    if (a.count() > 9 || b.count() > 9) continue;
    const double r = 1.0 + trial % 3;
    const auto expected = brute_force(a, b, r);
    const Correspondence m = correspond_pixels(a, b, r);
    ASSERT_EQ(m.count, expected.first) << "trial " << trial;
    ASSERT_EQ(m.cost, expected.second) << "trial " << trial;
  }
}

TEST(BoundaryBenchmark, Thresholds) {
  const auto t = benchmark_thresholds(5);
  ASSERT_EQ(t.size(), 5u);
  EXPECT_NEAR(t[0], 1.0 / 6, 1e-15);
  EXPECT_NEAR(t[4], 5.0 / 6, 1e-15);
  EXPECT_NEAR(benchmark_thresholds(99)[49], 0.5, 1e-15);
  EXPECT_EQ(benchmark_thresholds(1), std::vector<double>{0.5});
}

TEST(BoundaryBenchmark, SummaryOnHandMadeCounts) {
  // One image, two thresholds: (R, P) = (1, 0.5) then (0.5, 1).
  std::vector<BoundaryCounts> img = {{0.25, 2, 2, 2, 4}, {0.75, 1, 2, 2, 2}};
  const BoundaryReport rep = summarize_boundaries({"a"}, {img});
  ASSERT_EQ(rep.curve.size(), 2u);
  EXPECT_DOUBLE_EQ(rep.curve[0].f, 2.0 / 3);
  // ODS: interpolation between the thresholds finds F ~ 0.75 near t = 0.5.
  EXPECT_NEAR(rep.ods.f, 0.75, 1e-4);
  EXPECT_NEAR(rep.ods.threshold, 0.5, 0.006);
  // OIS: equal F at both thresholds, the first one counts.
  EXPECT_DOUBLE_EQ(rep.ois.recall, 1.0);
  EXPECT_DOUBLE_EQ(rep.ois.precision, 0.5);
  // AP: P = 1.5 - R on R in [0.5, 1], sampled at 0.50, 0.51, ..., 1.00 (51 points) × 0.01.
  EXPECT_NEAR(rep.ap, 0.3825, 1e-12);
  EXPECT_EQ(rep.images.size(), 1u);
  EXPECT_THROW(summarize_boundaries({}, {}), Error);
}

std::vector<std::vector<double>> parse_rows(const std::string& text) {
  std::vector<std::vector<double>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<double> r;
    double v;
    while (ls >> v) r.push_back(v);
    if (!r.empty()) rows.push_back(r);
  }
  return rows;
}

std::string read_text(const std::string& path) {
  const auto bytes = testing::read_bytes(path);
  return std::string(bytes.begin(), bytes.end());
}

// Compares the numbers of one output file with the expected file (MATLAB %10g, 6 digits) and
// returns the worst absolute difference. Exact agreement is not reached: Berkeley's matcher (CSA
// on a graph with random outlier edges) returns slightly non-optimal assignments — fewer matches
// than the maximum in some images, found by ours (checked exhaustively above) — so R and P differ
// in the 4th decimal. `tolerance` bounds that.
double expect_file(const std::string& expected_path, const std::string& ours, double tolerance) {
  const auto want = parse_rows(read_text(expected_path));
  const auto got = parse_rows(ours);
  EXPECT_EQ(want.size(), got.size()) << expected_path;
  double worst = 0.0;
  for (std::size_t i = 0; i < std::min(want.size(), got.size()); ++i) {
    EXPECT_EQ(want[i].size(), got[i].size());
    for (std::size_t j = 0; j < std::min(want[i].size(), got[i].size()); ++j) {
      const double diff = std::fabs(want[i][j] - got[i][j]);
      worst = std::max(worst, diff);
      EXPECT_LE(diff, tolerance) << expected_path << " row " << i + 1 << " column " << j + 1
                                 << ": expected " << want[i][j] << ", ours " << got[i][j];
    }
  }
  std::printf("%s: worst |difference| %.3g\n", expected_path.c_str(), worst);
  return worst;
}

TEST(BoundaryBenchmark, SelfTestTest2) {
  const std::string root = testing::data_path("bsds500/selftest");
  if (!testing::exists(root + "/test_2/eval_bdry.txt")) GTEST_SKIP() << "no BSDS500 self-test";
  BoundaryOptions o;
  o.thresholds = 5;
  const BoundaryReport rep = evaluate_boundaries(root + "/png", root + "/gt", o);
  ASSERT_EQ(rep.ids.size(), 5u);
  EXPECT_EQ(rep.ids[0], "2018");
  std::printf("ours eval_bdry.txt:\n%s", format_eval_bdry(rep).c_str());
  std::printf("ours eval_bdry_thr.txt:\n%s", format_eval_bdry_thr(rep).c_str());
  std::printf("ours eval_bdry_img.txt:\n%s", format_eval_bdry_img(rep).c_str());
  for (std::size_t i = 0; i < rep.counts.size(); ++i)
    for (const auto& c : rep.counts[i])
      std::printf("counts %s t=%g cntR=%ld sumR=%ld cntP=%ld sumP=%ld\n", rep.ids[i].c_str(),
                  c.threshold, c.cnt_r, c.sum_r, c.cnt_p, c.sum_p);
  // Measured: 4.8e-4 (eval_bdry.txt), 5.5e-4 (eval_bdry_thr.txt), 1.1e-3 (eval_bdry_img.txt).
  expect_file(root + "/test_2/eval_bdry.txt", format_eval_bdry(rep), 1e-3);
  expect_file(root + "/test_2/eval_bdry_thr.txt", format_eval_bdry_thr(rep), 1e-3);
  expect_file(root + "/test_2/eval_bdry_img.txt", format_eval_bdry_img(rep), 1.5e-3);
  // The thresholds and the per-image best thresholds agree exactly.
  const auto thr = parse_rows(read_text(root + "/test_2/eval_bdry_thr.txt"));
  for (std::size_t i = 0; i < thr.size(); ++i) EXPECT_NEAR(rep.curve[i].threshold, thr[i][0], 1e-6);
}

// Sobel gradient magnitude of the grey image, scaled to 0..255 by its maximum (a weak detector,
// only to give the benchmark realistic soft maps).
image::RawImage sobel_map(const image::RawImage& rgb) {
  const int w = rgb.width, h = rgb.height, c = rgb.channels;
  std::vector<double> grey(static_cast<std::size_t>(w) * h), mag(grey.size(), 0.0);
  for (std::size_t i = 0; i < grey.size(); ++i) {
    double s = 0;
    for (int k = 0; k < c; ++k) s += rgb.data<std::uint8_t>()[i * c + k];
    grey[i] = s / c;
  }
  auto g = [&](int x, int y) {
    x = std::min(std::max(x, 0), w - 1);
    y = std::min(std::max(y, 0), h - 1);
    return grey[static_cast<std::size_t>(y) * w + x];
  };
  double top = 1e-9;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double gx = g(x + 1, y - 1) + 2 * g(x + 1, y) + g(x + 1, y + 1) - g(x - 1, y - 1) -
                        2 * g(x - 1, y) - g(x - 1, y + 1);
      const double gy = g(x - 1, y + 1) + 2 * g(x, y + 1) + g(x + 1, y + 1) - g(x - 1, y - 1) -
                        2 * g(x, y - 1) - g(x + 1, y - 1);
      mag[static_cast<std::size_t>(y) * w + x] = std::sqrt(gx * gx + gy * gy);
      top = std::max(top, mag[static_cast<std::size_t>(y) * w + x]);
    }
  image::RawImage out(w, h, 1, image::SampleType::U8);
  for (std::size_t i = 0; i < mag.size(); ++i)
    out.data<std::uint8_t>()[i] = static_cast<std::uint8_t>(std::lround(255 * mag[i] / top));
  return out;
}

// Timing on the 200 BSDS500 test images with Sobel soft maps, 99 thresholds (opt-in:
// --gtest_also_run_disabled_tests).
TEST(BoundaryBenchmark, DISABLED_TimingSobelBsds500Test) {
  const std::string images = testing::data_path("bsds500/images/test");
  const std::string gt = testing::data_path("bsds500/gt/test");
  if (!testing::exists(images) || !testing::exists(gt)) GTEST_SKIP() << "no BSDS500 test set";
  testing::TempDir dir;
  const char* limit = std::getenv("STRATA_TIMING_IMAGES");  // fewer images for quick runs
  std::size_t n = 0;
  for (const auto& path : image::list_images(images)) {
    if (limit && n++ >= static_cast<std::size_t>(std::atoi(limit))) break;
    const std::string name = path.substr(path.rfind('/') + 1);
    image::write_raw(dir.file(name.substr(0, name.rfind('.')) + ".png"),
                     sobel_map(image::read_raw(path)));
  }
  const auto start = std::chrono::steady_clock::now();
  const BoundaryReport rep = evaluate_boundaries(dir.path(), gt);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%zu images x 99 thresholds: %.1f s\n%s", rep.ids.size(), seconds,
              format_eval_bdry(rep).c_str());
  if (!limit) {
    EXPECT_EQ(rep.ids.size(), 200u);
  }
}

TEST(BoundaryCli, EvalEdgesOnTheSelfTest) {
  const std::string root = testing::data_path("bsds500/selftest");
  if (!testing::exists(root + "/png")) GTEST_SKIP() << "needs " << root;
  testing::TempDir dir;
  const auto r =
      testing::run_strata({"--json", "eval", "edges", "--pred", root + "/png", "--gt", root + "/gt",
                           "--thresholds", "5", "--out", dir.path(), "--plot", dir.file("pr.svg")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["images"], 5);
  EXPECT_NEAR(j["ods"]["f"].get<double>(), 0.704628, 1e-3);  // test_2/eval_bdry.txt
  EXPECT_NEAR(j["ap"].get<double>(), 0.307627, 1e-3);
  for (const char* f : {"eval_bdry.txt", "eval_bdry_thr.txt", "eval_bdry_img.txt", "pr.svg"})
    EXPECT_TRUE(path_exists(dir.file(f))) << f;
  const auto bad =
      testing::run_strata({"eval", "edges", "--pred", dir.file("none"), "--gt", root + "/gt"});
  EXPECT_EQ(bad.exit_code, 1);
}

}  // namespace
}  // namespace strata::eval
