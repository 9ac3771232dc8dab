// Bilateral-type filters (see bilateral.hpp). Float32 on the CPU runs a dedicated kernel: one
// parallel pass over the rows, each row accumulating all window offsets in cache-resident buffers
// with loops the compiler vectorises (this file is built with -fno-trapping-math for that). Every
// other case (CUDA, float64) loops over the window offsets on the host, each offset one pass of
// whole-image tensor ops.
#include "strata/filter/bilateral.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "../core/parallel.hpp"
#include "padding.hpp"
#include "strata/core/error.hpp"
#include "strata/filter/box.hpp"
#include "strata/filter/common.hpp"

namespace strata::filter {
namespace {

struct Offset {
  std::int64_t dy = 0;
  std::int64_t dx = 0;
  double log_weight = 0.0;  ///< log of the spatial weight, -(dy²+dx²)/2σs²
};

/// OpenCV's default radius for d <= 0: cvRound(1.5·σs) (round half to even), at least 1.
int default_radius(double sigma_s) {
  return std::max(1, static_cast<int>(std::lrint(1.5 * sigma_s)));
}

/// The circular window {dy² + dx² <= r²} (as OpenCV) with Gaussian spatial log-weights.
std::vector<Offset> circular_window(int radius, double sigma_s) {
  std::vector<Offset> window;
  const double coeff = -0.5 / (sigma_s * sigma_s);
  for (std::int64_t dy = -radius; dy <= radius; ++dy)
    for (std::int64_t dx = -radius; dx <= radius; ++dx)
      if (dy * dy + dx * dx <= std::int64_t{radius} * radius)
        window.push_back({dy, dx, coeff * static_cast<double>(dy * dy + dx * dx)});
  return window;
}

/// The filter's inputs, padded by r with reflect-101, and its weights.
struct Problem {
  torch::Tensor x;  ///< N×C×(H+2r)×(W+2r), contiguous
  torch::Tensor g;  ///< N×Cg×(H+2r)×(W+2r), contiguous
  std::int64_t r = 0;
  std::vector<Offset> window;
  double range_scale = 0.0;  ///< k = 1/(√2·σr): the range weight is exp(-(k·Δ)²)

