// Tests of image resampling: agreement with torch interpolate, hand-derived Keys-cubic and MATLAB
// imresize values, kernel properties for every method, nearest alignment, errors, CUDA.
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/image/resize.hpp"
#include "testing.hpp"

namespace strata::image {
namespace {

namespace F = torch::nn::functional;
using testing::max_abs_diff;

constexpr Interpolation kAllMethods[] = {Interpolation::Nearest, Interpolation::Bilinear,
                                         Interpolation::Bicubic, Interpolation::Lanczos3};

std::string name_of(Interpolation m) {
  switch (m) {
    case Interpolation::Nearest: return "nearest";
    case Interpolation::Bilinear: return "bilinear";
    case Interpolation::Bicubic: return "bicubic";
    default: return "lanczos3";
  }
}

ResizeOptions opts(Interpolation method, bool antialias = true) { return {method, antialias}; }

torch::Tensor random_image(const std::vector<std::int64_t>& shape) {
  torch::manual_seed(42);
  return torch::rand(shape);
}

torch::Tensor row(const std::vector<double>& values) {
  return torch::tensor(values, torch::kFloat64).view({1, -1});
}

torch::Tensor torch_bilinear(const torch::Tensor& x, std::int64_t h, std::int64_t w,
                             bool antialias = false) {
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<std::int64_t>{h, w})
                               .mode(torch::kBilinear)
                               .align_corners(false)
                               .antialias(antialias));
}

// The interior of the last two dims, `margin` pixels in from each border.
torch::Tensor interior(const torch::Tensor& t, std::int64_t margin) {
  return t.narrow(-2, margin, t.size(-2) - 2 * margin).narrow(-1, margin, t.size(-1) - 2 * margin);
}

// ---- (a) bilinear without antialias == torch interpolate(bilinear, align_corners=false) ----

// With autograd (the DIP super-resolution forward model) the result is the same and has a
// gradient: the adjoint of the resampling, so the gradient of the sum is each input's total weight.
TEST(Resize, DifferentiableWhenGradIsNeeded) {
  torch::manual_seed(0);
  const auto x = torch::rand({3, 20, 24});
  const ResizeOptions lanczos{Interpolation::Lanczos3, true};
  const auto plain = resize(x, 5, 6, lanczos);
  auto xg = x.clone().requires_grad_(true);
  const auto y = resize(xg, 5, 6, lanczos);
  EXPECT_LT((y - plain).abs().max().item<double>(), 1e-6);
  y.sum().backward();
  ASSERT_TRUE(xg.grad().defined());
  // Each output row/column's taps sum to 1, so the total gradient equals the output count.
  EXPECT_NEAR(xg.grad().sum().item<double>(), 3.0 * 5 * 6, 1e-3);
}

// The CPU kernel (no gradient needed) against the matrix path (taken when the input needs a
// gradient) in float64: every method, up and down, antialiased or not, single pixels, a batch.
TEST(Resize, CpuKernelMatchesMatrixPath) {
  torch::manual_seed(3);
  const auto x = torch::rand({2, 3, 17, 23}, torch::kFloat64);
  const std::vector<std::pair<std::int64_t, std::int64_t>> sizes = {{34, 46}, {8, 7},  {1, 1},
                                                                    {17, 50}, {5, 23}, {40, 9}};
  for (const auto method : kAllMethods)
    for (const bool antialias : {true, false})
      for (const auto& [h, w] : sizes) {
        const auto kernel = resize(x, h, w, opts(method, antialias));
        const auto matrix =
            resize(x.clone().requires_grad_(true), h, w, opts(method, antialias)).detach();
        EXPECT_LT(max_abs_diff(kernel, matrix), 1e-12)
            << name_of(method) << " " << antialias << " " << h << "x" << w;
      }
  // A single-row, single-column input.
  const auto line = torch::rand({1, 9}, torch::kFloat64);
  EXPECT_LT(
      max_abs_diff(
          resize(line, 4, 3, opts(Interpolation::Bicubic)),
          resize(line.clone().requires_grad_(true), 4, 3, opts(Interpolation::Bicubic)).detach()),
      1e-12);
}

