// nn layers: instance norm and reflection padding against LibTorch's own ops, values, gradients
// and memory format (channels-last in, channels-last out), on the CPU and on CUDA when present.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <string>
#include <tuple>

#include "strata/core/error.hpp"
#include "strata/filter/common.hpp"
#include "strata/nn/layers.hpp"
#include "strata/nn/layout.hpp"
#include "strata/nn/residual.hpp"
#include "testing.hpp"

namespace strata::nn {
namespace {

namespace F = torch::nn::functional;
using testing::max_abs_diff;

std::vector<torch::Device> devices() {
  std::vector<torch::Device> d{torch::kCPU};
  if (testing::cuda_available()) d.emplace_back(torch::kCUDA);
  return d;
}

torch::Tensor reference_pad(const torch::Tensor& x, std::int64_t pad) {
  return F::pad(x.contiguous(), F::PadFuncOptions({pad, pad, pad, pad}).mode(torch::kReflect));
}

// Value and input gradient of f(x) against g(x) for a random x and a random upstream gradient.
void expect_same_with_gradient(const std::function<torch::Tensor(const torch::Tensor&)>& f,
                               const std::function<torch::Tensor(const torch::Tensor&)>& g,
                               const torch::Tensor& x0, double tolerance) {
  auto a = x0.detach().clone().requires_grad_(true);
  auto b = x0.detach().contiguous().requires_grad_(true);
  const auto fa = f(a), gb = g(b);
  ASSERT_EQ(fa.sizes(), gb.sizes());
  EXPECT_LE(max_abs_diff(fa, gb), tolerance);
  const auto up = torch::randn(fa.sizes(), fa.options());
  (fa * up).sum().backward();
  (gb * up).sum().backward();
  // CUDA's padding backward adds with atomics, in an order of its own: a few float32 ulps of the
  // summed values (up to ~8) whatever `tolerance` (1.4e-6 seen on an H200)
  EXPECT_LE(max_abs_diff(a.grad(), b.grad()), std::max(tolerance, 4e-6));
}

TEST(NnLayers, InstanceNormMatchesLibTorch) {
  torch::manual_seed(1);
  for (const auto& device : devices())
    for (const bool cl : {false, true}) {
      auto x = (torch::randn({2, 5, 13, 17}) * 3.0 + 1.5).to(device);
      if (cl) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
      expect_same_with_gradient([](const torch::Tensor& t) { return instance_norm(t); },
                                [](const torch::Tensor& t) {
                                  return torch::instance_norm(t, {}, {}, {}, {}, true, 0.1, 1e-5,
                                                              false);
                                },
                                x, 1e-4);
      const auto y = instance_norm(x);
      if (device.is_cuda()) {
        EXPECT_EQ(y.is_contiguous(torch::MemoryFormat::ChannelsLast), cl);
      }
      // every plane has mean 0 and variance 1 (up to eps)
      EXPECT_LE(y.mean({2, 3}).abs().max().item<double>(), 1e-5);
      EXPECT_NEAR(y.var({2, 3}, false).mean().item<double>(), 1.0, 1e-4);
    }
}

TEST(NnLayers, InstanceNormOfConstantPlaneIsZero) {
  for (const auto& device : devices()) {
    const auto y = instance_norm(torch::full({1, 2, 4, 4}, 7.0, device));
    EXPECT_LE(y.abs().max().item<double>(), 1e-4);  // 0 up to the rounding of the mean
  }
}

TEST(NnLayers, ReflectionPadMatchesLibTorch) {
  torch::manual_seed(2);
  for (const auto& device : devices())
    for (const bool cl : {false, true})
      for (const std::int64_t pad : {1, 3, 8}) {
        auto x = torch::randn({2, 4, 11, 9}).to(device);
        if (cl) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
        expect_same_with_gradient([pad](const torch::Tensor& t) { return reflection_pad(t, pad); },
                                  [pad](const torch::Tensor& t) { return reference_pad(t, pad); },
                                  x, 0.0);
        EXPECT_EQ(
            reflection_pad(x, pad).suggest_memory_format() == torch::MemoryFormat::ChannelsLast,
            cl);
      }
}

TEST(NnLayers, ReflectionPadHandValues) {
  const auto x = torch::arange(4, torch::kFloat32).view({1, 1, 1, 4}).expand({1, 1, 2, 4});
  const auto y = reflection_pad(x.contiguous(), 1);
  const auto row = y[0][0][0];
  const float expected[] = {1, 0, 1, 2, 3, 2};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(row[i].item<float>(), expected[i]);
}

// Reference: the composition in float64 on the CPU.
torch::Tensor reference_norm_act_pad(const torch::Tensor& x, double slope, std::int64_t pad) {
  const auto d = x.to(torch::kCPU, torch::kFloat64).contiguous();
  const auto y =
      torch::leaky_relu(torch::instance_norm(d, {}, {}, {}, {}, true, 0.0, 1e-5, false), slope);
  return pad > 0 ? reference_pad(y, pad) : y;
}

TEST(NnLayers, FusedNormActPadMatchesComposition) {
  torch::manual_seed(3);
  for (const auto& device : devices())
    for (const double slope : {0.0, 0.2, 1.0})
      for (const std::int64_t pad : {0, 1, 4}) {
        const auto x = torch::randn({2, 8, 9, 14}).to(device);
        const auto y = instance_norm_act_pad(x, slope, pad);
        EXPECT_LE(max_abs_diff(y, reference_norm_act_pad(x, slope, pad)), 1e-4);
      }
}

// The CUDA NHWC kernels (channels-last inference) in every dtype, channel counts 4..128, odd
// sizes and a large mean offset (the statistics must not cancel).
TEST(NnLayers, CudaKernelsMatchReferenceInEveryDtype) {
  STRATA_REQUIRE_CUDA();
  torch::NoGradGuard no_grad;
  torch::manual_seed(4);
  const std::pair<torch::ScalarType, double> dtypes[] = {
      {torch::kFloat32, 2e-4}, {torch::kFloat16, 2e-2}, {torch::kBFloat16, 1e-1}};
  for (const auto& [dtype, tolerance] : dtypes)
    for (const std::int64_t c : {4, 16, 32, 64, 128})
      for (const std::int64_t pad : {0, 1, 3}) {
        const auto x = (torch::randn({2, c, 37, 53}) * 0.5 + 100.0)
                           .to(torch::kCUDA, dtype)
                           .contiguous(torch::MemoryFormat::ChannelsLast);
        const auto y = instance_norm_act_pad(x, 0.2, pad);
        ASSERT_TRUE(y.is_contiguous(torch::MemoryFormat::ChannelsLast));
        ASSERT_EQ(y.scalar_type(), dtype);
        // the reference normalises the same rounded input
        EXPECT_LE(max_abs_diff(y, reference_norm_act_pad(x, 0.2, pad)), tolerance)
            << c10::toString(dtype) << " C " << c << " pad " << pad;
        const auto padded = reflection_pad(x, std::max<std::int64_t>(pad, 1));
        EXPECT_EQ(max_abs_diff(padded, reference_pad(x, std::max<std::int64_t>(pad, 1))), 0.0);
        EXPECT_LE(max_abs_diff(instance_norm(x), reference_norm_act_pad(x, 1.0, 0)), tolerance);
      }
}

TEST(NnLayers, ForwardFusedEqualsPlainForward) {
  torch::manual_seed(5);
  namespace tnn = torch::nn;
  tnn::Sequential s(ReflectionPad(2), tnn::Conv2d(tnn::Conv2dOptions(4, 8, 3)), InstanceNorm(),
                    tnn::LeakyReLU(tnn::LeakyReLUOptions().negative_slope(0.2)), ReflectionPad(1),
                    tnn::Conv2d(tnn::Conv2dOptions(8, 8, 3)), InstanceNorm(), tnn::ReLU(),
                    tnn::Conv2d(tnn::Conv2dOptions(8, 4, 3)), InstanceNorm());
  torch::NoGradGuard no_grad;
  for (const auto& device : devices()) {
    s->to(device);
    for (const bool cl : {false, true}) {
      auto x = torch::randn({1, 4, 20, 23}).to(device);
      if (cl) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
      EXPECT_LE(max_abs_diff(forward_fused(s, x), s->forward(x)), 1e-4);
    }
  }
}

// Every module's own forward in turn, residual connections as x + block(x): nothing fused.
torch::Tensor plain_forward(torch::nn::Sequential& s, torch::Tensor x) {
  for (auto& m : *s) {
    if (auto* r = dynamic_cast<ResidualImpl*>(m.ptr().get()))
      x = x + plain_forward(r->block(), x);
    else
      x = m.forward(x);
  }
  return x;
}

// A HIPe-like stack: biases before instance norms (left out by the fused path), both residual
// tails (instance norm; convolution with a bias, carried by the skip's pass), a transposed
// convolution, and 6 input channels (padded to 8 for cuDNN in 16 bits). Fused against plain in
// float32 on every device and layout, and in float16 channels-last against float32.
TEST(NnLayers, ForwardFusedFoldsBiasesAndResiduals) {
  torch::manual_seed(6);
  namespace tnn = torch::nn;
  const auto conv = [](int in, int out, int dilation, int padding) {
    return tnn::Conv2d(tnn::Conv2dOptions(in, out, 3).dilation(dilation).padding(padding));
  };
  tnn::Sequential s(
      conv(6, 8, 1, 1), InstanceNorm(), tnn::ReLU(),
      Residual(tnn::Sequential(ReflectionPad(2), conv(8, 8, 2, 0), InstanceNorm(), tnn::ReLU(),
                               ReflectionPad(1), conv(8, 8, 1, 0))),
      Residual(tnn::Sequential(conv(8, 8, 2, 2), InstanceNorm(), tnn::ReLU(), conv(8, 8, 2, 2),
                               InstanceNorm())),
      // a tail convolution that pads by itself keeps its bias
      Residual(tnn::Sequential(
          conv(8, 8, 1, 1), InstanceNorm(), tnn::ReLU(),
          tnn::Conv2d(tnn::Conv2dOptions(8, 8, 3).padding(1).padding_mode(torch::kReflect)))),
      tnn::ConvTranspose2d(tnn::ConvTranspose2dOptions(8, 8, 4).stride(2).padding(1)),
      InstanceNorm(), tnn::LeakyReLU(tnn::LeakyReLUOptions().negative_slope(0.2)),
      conv(8, 3, 1, 1));
  for (auto& p : s->parameters()) p.data().uniform_(-0.5, 0.5);  // biases far from 0
  torch::NoGradGuard no_grad;
  const auto x0 = torch::rand({2, 6, 20, 22});
  for (const auto& device : devices()) {
    s->to(device, torch::kFloat32);
    for (const bool cl : {false, true}) {
      auto x = x0.to(device);
      if (cl) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
      const auto reference = plain_forward(s, x);
      const double scale = reference.abs().max().item<double>();
      // cuDNN rounds float32 convolutions' inputs to TF32 (10-bit mantissa) by default, so the
      // fused path's last-bit differences reach ~1e-4 of the values after a few layers there
      EXPECT_LE(max_abs_diff(forward_fused(s, x), reference),
                (device.is_cuda() ? 1e-3 : 1e-5) * scale)
          << device << " cl " << cl << " scale " << scale;
      if (!device.is_cuda() || !cl) continue;
      s->to(device, torch::kFloat16);
      to_channels_last(*s);
      const auto half = forward_fused(s, x.to(torch::kFloat16)).to(torch::kFloat32);
      EXPECT_LE(max_abs_diff(half, reference), 3e-2 * scale);
      s->to(device, torch::kFloat32);
    }
  }
}

// The sub-pixel form of the transposed convolution against LibTorch's, in float64: the HIPe
// peeler's 4×4 / stride 2 / padding 1, other strides and kernels, non-square options, no bias,
// a batch and odd sizes; layers it does not cover (output padding) fall back to LibTorch.
TEST(NnLayers, ConvTransposeSubpixelMatchesLibTorch) {
  torch::manual_seed(8);
  namespace tnn = torch::nn;
  torch::NoGradGuard no_grad;
  const std::vector<tnn::ConvTranspose2dOptions> cases = {
      tnn::ConvTranspose2dOptions(5, 6, 4).stride(2).padding(1),
      tnn::ConvTranspose2dOptions(3, 2, 2).stride(2),
      tnn::ConvTranspose2dOptions(3, 4, 3).stride(1).padding(1),
      tnn::ConvTranspose2dOptions(2, 3, 5).stride(3).padding(1),
      tnn::ConvTranspose2dOptions(2, 3, {4, 3}).stride({2, 1}).padding({1, 1}).bias(false),
      tnn::ConvTranspose2dOptions(2, 2, 3).stride(2).padding(1).output_padding(1)};
  for (const auto& options : cases) {
    tnn::ConvTranspose2d conv(options);
    conv->to(torch::kFloat64);
    // Every case but the last (output padding) takes the per-phase path.
    EXPECT_EQ(on_stride_grid(*conv), &options != &cases.back()) << options.kernel_size();
    const auto x = torch::randn({2, options.in_channels(), 7, 10}, torch::kFloat64);
    const auto y = conv_transpose(*conv, x);
    const auto expected = conv->forward(x);
    ASSERT_EQ(y.sizes(), expected.sizes()) << options.kernel_size() << options.stride();
    EXPECT_LT(max_abs_diff(y, expected), 1e-12) << options.kernel_size() << options.stride();
  }
}

// The DIP decoder's step by LibTorch ops, written out: y − mean + β, leaky, ×2 bilinear, pad.
torch::Tensor reference_mean_act_pad(const torch::Tensor& y, const torch::Tensor& beta,
                                     double slope, std::int64_t pad, bool upsample) {
  auto a = torch::leaky_relu(y - y.mean({2, 3}, true) + beta.view({1, -1, 1, 1}), slope);
  if (upsample)
    a = F::interpolate(a, F::InterpolateFuncOptions()
                              .scale_factor(std::vector<double>{2.0, 2.0})
                              .mode(torch::kBilinear)
                              .align_corners(false));
  return pad > 0 ? reference_pad(a, pad) : a;
}

// y0 (float64) moved so that every pre-activation y − mean + β is at least ~0.1 from the kink,
// where the slope jumps: there the rounding of y (bf16) or of the mean would flip a pixel's
// gradient between 1 and 0.01.
torch::Tensor away_from_kink(const torch::Tensor& y0, const torch::Tensor& beta0) {
  const auto pre = y0 - y0.mean({2, 3}, true) + beta0.view({1, -1, 1, 1});
  return y0 + 0.3 * (pre.abs() < 0.15).to(torch::kFloat64) * pre.sign();
}

// Value and gradients (y and β) of mean_norm_act_pad against the reference, for y in `dtype` and
// `layout` on `device`; the reference runs in float64 on the CPU.
void expect_mean_act_pad(const torch::Device& device, torch::ScalarType dtype, bool channels_last,
                         std::int64_t c, std::int64_t h, std::int64_t w, double tolerance) {
  // one sample: β's gradient from the kernel, added into β.grad (add_into_grad)
  for (const std::int64_t n : {1, 2})
    for (const bool upsample : {false, true})
      for (const std::int64_t pad : {0, 1, 2}) {
        if (pad >= (upsample ? 2 : 1) * std::min(h, w)) continue;
        const auto beta0 = torch::randn({c}, torch::kFloat64);
        auto y = away_from_kink(torch::randn({n, c, h, w}, torch::kFloat64) * 2.0 + 3.0, beta0)
                     .to(device, dtype);
        if (channels_last) y = y.contiguous(torch::MemoryFormat::ChannelsLast);
        y = y.detach().requires_grad_(true);
        auto beta = beta0.to(device, torch::kFloat32).requires_grad_(true);
        const auto out = mean_norm_act_pad(y, beta, 0.01, pad, upsample, n == 1);
        // the reference starts from the same rounded input
        auto ry = y.detach().to(torch::kCPU, torch::kFloat64).contiguous().requires_grad_(true);
        auto rb = beta.detach().to(torch::kCPU, torch::kFloat64).requires_grad_(true);
        // β.grad holds a value already: "added into" must add, not overwrite
        beta.mutable_grad() = torch::full({c}, 0.5, beta.options());
        rb.mutable_grad() = torch::full({c}, 0.5, rb.options());
        const auto expected = reference_mean_act_pad(ry, rb, 0.01, pad, upsample);
        const std::string what = std::string(device.is_cuda() ? "cuda " : "cpu ") +
                                 c10::toString(dtype) + (channels_last ? " cl" : "") + " N " +
                                 std::to_string(n) + " C " + std::to_string(c) + " pad " +
                                 std::to_string(pad) + (upsample ? " up" : "");
        ASSERT_EQ(out.sizes(), expected.sizes()) << what;
        EXPECT_EQ(out.scalar_type(), dtype) << what;
        EXPECT_LE(max_abs_diff(out.to(torch::kCPU, torch::kFloat64), expected), tolerance) << what;
        const auto up = torch::randn(expected.sizes(), torch::kFloat64);
        (out * up.to(device, dtype)).sum().backward();
        (expected * up).sum().backward();
        // the gradient of y sums to 0 over every plane (the mean is subtracted); it sums about
        // (2 + 2pad)² upstream values per pixel, hence the looser bound
        EXPECT_LE(max_abs_diff(y.grad().to(torch::kCPU, torch::kFloat64), ry.grad()), 4 * tolerance)
            << what;
        EXPECT_LE(max_abs_diff(beta.grad().to(torch::kCPU, torch::kFloat64), rb.grad()),
                  4 * tolerance * h * w)
            << what;
      }
}

TEST(NnLayers, MeanNormActPadMatchesComposition) {
  torch::manual_seed(9);
  expect_mean_act_pad(torch::kCPU, torch::kFloat32, false, 3, 5, 7, 1e-5);
  expect_mean_act_pad(torch::kCPU, torch::kFloat32, true, 8, 2, 3, 1e-5);
}

// The CUDA kernels (channels-last, any of the three dtypes) against the float64 reference:
// channel counts 4..128, sizes down to 2×3 (every pixel a border pixel) and a 128-channel plane of
// 33×47 with its mean far from 0 (the statistics must not cancel).
TEST(NnLayers, MeanNormActPadCudaKernels) {
  STRATA_REQUIRE_CUDA();
  torch::manual_seed(10);
  // small planes take the one-launch kernels, larger ones the three-kernel path (both ways); 12
  // channels: 3 channel groups, which do not divide a block's 256 threads
  for (const auto& [c, h, w] :
       {std::tuple<int, int, int>{4, 2, 3}, {16, 9, 5}, {128, 33, 47}, {8, 70, 65}, {12, 70, 65}}) {
    expect_mean_act_pad(torch::kCUDA, torch::kFloat32, true, c, h, w, 2e-5);
    expect_mean_act_pad(torch::kCUDA, torch::kBFloat16, true, c, h, w, 0.15);
    expect_mean_act_pad(torch::kCUDA, torch::kFloat16, true, c, h, w, 2e-2);
    expect_mean_act_pad(torch::kCUDA, torch::kFloat32, false, c, h, w, 2e-5);  // LibTorch ops
  }
}

// pointwise_conv (the DIP head) against a float64 conv2d from the same rounded input: value, and
// the gradients of x, weight and bias. On CUDA channels-last (strata's kernels: any dtype, 4..128
// channels, 1..4 outputs, pixel counts that leave a partial run of 32) and on the LibTorch path.
void expect_pointwise_conv(const torch::Device& device, torch::ScalarType dtype, bool channels_last,
                           std::int64_t c, std::int64_t outputs, std::int64_t h, std::int64_t w,
                           double tolerance) {
  auto x = torch::randn({2, c, h, w}, torch::kFloat64).to(device, dtype);
  if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  x = x.detach().requires_grad_(true);
  auto weight = (torch::randn({outputs, c, 1, 1}) / std::sqrt(c)).to(device).requires_grad_(true);
  auto bias = torch::randn({outputs}).to(device).requires_grad_(true);
  const auto out = pointwise_conv(x, weight, bias);
  const auto as_reference = [](const torch::Tensor& t) {
    return t.detach().to(torch::kCPU, torch::kFloat64).contiguous().requires_grad_(true);
  };
  auto rx = as_reference(x), rw = as_reference(weight), rb = as_reference(bias);
  const auto expected = F::conv2d(rx, rw, F::Conv2dFuncOptions().bias(rb));
  const std::string what = c10::toString(dtype) + std::string(channels_last ? " cl" : "") + " C " +
                           std::to_string(c) + " O " + std::to_string(outputs);
  ASSERT_EQ(out.sizes(), expected.sizes()) << what;
  EXPECT_EQ(out.scalar_type(), torch::kFloat32) << what;
  EXPECT_LE(max_abs_diff(out.to(torch::kCPU, torch::kFloat64), expected), tolerance) << what;
  const auto up = torch::randn(expected.sizes(), torch::kFloat64);
  (out * up.to(device, torch::kFloat32)).sum().backward();
  (expected * up).sum().backward();
  // x's gradient is rounded to x's dtype; the weight's sums 2·h·w products
  const double rounding = std::max(tolerance, dtype == torch::kFloat32    ? 1e-5
                                              : dtype == torch::kBFloat16 ? 2e-2
                                                                          : 2e-3);
  EXPECT_LE(max_abs_diff(x.grad().to(torch::kCPU, torch::kFloat64), rx.grad()),
            rounding * (1 + rx.grad().abs().max().item<double>()))
      << what;
  EXPECT_LE(max_abs_diff(weight.grad().to(torch::kCPU, torch::kFloat64), rw.grad()),
            tolerance * 2 * h * w)
      << what;
  EXPECT_LE(max_abs_diff(bias.grad().to(torch::kCPU, torch::kFloat64), rb.grad()),
            tolerance * 2 * h * w)
      << what;
}

TEST(NnLayers, PointwiseConvMatchesConv2d) {
  torch::manual_seed(12);
  expect_pointwise_conv(torch::kCPU, torch::kFloat32, false, 5, 3, 4, 6, 1e-5);
  expect_pointwise_conv(torch::kCPU, torch::kFloat32, true, 8, 2, 3, 3, 1e-5);
  if (!testing::cuda_available()) return;
  for (const auto& [c, o, h, w] : {std::tuple<int, int, int, int>{4, 1, 1, 1},
                                   {12, 4, 5, 7},
                                   {128, 3, 33, 47},
                                   {128, 2, 64, 64}}) {
    expect_pointwise_conv(torch::kCUDA, torch::kFloat32, true, c, o, h, w, 1e-5);
    expect_pointwise_conv(torch::kCUDA, torch::kBFloat16, true, c, o, h, w, 1e-5);
    expect_pointwise_conv(torch::kCUDA, torch::kFloat16, true, c, o, h, w, 1e-5);
  }
  expect_pointwise_conv(torch::kCUDA, torch::kFloat32, true, 132, 3, 4, 5, 2e-3);  // ops (TF32)
  expect_pointwise_conv(torch::kCUDA, torch::kBFloat16, true, 8, 5, 4, 5, 2e-3);   // ops
}

// mean_norm_act_pointwise (the DIP decoder's last step and head) against `expected`, the
// composition mean_norm_act_pad → pointwise_conv, run on copies of the same inputs (y rounded to
// `dtype`; β, weight and bias float32), on `device` or, when `float64`, on the CPU in float64:
// value and the gradients of y, β, weight and bias, each within tolerance · (1 + its largest
// magnitude).
using Composition = std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&,
                                                const torch::Tensor&, const torch::Tensor&)>;
void expect_mean_act_pointwise(const torch::Device& device, torch::ScalarType dtype, std::int64_t n,
                               std::int64_t c, std::int64_t outputs, std::int64_t h, std::int64_t w,
                               const Composition& expected, bool float64, double tolerance) {
  const auto beta0 = torch::randn({c}, torch::kFloat64);
  const auto y0 = away_from_kink(torch::randn({n, c, h, w}, torch::kFloat64) * 2.0 + 3.0, beta0)
                      .to(device, dtype)
                      .contiguous(torch::MemoryFormat::ChannelsLast);
  const auto w0 = torch::randn({outputs, c, 1, 1}, torch::kFloat64) * std::sqrt(6.0 / c);
  const auto b0 = torch::randn({outputs}, torch::kFloat64);
  const auto leaves = [&](bool reference) {
    const auto d = reference && float64 ? torch::Device(torch::kCPU) : device;
    const auto t = reference && float64 ? torch::kFloat64 : torch::kFloat32;
    std::vector<torch::Tensor> v{y0.detach().to(d, reference && float64 ? t : dtype).clone(),
                                 beta0.to(d, t), w0.to(d, t), b0.to(d, t)};
    for (auto& x : v) x.requires_grad_(true);
    return v;
  };
  auto fused = leaves(false), ref = leaves(true);
  for (auto* leaf : {&fused[1], &ref[1]})  // β.grad holds a value already: added to, not replaced
    leaf->mutable_grad() = torch::full({c}, 0.5, leaf->options());
  const auto out = mean_norm_act_pointwise(fused[0], fused[1], 0.01, fused[2], fused[3], n == 1);
  const auto want = expected(ref[0], ref[1], ref[2], ref[3]);
  const std::string what = c10::toString(dtype) + std::string(" N ") + std::to_string(n) + " C " +
                           std::to_string(c) + " O " + std::to_string(outputs) + " " +
                           std::to_string(h) + "x" + std::to_string(w);
  // on CUDA with strata's kernels built, the fused op itself ran (not the two ops it falls back to)
  if (device.is_cuda() && filter::fused_kernels_built()) {
    EXPECT_NE(out.grad_fn()->name().find("MeanActPointwise"), std::string::npos)
        << what << " ran " << out.grad_fn()->name();
  }
  ASSERT_EQ(out.sizes(), want.sizes()) << what;
  EXPECT_EQ(out.scalar_type(), torch::kFloat32) << what;
  const auto near = [&](const torch::Tensor& a, const torch::Tensor& b, const char* name) {
    const auto bb = b.to(torch::kCPU, torch::kFloat64);
    EXPECT_LE(max_abs_diff(a.to(torch::kCPU, torch::kFloat64), bb),
              tolerance * (1 + bb.abs().max().item<double>()))
        << what << " " << name;
  };
  near(out, want, "value");
  const auto up = torch::randn(want.sizes(), torch::kFloat64);
  (out * up.to(device, torch::kFloat32)).sum().backward();
  (want * up.to(want.device(), want.scalar_type())).sum().backward();
  near(fused[0].grad(), ref[0].grad(), "y grad");
  near(fused[1].grad(), ref[1].grad(), "beta grad");
  near(fused[2].grad(), ref[2].grad(), "weight grad");
  near(fused[3].grad(), ref[3].grad(), "bias grad");
}

TEST(NnLayers, MeanNormActPointwiseMatchesComposition) {
  torch::manual_seed(13);
  const Composition written_out = [](const torch::Tensor& y, const torch::Tensor& beta,
                                     const torch::Tensor& weight, const torch::Tensor& bias) {
    return F::conv2d(reference_mean_act_pad(y, beta, 0.01, 0, false), weight,
                     F::Conv2dFuncOptions().bias(bias));
  };
  expect_mean_act_pointwise(torch::kCPU, torch::kFloat32, 2, 8, 3, 5, 7, written_out, true, 1e-5);
  if (!testing::cuda_available()) return;
  // CUDA: the fused kernels against strata's two unfused ops in the same dtype (the same arithmetic
  // up to the order of the sums) and against the float64 composition
  const Composition unfused = [](const torch::Tensor& y, const torch::Tensor& beta,
                                 const torch::Tensor& weight, const torch::Tensor& bias) {
    return pointwise_conv(mean_norm_act_pad(y, beta, 0.01, 0, false, y.size(0) == 1), weight, bias);
  };
  for (const auto& [n, c, o, h, w] : {std::tuple<int, int, int, int, int>{1, 128, 3, 70, 65},
                                      {2, 128, 3, 70, 65},
                                      {1, 4, 1, 5, 7},
                                      {2, 12, 4, 33, 47}}) {
    expect_mean_act_pointwise(torch::kCUDA, torch::kFloat32, n, c, o, h, w, unfused, false, 1e-5);
    expect_mean_act_pointwise(torch::kCUDA, torch::kBFloat16, n, c, o, h, w, unfused, false, 1e-2);
    expect_mean_act_pointwise(torch::kCUDA, torch::kFloat16, n, c, o, h, w, unfused, false, 2e-3);
    expect_mean_act_pointwise(torch::kCUDA, torch::kFloat32, n, c, o, h, w, written_out, true,
                              2e-5);
  }
}

TEST(NnLayers, ReflectionPadRefusesTooLargeAPad) {
  EXPECT_THROW(reflection_pad(torch::zeros({1, 1, 4, 4}), 4), Error);
  EXPECT_THROW(reflection_pad(torch::zeros({1, 4, 4}), 1), Error);
}

}  // namespace
}  // namespace strata::nn