  std::int64_t height() const { return x.size(2) - 2 * r; }
  std::int64_t width() const { return x.size(3) - 2 * r; }
};

// ---- CPU float32 kernel ------------------------------------------------------------------------

constexpr std::int64_t kRowsPerBlock = 16;  ///< fewest rows per parallel range of the CPU kernel

// The per-row loops are also compiled for AVX2 on x86-64 GCC/Clang, picked at load time.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define STRATA_AVX2_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define STRATA_AVX2_CLONES
#endif

/// exp(x) for float, branch-free so that loops over it vectorise (std::exp does not): x clamped
/// to >= -87, x = n·ln2 + f with |f| <= ln2/2 (Cody–Waite), e^f by its degree-6 Taylor polynomial
/// (relative error < 2e-7), 2^n built in the exponent bits.
inline float exp_vectorisable(float x) {
  x = std::max(x, -87.0f);               // also maps -inf to -87
  constexpr float kRound = 12582912.0f;  // 1.5·2^23: (t + kRound) − kRound rounds t to an integer
  const float n = (x * 1.44269504f + kRound) - kRound;
  const float f = (x - n * 0.693145751953125f) - n * 1.428606765330187e-6f;
  float p = 1.0f / 720;
  p = p * f + 1.0f / 120;
  p = p * f + 1.0f / 24;
  p = p * f + 1.0f / 6;
  p = p * f + 0.5f;
  p = p * f + 1.0f;
  p = p * f + 1.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/// One image row's pointers into the padded planes: element (c, x) of the row shifted by an offset
/// is at base[c·plane + shift + x].
struct RowPlanes {
  const float* base;
  std::int64_t channels;
  std::int64_t plane;  ///< elements per padded plane
};

/// w[x] = exp(log_spatial − (k·d)²) with d = Σ_c |g_c(x + shift) − g_c(x)|: the bilateral weight
/// (Tomasi & Manduchi 1998) with OpenCV's L1 colour distance. One fused loop for a guide of
/// kChannels channels (the compiler unrolls the channel loop and vectorises over x).
template <int kChannels>
STRATA_AVX2_CLONES void row_weights_fixed(const RowPlanes& g, std::int64_t shift, float log_spatial,
                                          float k, std::int64_t width, float* w) {
  for (std::int64_t i = 0; i < width; ++i) {
    float d = 0.0f;
    for (int c = 0; c < kChannels; ++c) {
      const float* centre = g.base + c * g.plane;
      d += std::abs(centre[i + shift] - centre[i]);
    }
    const float kd = k * d;
    w[i] = exp_vectorisable(log_spatial - kd * kd);
  }
}

/// As row_weights_fixed for any channel count, one pass per channel.
STRATA_AVX2_CLONES void row_weights_any(const RowPlanes& g, std::int64_t shift, float log_spatial,
                                        float k, std::int64_t width, float* w) {
  std::fill(w, w + width, 0.0f);
  for (std::int64_t c = 0; c < g.channels; ++c) {
    const float* centre = g.base + c * g.plane;
    for (std::int64_t i = 0; i < width; ++i) w[i] += std::abs(centre[i + shift] - centre[i]);
  }
  for (std::int64_t i = 0; i < width; ++i) {
    const float kd = k * w[i];
    w[i] = exp_vectorisable(log_spatial - kd * kd);
  }
}

void row_weights(const RowPlanes& g, std::int64_t shift, float log_spatial, float k,
                 std::int64_t width, float* w) {
  switch (g.channels) {
    case 1: return row_weights_fixed<1>(g, shift, log_spatial, k, width, w);
    case 3: return row_weights_fixed<3>(g, shift, log_spatial, k, width, w);
    default: return row_weights_any(g, shift, log_spatial, k, width, w);
  }
}

/// acc[c][x] += w[x]·x_c(x + shift), wsum[x] += w[x].
STRATA_AVX2_CLONES void row_accumulate(const RowPlanes& x, std::int64_t shift, const float* w,
                                       std::int64_t width, float* acc, float* wsum) {
  for (std::int64_t i = 0; i < width; ++i) wsum[i] += w[i];
  for (std::int64_t c = 0; c < x.channels; ++c) {
    const float* src = x.base + c * x.plane + shift;
    float* dst = acc + c * width;
    for (std::int64_t i = 0; i < width; ++i) dst[i] += w[i] * src[i];
  }
}

/// Filters output rows [begin, end) of the flattened N·H rows into `out` (N×C×H×W).
void filter_rows_cpu(const Problem& p, std::int64_t begin, std::int64_t end, float* out) {
  const std::int64_t h = p.height(), w = p.width(), wp = p.x.size(3);
  const std::int64_t plane = p.x.size(2) * wp;
  const std::int64_t c = p.x.size(1), cg = p.g.size(1);
  const auto k = static_cast<float>(p.range_scale);
  const float* xs = p.x.data_ptr<float>();
  const float* gs = p.g.data_ptr<float>();
  std::vector<float> acc(static_cast<std::size_t>(c * w)), wsum(static_cast<std::size_t>(w)),
      weight(static_cast<std::size_t>(w));
  for (std::int64_t row = begin; row < end; ++row) {
    const std::int64_t n = row / h, y = row % h;
    const std::int64_t centre = (y + p.r) * wp + p.r;
    const RowPlanes x{xs + n * c * plane + centre, c, plane};
    const RowPlanes g{gs + n * cg * plane + centre, cg, plane};
    std::fill(acc.begin(), acc.end(), 0.0f);
    std::fill(wsum.begin(), wsum.end(), 0.0f);
    for (const Offset& o : p.window) {
      const std::int64_t shift = o.dy * wp + o.dx;
      row_weights(g, shift, static_cast<float>(o.log_weight), k, w, weight.data());
      row_accumulate(x, shift, weight.data(), w, acc.data(), wsum.data());
    }
    for (std::int64_t ch = 0; ch < c; ++ch) {
      float* dst = out + ((n * c + ch) * h + y) * w;
      for (std::int64_t i = 0; i < w; ++i) dst[i] = acc[ch * w + i] / wsum[i];
    }
  }
}

torch::Tensor filter_cpu(const Problem& p) {
  torch::Tensor out =
      torch::empty({p.x.size(0), p.x.size(1), p.height(), p.width()}, p.x.options());
  float* dst = out.data_ptr<float>();
  ParallelRanges::run(
      p.x.size(0) * p.height(), kRowsPerBlock,
      [&](std::int64_t begin, std::int64_t end) { filter_rows_cpu(p, begin, end, dst); });
  return out;
}

// ---- tensor-op path (CUDA, float64) -------------------------------------------------------------

/// The unpadded image shifted by `o`, as a view of the padded tensor t.
torch::Tensor shifted(const Problem& p, const torch::Tensor& t, const Offset& o) {
  return t.narrow(2, p.r + o.dy, p.height()).narrow(3, p.r + o.dx, p.width());
}

/// As row_weights, for the whole image: w = exp(log_spatial − (k·Σ_c |Δg_c|)²).
void range_weight(const torch::Tensor& moved, const torch::Tensor& centre, double log_spatial,
                  double k, torch::Tensor& diff, torch::Tensor& w) {
  if (centre.size(1) == 1) {
    at::sub_out(w, moved, centre);
  } else {
    at::sub_out(diff, moved, centre);
    at::sum_out(w, diff.abs_(), {1}, /*keepdim=*/true);
  }
  w.mul_(k).square_().neg_().add_(log_spatial).exp_();
}

/// Normalised weighted mean Σ_o w_o·x(p+o) / Σ_o w_o, one pass of tensor ops per offset.
torch::Tensor filter_tensor_ops(const Problem& p) {
  const torch::Tensor centre = shifted(p, p.g, Offset{});
  const std::int64_t n = p.x.size(0), h = p.height(), w = p.width();
  const auto options = p.x.options();
  torch::Tensor num = torch::zeros({n, p.x.size(1), h, w}, options);
  torch::Tensor den = torch::zeros({n, 1, h, w}, options);
  torch::Tensor diff = torch::empty({n, p.g.size(1), h, w}, options);
  torch::Tensor weight = torch::empty_like(den);
  for (const Offset& o : p.window) {
    range_weight(shifted(p, p.g, o), centre, o.log_weight, p.range_scale, diff, weight);
    den.add_(weight);
    num.addcmul_(shifted(p, p.x, o), weight);
  }
  return num.div_(den);
}

/// k = 1/(√2·σr), capped at the dtype's largest value so that k·0 stays 0 for a tiny σr.
double range_scale(double sigma_r, torch::ScalarType dtype) {
  const double cap = dtype == torch::kFloat64 ? std::numeric_limits<double>::max()
                                              : std::numeric_limits<float>::max();
  return std::min(1.0 / (std::sqrt(2.0) * sigma_r), cap);
}

/// Joint bilateral filter of x (N×C×H×W) with guide g (N×Cg×H×W, same dtype and device).
torch::Tensor joint_bilateral(const torch::Tensor& x, const torch::Tensor& g, double sigma_s,
                              double sigma_r, int radius) {
  if (radius == 0) return x.clone();
  const torch::Tensor xp = pad_reflect101_2d(x, radius);
  const Problem p{xp, g.is_same(x) ? xp : pad_reflect101_2d(g, radius), radius,
                  circular_window(radius, sigma_s), range_scale(sigma_r, x.scalar_type())};
  const bool cpu_kernel = x.device().is_cpu() && x.scalar_type() == torch::kFloat32;
  return cpu_kernel ? filter_cpu(p) : filter_tensor_ops(p);
}

void check_parameters(double sigma_s, double sigma_r, int radius) {
  check(std::isfinite(sigma_s) && sigma_s > 0, "", "sigma_s must be positive and finite");
  check(std::isfinite(sigma_r) && sigma_r > 0, "", "sigma_r must be positive and finite");
  check(radius >= -1, "", "radius must be >= 0, or -1 for the default");
}

}  // namespace

torch::Tensor bilateral_filter(const torch::Tensor& x, double sigma_s, double sigma_r, int radius) {
  check_parameters(sigma_s, sigma_r, radius);
  const Batched b = as_batched(x, "input");
  const int r = radius < 0 ? default_radius(sigma_s) : radius;
  return b.restore(joint_bilateral(b.x, b.x, sigma_s, sigma_r, r));
}

torch::Tensor joint_bilateral_filter(const torch::Tensor& x, const torch::Tensor& guide,
                                     double sigma_s, double sigma_r, int radius) {
  check_parameters(sigma_s, sigma_r, radius);
  const Batched b = as_batched(x, "input");
  check_guide(x, guide);
  const torch::Tensor g = as_batched(guide, "guide").x.to(b.x.scalar_type());
  const int r = radius < 0 ? default_radius(sigma_s) : radius;
  return b.restore(joint_bilateral(b.x, g, sigma_s, sigma_r, r));
}

torch::Tensor rolling_guidance_filter(const torch::Tensor& x, double sigma_s, double sigma_r,
                                      int iterations) {
  check_parameters(sigma_s, sigma_r, -1);
  check(iterations >= 1, "", "iterations must be >= 1");
  const Batched b = as_batched(x, "input");
  const int r = default_radius(sigma_s);
  // J¹: the joint bilateral step from a constant guide J⁰ is a Gaussian (Zhang et al. 2014, Eq. 1).
  torch::Tensor j = gaussian_blur(b.x, sigma_s);
  // J^{t+1} = JBF(I, guide J^t) (Zhang et al. 2014, Eq. 3).
  for (int t = 1; t < iterations; ++t) j = joint_bilateral(b.x, j, sigma_s, sigma_r, r);
  return b.restore(j);
}

}  // namespace strata::filter