TEST(Resize, BilinearMatchesTorchInterpolate) {
  const auto x = random_image({2, 3, 37, 53});
  const std::vector<std::pair<std::int64_t, std::int64_t>> sizes = {
      {80, 101}, {20, 29}, {74, 106}, {19, 27}, {37, 90}, {11, 53}, {1, 1}, {5, 200}};
  for (const auto& [h, w] : sizes) {
    const auto ours = resize(x, h, w, opts(Interpolation::Bilinear, false));
    EXPECT_LT(max_abs_diff(ours, torch_bilinear(x, h, w)), 1e-5) << h << "x" << w;
  }
  // A non-contiguous (transposed) input gives the same result as its contiguous copy.
  const auto t = x.transpose(-1, -2);
  EXPECT_LT(max_abs_diff(resize(t, 40, 30, opts(Interpolation::Bilinear, false)),
                         torch_bilinear(t.contiguous(), 40, 30)),
            1e-5);
}

// Interior pixels (whose kernel does not reach the border) also match torch's PIL-style
// antialiasing, which differs only in truncating instead of mirroring at the borders.
TEST(Resize, AntialiasedInteriorMatchesTorchAntialias) {
  const auto x = random_image({1, 2, 64, 96});
  const auto ours = resize(x, 32, 48, opts(Interpolation::Bilinear));
  EXPECT_LT(max_abs_diff(interior(ours, 2), interior(torch_bilinear(x, 32, 48, true), 2)), 1e-5);
}

// ---- (b) hand-computed Keys cubic values ----

// Row [1 2 4 8] upscaled x2: output j samples u = (j + 0.5) / 2 - 0.5 = -0.25, 0.25, ..., 3.25.
// Keys a = -0.5: k(t) = 1.5t^3 - 2.5t^2 + 1 (t <= 1), -0.5t^3 + 2.5t^2 - 4t + 2 (1 < t < 2), so
// k(0.25) = 111/128, k(0.75) = 29/128, k(1.25) = -9/128, k(1.75) = -3/128.
// u = m + 0.25 weighs x[m-1..m+2] by (-9, 111, 29, -3)/128; u = m + 0.75 by (-3, 29, 111, -9)/128.
// Symmetric borders: x[-2..5] = 2 1 | 1 2 4 8 | 8 4.
//   j=0 u=-0.25: (-3*2 + 29*1 + 111*1 - 9*2)/128  = 116/128
//   j=1 u=0.25:  (-9*1 + 111*1 + 29*2 - 3*4)/128  = 148/128
//   j=2 u=0.75:  (-3*1 + 29*1 + 111*2 - 9*4)/128  = 212/128
//   j=3 u=1.25:  (-9*1 + 111*2 + 29*4 - 3*8)/128  = 305/128
//   j=4 u=1.75:  (-3*1 + 29*2 + 111*4 - 9*8)/128  = 427/128
//   j=5 u=2.25:  (-9*2 + 111*4 + 29*8 - 3*8)/128  = 634/128
//   j=6 u=2.75:  (-3*2 + 29*4 + 111*8 - 9*8)/128  = 926/128
//   j=7 u=3.25:  (-9*4 + 111*8 + 29*8 - 3*4)/128  = 1072/128
TEST(Resize, BicubicRowMatchesHandComputedKeys) {
  const auto out = resize(row({1, 2, 4, 8}), 1, 8, opts(Interpolation::Bicubic));
  const auto expected =
      row({0.90625, 1.15625, 1.65625, 2.3828125, 3.3359375, 4.953125, 7.234375, 8.375});
  EXPECT_LT(max_abs_diff(out, expected), 1e-12) << out;
}

// ---- (c) MATLAB imresize reference values (derived by hand from its algorithm) ----

// imresize([1 2 3 4; 5 6 7 8], [4 8]) (bicubic). The image is linear, so per axis the result is
// the resampled ramp. Columns (4 -> 8), with the weights of the test above on a ramp a..a+3:
//   j=0: a + (-3*1 - 9*1)/128 = a - 0.09375;      j=1: a + (29 - 3*2)/128 = a + 0.1796875;
//   j=2: a + (111 - 9*2)/128 = a + 0.7265625;     j=3,4: interior, linear: a + 1.25, a + 1.75;
//   j=5..7 mirror j=2..0: a + 2.2734375, a + 2.8203125, a + 3.09375.
// Rows (2 -> 4, extended x1 x0 | x0 x1 | x1 x0), step 4 between the rows:
//   i=0 u=-0.25: (-3x1 + 29x0 + 111x0 - 9x1)/128 = x0 - 12*4/128 = x0 - 0.375;
//   i=1 u=0.25:  (-9x0 + 111x0 + 29x1 - 3x1)/128 = x0 + 26*4/128 = x0 + 0.8125;
//   i=2, i=3 mirror: x0 + 3.1875, x0 + 4.375.   Entry (i, j) = 1 + row offset + column offset.
TEST(Resize, MatlabBicubicUpscaleOfRamp) {
  const auto x = torch::tensor({1., 2., 3., 4., 5., 6., 7., 8.}, torch::kFloat64).view({2, 4});
  const auto expected =
      torch::tensor({0.53125, 0.8046875, 1.3515625, 1.875,  2.375,  2.8984375, 3.4453125, 3.71875,
                     1.71875, 1.9921875, 2.5390625, 3.0625, 3.5625, 4.0859375, 4.6328125, 4.90625,
                     4.09375, 4.3671875, 4.9140625, 5.4375, 5.9375, 6.4609375, 7.0078125, 7.28125,
                     5.28125, 5.5546875, 6.1015625, 6.625,  7.125,  7.6484375, 8.1953125, 8.46875},
                    torch::kFloat64)
          .view({4, 8});
  EXPECT_LT(max_abs_diff(resize(x, 4, 8), expected), 1e-12);
}

// imresize([1 2 3 4; 5 6 7 8], 0.5) (bicubic, antialiased): kernel k(d/2)/2 around u = 0.5 (and
// 2.5). Rows 2 -> 1: the taps pair up symmetrically about 0.5 and every pair folds onto (x0, x1),
// so the row result is the mean (3 4 5 6). Columns 4 -> 1 at u = 0.5, taps i = -3..4 with
// k(|0.5 - i| / 2): i=0,1: 111/128; i=-1,2: 29/128; i=-2,3: -9/128; i=-3,4: -3/128 (sum 2).
// Folded: x0: (111+29)/256, x1: (111-9)/256, x2: (29-3)/256, x3: (-9-3)/256; on a ramp a..a+3
// that is a + (102 + 52 - 36)/256 = a + 0.4609375, mirrored a + 2.5390625 at u = 2.5.
TEST(Resize, MatlabBicubicHalfOfRamp) {
  const auto x = torch::tensor({1., 2., 3., 4., 5., 6., 7., 8.}, torch::kFloat64).view({2, 4});
  const auto out = resize_by(x, 0.5);
  EXPECT_LT(max_abs_diff(out, row({3.4609375, 5.5390625})), 1e-12) << out;
}

// Antialiased x0.5 of a ramp: symmetric weights about the new centres 2j + 0.5, so where the
// kernel (support 4 taps each side for bicubic, 6 for Lanczos3) stays inside, out = 2j + 0.5.
TEST(Resize, AntialiasedHalvingOfRampSamplesCentres) {
  std::vector<double> ramp(16);
  for (int i = 0; i < 16; ++i) ramp[static_cast<std::size_t>(i)] = i;
  const auto cubic = resize(row(ramp), 1, 8, opts(Interpolation::Bicubic));
  EXPECT_LT(max_abs_diff(cubic.narrow(1, 2, 4), row({4.5, 6.5, 8.5, 10.5})), 1e-12) << cubic;
  const auto lanczos = resize(row(ramp), 1, 8, opts(Interpolation::Lanczos3));
  EXPECT_LT(max_abs_diff(lanczos.narrow(1, 3, 2), row({6.5, 8.5})), 1e-12) << lanczos;
  // Bicubic upscaling keeps an interior ramp linear too: u = 1.25, 1.75 of [0 1 2 3].
  const auto up = resize(row({0, 1, 2, 3}), 1, 8, opts(Interpolation::Bicubic));
  EXPECT_LT(max_abs_diff(up.narrow(1, 3, 2), row({1.25, 1.75})), 1e-12) << up;
}

// ---- (d) properties, for every method ----

class ResizeMethod : public ::testing::TestWithParam<Interpolation> {};

TEST_P(ResizeMethod, ConstantStaysConstant) {
  const auto x = torch::full({2, 3, 17, 23}, 0.37f);
  for (const auto& [h, w] : std::vector<std::pair<int, int>>{{40, 9}, {5, 60}, {1, 1}, {3, 100}})
    EXPECT_LT(max_abs_diff(resize(x, h, w, opts(GetParam())), torch::full({2, 3, h, w}, 0.37)),
              1e-6)
        << h << "x" << w;
}

// Resizing the one-hot images e_0..e_{n-1} gives the weights of each input pixel; summed over the
// inputs they are 1 for every output pixel, on both axes, antialiased or not.
TEST_P(ResizeMethod, WeightsArePartitionOfUnity) {
  for (const std::int64_t n : {2, 7, 20}) {
    const auto eye = torch::eye(n, torch::kFloat64);
    for (const std::int64_t out : {1, 3, 13, 45}) {
      for (const bool aa : {false, true}) {
        const auto cols = resize(eye.view({n, 1, 1, n}), 1, out, opts(GetParam(), aa));
        const auto rows = resize(eye.view({n, 1, n, 1}), out, 1, opts(GetParam(), aa));
        EXPECT_LT(max_abs_diff(cols.sum(0), torch::ones({1, 1, out})), 1e-12) << n << "->" << out;
        EXPECT_LT(max_abs_diff(rows.sum(0), torch::ones({1, out, 1})), 1e-12) << n << "->" << out;
      }
    }
  }
}

TEST_P(ResizeMethod, IdentitySizeReturnsEqualTensor) {
  const auto x = random_image({3, 19, 31});
  const auto out = resize(x, 19, 31, opts(GetParam()));
  EXPECT_TRUE(torch::equal(out, x));
  EXPECT_TRUE(torch::equal(resize_by(x, 1.0, opts(GetParam())), x));
}

TEST_P(ResizeMethod, OutputShapesAndDtypes) {
  const auto x = random_image({2, 3, 15, 21});
  EXPECT_EQ(resize(x, 7, 44, opts(GetParam())).sizes(), (std::vector<std::int64_t>{2, 3, 7, 44}));
  EXPECT_EQ(resize(x[0], 31, 5, opts(GetParam())).sizes(), (std::vector<std::int64_t>{3, 31, 5}));
  EXPECT_EQ(resize(x[0][0], 9, 9, opts(GetParam())).sizes(), (std::vector<std::int64_t>{9, 9}));
  EXPECT_EQ(resize(x.narrow(0, 0, 0), 4, 6, opts(GetParam())).sizes(),
            (std::vector<std::int64_t>{0, 3, 4, 6}));
  // ceil(15 * 0.5) = 8, ceil(21 * 0.5) = 11; ceil(15 * 1.5) = 23, ceil(21 * 1.5) = 32.
  EXPECT_EQ(resize_by(x, 0.5, opts(GetParam())).sizes(), (std::vector<std::int64_t>{2, 3, 8, 11}));
  EXPECT_EQ(resize_by(x, 1.5, opts(GetParam())).sizes(), (std::vector<std::int64_t>{2, 3, 23, 32}));
  for (const auto type : {torch::kFloat16, torch::kFloat32, torch::kFloat64}) {
    const auto y = resize(x.to(type), 10, 30, opts(GetParam()));
    EXPECT_EQ(y.scalar_type(), type);
    EXPECT_LT(max_abs_diff(y, resize(x.to(torch::kFloat64), 10, 30, opts(GetParam()))),
              type == torch::kFloat16 ? 2e-3 : 1e-6);
  }
}

std::string param_name(const ::testing::TestParamInfo<Interpolation>& p) {
  return name_of(p.param);
}
INSTANTIATE_TEST_SUITE_P(AllMethods, ResizeMethod, ::testing::ValuesIn(kAllMethods), param_name);

TEST(Resize, ResizeByRoundsUpExactly) {
  const auto tall = torch::zeros({1, 481, 321});
  EXPECT_EQ(resize_by(tall, 0.5, opts(Interpolation::Nearest)).sizes(),
            (std::vector<std::int64_t>{1, 241, 161}));
  EXPECT_EQ(resize_by(tall, 2.0, opts(Interpolation::Nearest)).sizes(),
            (std::vector<std::int64_t>{1, 962, 642}));
  // 300 * (1/3) and 30 * 0.1 are not exact in binary; they must still give 100 and 3.
  EXPECT_EQ(resize_by(torch::zeros({300, 30}), 1.0 / 3.0).sizes(),
            (std::vector<std::int64_t>{100, 10}));
  EXPECT_EQ(resize_by(torch::zeros({30, 30}), 0.1).sizes(), (std::vector<std::int64_t>{3, 3}));
  EXPECT_EQ(resize_by(torch::zeros({4, 4}), 1e-6).sizes(), (std::vector<std::int64_t>{1, 1}));
}

TEST(Resize, AntialiasFlattensCheckerboardNearestAliases) {
  const auto idx = torch::arange(64);
  const auto board = ((idx.view({64, 1}) + idx.view({1, 64})) % 2).to(torch::kFloat64);
  for (const auto m : {Interpolation::Bilinear, Interpolation::Bicubic, Interpolation::Lanczos3}) {
    const auto half = resize(board, 32, 32, opts(m));
    EXPECT_LT(max_abs_diff(interior(half, 3), torch::full({26, 26}, 0.5)), 1e-12) << name_of(m);
    // A factor of 3 has no symmetric pairing: antialiasing keeps it near 0.5, without it not.
    const auto third = resize(board.narrow(0, 0, 63).narrow(1, 0, 63), 21, 21, opts(m));
    EXPECT_LT(max_abs_diff(interior(third, 3), torch::full({15, 15}, 0.5)), 0.03) << name_of(m);
    const auto aliased = resize(board.narrow(0, 0, 63).narrow(1, 0, 63), 21, 21, opts(m, false));
    EXPECT_GT(max_abs_diff(interior(aliased, 3), torch::full({15, 15}, 0.5)), 0.2) << name_of(m);
  }
  // Nearest samples rows/cols 1, 3, 5, ...: (odd + odd) % 2 = 0 everywhere.
  EXPECT_TRUE(torch::equal(resize(board, 32, 32, opts(Interpolation::Nearest)),
                           torch::zeros({32, 32}, torch::kFloat64)));
}

// Upscale x3 then antialiased downscale x1/3 of a smooth image comes back close to the input
// (measured max error: bicubic 3.2e-3, Lanczos3 2.0e-3).
TEST(Resize, UpThenDownRoundTrip) {
  const auto y = torch::linspace(0, 1, 24, torch::kFloat64).view({24, 1});
  const auto x = torch::linspace(0, 1, 32, torch::kFloat64).view({1, 32});
  const auto image = (torch::sin(6.0 * x) * torch::cos(4.0 * y) * 0.5 + 0.5).unsqueeze(0);
  for (const auto m : {Interpolation::Bicubic, Interpolation::Lanczos3}) {
    const auto back = resize(resize(image, 72, 96, opts(m)), 24, 32, opts(m));
    EXPECT_LT(max_abs_diff(back, image), m == Interpolation::Bicubic ? 5e-3 : 3e-3)
        << name_of(m) << " " << max_abs_diff(back, image);
  }
}

// ---- (e) nearest alignment: output j takes input floor((j + 0.5) * in / out) ----

TEST(Resize, NearestReplicatesBlocksWhenUpscaling) {
  // 2 -> 4: floor((j + 0.5) / 2) = 0, 0, 1, 1.
  const auto x = torch::tensor({1.f, 2.f, 3.f, 4.f}).view({1, 2, 2});
  const auto expected = torch::tensor({1.f, 1.f, 2.f, 2.f, 1.f, 1.f, 2.f, 2.f,  //
                                       3.f, 3.f, 4.f, 4.f, 3.f, 3.f, 4.f, 4.f})
                            .view({1, 4, 4});
  EXPECT_TRUE(torch::equal(resize(x, 4, 4, opts(Interpolation::Nearest)), expected));
}

TEST(Resize, NearestPicksCellCentresWhenDownscaling) {
  // 4 -> 2: floor((j + 0.5) * 2) = 1, 3.
  const auto x = torch::arange(16, torch::kFloat32).view({4, 4});
  const auto expected = torch::tensor({5.f, 7.f, 13.f, 15.f}).view({2, 2});
  EXPECT_TRUE(torch::equal(resize(x, 2, 2, opts(Interpolation::Nearest, true)), expected));
  EXPECT_TRUE(torch::equal(resize(x, 2, 2, opts(Interpolation::Nearest, false)), expected));
  // 5 -> 3: floor((j + 0.5) * 5 / 3) = floor(0.83), floor(2.5), floor(4.17) = 0, 2, 4.
  const auto r = torch::arange(5, torch::kFloat32).view({1, 5});
  EXPECT_TRUE(torch::equal(resize(r, 1, 3, opts(Interpolation::Nearest)),
                           torch::tensor({0.f, 2.f, 4.f}).view({1, 3})));
}

// ---- (f) errors ----

template <class Fn>
void expect_error(Fn fn, const std::string& fragment) {
  try {
    fn();
    ADD_FAILURE() << "no strata::Error (expected one mentioning '" << fragment << "')";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_EQ(e.path(), "");
  }
}

TEST(Resize, RejectsBadInput) {
  const auto x = torch::rand({3, 8, 8});
  expect_error([&] { resize(x, 0, 4); }, "at least 1");
  expect_error([&] { resize(x, 4, -2); }, "at least 1");
  expect_error([&] { resize(torch::zeros({3, 8, 8}, torch::kInt32), 4, 4); }, "floating-point");
  expect_error([&] { resize(torch::zeros({3, 8, 8}, torch::kUInt8), 4, 4); }, "floating-point");
  expect_error([&] { resize(torch::rand({8}), 4, 4); }, "dims");
  expect_error([&] { resize(torch::rand({3, 0, 8}), 4, 4); }, "empty");
  expect_error([&] { resize(torch::Tensor(), 4, 4); }, "undefined");
  expect_error([&] { resize_by(x, -0.5); }, "scale");
  expect_error([&] { resize_by(x, 0.0); }, "scale");
  expect_error([&] { resize_by(x, std::nan("")); }, "scale");
  expect_error([&] { resize_by(x, std::numeric_limits<double>::infinity()); }, "scale");
}

TEST(Resize, ParsesInterpolationNames) {
  for (const auto m : kAllMethods) EXPECT_EQ(parse_interpolation(name_of(m)), m);
  expect_error([] { parse_interpolation("foo"); }, "foo");
  expect_error([] { parse_interpolation(""); }, "interpolation");
}

// ---- (g) CUDA ----

TEST(Resize, CudaMatchesCpu) {
  STRATA_REQUIRE_CUDA();
  const auto x = random_image({2, 3, 45, 61});
  for (const auto m : kAllMethods)
    for (const auto& [h, w] : std::vector<std::pair<int, int>>{{20, 33}, {100, 130}, {45, 7}}) {
      const auto cpu = resize(x, h, w, opts(m));
      const auto gpu = resize(x.to(torch::kCUDA), h, w, opts(m));
      EXPECT_TRUE(gpu.is_cuda());
      EXPECT_LT(max_abs_diff(cpu, gpu), 1e-5) << name_of(m) << " " << h << "x" << w;
      const auto half = resize(x.to(torch::kCUDA, torch::kFloat16), h, w, opts(m));
      EXPECT_EQ(half.scalar_type(), torch::kFloat16);
      EXPECT_LT(max_abs_diff(cpu, half), 2e-3) << name_of(m) << " fp16";
    }
}

}  // namespace
}  // namespace strata::image
