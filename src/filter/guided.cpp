// Guided filter family. Sources:
// - He, Sun, Tang, "Guided Image Filtering", ECCV 2010 / TPAMI 2013 (gray guide Eq. 5-8, colour
//   guide Eq. 14-16) and the authors' MATLAB guidedfilter.m / guidedfilter_color.m.
// - He, Sun, "Fast Guided Filter", arXiv:1505.00996, 2015 (Algorithm 2, fastguidedfilter.m:
//   nearest subsampling, bilinear upsampling of the mean coefficients).
// - Li, Zheng, Zhu, Yao, Wu, "Weighted Guided Image Filtering", IEEE TIP 24(1), 2015 (Eq. 5 edge
//   weight Γ, Eq. 11-13 coefficients); thesis Eq. 3.6.
// - Thesis Eq. 3.13-3.15 and the authors' MATLAB umgf_guidedfilter.m (reference-facts §2.2) for the
//   unsharp-mask guided filter.
// All window means are box_filter means (border-clipped windows, as the MATLAB code).
#include "strata/filter/guided.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/filter/box.hpp"
#include "strata/filter/common.hpp"
#include "strata/image/resize.hpp"

namespace strata::filter {

namespace {

// Li et al. 2015: ε = (0.001·L)² with L the dynamic range, L = 1 for images in [0, 1].
constexpr double kEdgeWeightEpsilon = 1e-6;

void check_radius(const std::string& fn, int radius) {
  check(radius >= 0, "", fn + ": radius must be >= 0, got " + std::to_string(radius));
}

void check_positive(const std::string& fn, const std::string& name, double value) {
  check(std::isfinite(value) && value > 0.0, "",
        fn + ": " + name + " must be finite and > 0, got " + std::to_string(value));
}

// The input as N×C×H×W (float32, or float64 when the input is) and the guide in the same dtype.
struct Operands {
  Batched input;
  torch::Tensor guide;
};

Operands prepare(const torch::Tensor& input, const torch::Tensor& guide) {
  Batched p = as_batched(input, "input");
  check_guide(input, guide);
  auto g = as_batched(guide, "guide").x.to(p.x.scalar_type());
  return {std::move(p), std::move(g)};
}

void check_guide_channels(const std::string& fn, const torch::Tensor& guide) {
  check(guide.size(1) == 1 || guide.size(1) == 3, "",
        fn + ": guide must have 1 (gray) or 3 (colour) channels, got " +
            std::to_string(guide.size(1)));
}

// dst ← a ⊙ b without a temporary, unless autograd has to record the product.
void multiply_into(torch::Tensor dst, const torch::Tensor& a, const torch::Tensor& b) {
  if (torch::GradMode::is_enabled() && (a.requires_grad() || b.requires_grad()))
    dst.copy_(a * b);
  else
    torch::mul_out(dst, a, b);
}

// The per-pixel arithmetic between the box filters runs on bands of rows. On CPU the bands are
// spread over the threads by one at::parallel_for (the ops inside then run single-threaded), so
// the intermediates stay in cache and there is one fork/join instead of one per op; the
// whole-image, op-by-op version was measured 3-4× slower (with the machine shared, every
// OpenMP fork/join can wait for a descheduled worker).
static const std::int64_t kCpuBandRows = std::getenv("BAND") ? std::atoll(std::getenv("BAND")) : 16;  // TEMP

bool records_grad(const torch::Tensor& t) {
  return torch::GradMode::is_enabled() && t.requires_grad();
}

// Calls f(first_row, rows) over bands of rows of an N×C×H×W tensor: parallel bands on CPU, the
// whole image at once on other devices and when autograd records (the graph is built serially).
template <typename F>
void for_each_band(const torch::Tensor& like, bool serial, const F& f) {
  const std::int64_t h = like.size(2);
  if (serial || !like.device().is_cpu()) return f(0, h);
  const std::int64_t bands = (h + kCpuBandRows - 1) / kCpuBandRows;
  at::parallel_for(0, bands, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t b = begin; b < end; ++b)
      f(b * kCpuBandRows, std::min(kCpuBandRows, h - b * kCpuBandRows));
  });
}

// Rows [first, first + rows) of an N×C×H×W tensor; a 0-dim tensor (constant eps) as it is.
torch::Tensor band_of(const torch::Tensor& t, std::int64_t first, std::int64_t rows) {
  return t.dim() == 0 ? t : t.narrow(2, first, rows);
}

// ---- window statistics -----------------------------------------------------------------------

// Gray model: guide channel k pairs with input channel k, or one guide channel with every input
// channel. Colour model: a 3-channel guide, every guide channel with every input channel.
enum class Model { Gray, Colour };

constexpr std::array<std::pair<int, int>, 6> kColourPairs = {
    {{0, 0}, {0, 1}, {0, 2}, {1, 1}, {1, 2}, {2, 2}}};

// The products whose window means the linear model needs, stacked for one box call:
// gray [G (K), G² (K), p (C), G·p (C)], colour [I (3), I_i·I_j (6), p (C), I_k·p (3C)].
void products_into(torch::Tensor stack, const torch::Tensor& g, const torch::Tensor& p,
                   Model model) {
  const std::int64_t k = g.size(1), c = p.size(1);
  stack.narrow(1, 0, k).copy_(g);
  if (model == Model::Gray) {
    multiply_into(stack.narrow(1, k, k), g, g);
    multiply_into(stack.narrow(1, 2 * k + c, c), g, p);
  } else {
    for (std::size_t e = 0; e < kColourPairs.size(); ++e)
      multiply_into(stack.narrow(1, 3 + static_cast<std::int64_t>(e), 1),
                    g.narrow(1, kColourPairs[e].first, 1), g.narrow(1, kColourPairs[e].second, 1));
    for (std::int64_t i = 0; i < 3; ++i)
      multiply_into(stack.narrow(1, 9 + c + i * c, c), g.narrow(1, i, 1), p);
  }
  stack.narrow(1, model == Model::Colour ? 9 : 2 * k, c).copy_(p);
}

torch::Tensor products(const torch::Tensor& g, const torch::Tensor& p, Model model) {
  const std::int64_t k = g.size(1), c = p.size(1);
  const std::int64_t planes = model == Model::Colour ? 9 + 4 * c : 2 * k + 2 * c;
  auto stack = torch::empty({p.size(0), planes, p.size(2), p.size(3)}, p.options());
  const bool serial = records_grad(g) || records_grad(p);
  for_each_band(p, serial, [&](std::int64_t first, std::int64_t rows) {
    products_into(band_of(stack, first, rows), band_of(g, first, rows), band_of(p, first, rows),
                  model);
  });
  return stack;
}

// Window means and (co)variances of guide I and input p (over a band of rows).
struct WindowStats {
  torch::Tensor mean_guide;  ///< N×K×h×W
  torch::Tensor mean_input;  ///< N×C×h×W
  /// gray: {N×K×h×W variances}; colour: the entries 00, 01, 02, 11, 12, 22 of Σ (N×1×h×W each)
  std::vector<torch::Tensor> var;
  torch::Tensor cov;  ///< gray: N×C×h×W; colour: N×3C×h×W, channel k·C + c = cov(I_k, p_c)
};

// var = mean(I_i I_j) − mean(I_i) mean(I_j), cov = mean(I_k p) − mean(I_k) mean(p) (He et al.
// Eq. 5 / 14) from the box means `m` of products(). Independent of the rows, so `m` may be a band.
WindowStats stats_from_means(const torch::Tensor& m, std::int64_t k, std::int64_t c, Model model) {
  WindowStats s;
  s.mean_guide = m.narrow(1, 0, k);
  if (model == Model::Gray) {
    s.mean_input = m.narrow(1, 2 * k, c);
    s.var = {torch::addcmul(m.narrow(1, k, k), s.mean_guide, s.mean_guide, -1)};
    s.cov = torch::addcmul(m.narrow(1, 2 * k + c, c), s.mean_guide, s.mean_input, -1);
    return s;
  }
  s.mean_input = m.narrow(1, 9, c);
  for (std::size_t e = 0; e < kColourPairs.size(); ++e)
    s.var.push_back(torch::addcmul(m.narrow(1, 3 + static_cast<std::int64_t>(e), 1),
                                   s.mean_guide.narrow(1, kColourPairs[e].first, 1),
                                   s.mean_guide.narrow(1, kColourPairs[e].second, 1), -1));
  const auto n = m.size(0), h = m.size(2), w = m.size(3);
  const auto mean_products = m.narrow(1, 9 + c, 3 * c).view({n, 3, c, h, w});
  s.cov = torch::addcmul(mean_products, s.mean_guide.unsqueeze(2), s.mean_input.unsqueeze(1), -1)
              .view({n, 3 * c, h, w});
  return s;
}

// ---- linear coefficients ---------------------------------------------------------------------

// a_c = (Σ + reg·U)⁻¹ cov_c for each input channel c (He et al. Eq. 14), the symmetric 3×3 inverse
// written with cofactors: inv = adj(Σ) / det(Σ). Returns a_0, a_1, a_2 (N×C×h×W each).
std::vector<torch::Tensor> solve_colour(const WindowStats& s, const torch::Tensor& reg) {
  const auto& v = s.var;
  const auto s00 = v[0] + reg, s11 = v[3] + reg, s22 = v[5] + reg;
  const auto &s01 = v[1], &s02 = v[2], &s12 = v[4];
  const auto c00 = torch::addcmul(s11 * s22, s12, s12, -1);
  const auto c01 = torch::addcmul(s02 * s12, s01, s22, -1);
  const auto c02 = torch::addcmul(s01 * s12, s02, s11, -1);
  const auto c11 = torch::addcmul(s00 * s22, s02, s02, -1);
  const auto c12 = torch::addcmul(s01 * s02, s00, s12, -1);
  const auto c22 = torch::addcmul(s00 * s11, s01, s01, -1);
  const auto inv_det = (s00 * c00).addcmul_(s01, c01).addcmul_(s02, c02).reciprocal_();
  const std::int64_t c = s.mean_input.size(1);
  const auto cov = [&s, c](std::int64_t k) { return s.cov.narrow(1, k * c, c); };
  const auto row = [&](const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& z) {
    return (cov(0) * x).addcmul_(cov(1), y).addcmul_(cov(2), z) * inv_det;
  };
  return {row(c00, c01, c02), row(c01, c11, c12), row(c02, c12, c22)};
}

// dst (N×(K+1)C×h×W) ← the per-pixel linear model q = Σ_k a_k I_k + b as [a_0 .. a_{K-1}, b]
// (C channels each). Values are computed apart and copied in, so that autograd never saves a view
// of dst (the other bands' writes would invalidate it).
void linear_model_into(torch::Tensor dst, const WindowStats& s, const torch::Tensor& reg,
                       Model model) {
  const std::int64_t c = s.mean_input.size(1);
  // a = cov / (σ² + eps) (He et al. Eq. 5) or the colour solve (Eq. 14)
  const auto a = model == Model::Colour ? solve_colour(s, reg)
                                        : std::vector<torch::Tensor>{s.cov / (s.var[0] + reg)};
  // b = mean(p) − Σ_k a_k mean(I_k) (He et al. Eq. 6 / 15)
  auto b = torch::addcmul(s.mean_input, a[0], s.mean_guide.narrow(1, 0, 1), -1);
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto k = static_cast<std::int64_t>(i);
    if (k > 0) b.addcmul_(a[i], s.mean_guide.narrow(1, k, 1), -1);
    dst.narrow(1, k * c, c).copy_(a[i]);
  }
  dst.narrow(1, static_cast<std::int64_t>(a.size()) * c, c).copy_(b);
}

// The linear-model coefficients [a, b] of guide g and input p, N×(K+1)C×H×W, so that their
// window means take one box call.
torch::Tensor coefficients(const torch::Tensor& g, const torch::Tensor& p, int r,
                           const torch::Tensor& reg) {
  const Model model = g.size(1) == 3 ? Model::Colour : Model::Gray;
  const std::int64_t k = g.size(1), c = p.size(1);
  const auto means = box_filter(products(g, p, model), r);
  auto coef = torch::empty({p.size(0), (k + 1) * c, p.size(2), p.size(3)}, p.options());
  const bool serial = records_grad(means) || records_grad(reg);
  for_each_band(p, serial, [&](std::int64_t first, std::int64_t rows) {
    const auto s = stats_from_means(band_of(means, first, rows), k, c, model);
    linear_model_into(band_of(coef, first, rows), s, band_of(reg, first, rows), model);
  });
  return coef;
}

// q = Σ_k ā_k I_k + b̄ (He et al. Eq. 8 / 16) from the (already averaged) coefficients.
torch::Tensor apply_model(const torch::Tensor& mean_coef, const torch::Tensor& g) {
  const std::int64_t k = g.size(1), c = mean_coef.size(1) / (k + 1);
  auto q = torch::empty({g.size(0), c, g.size(2), g.size(3)}, g.options());
  const bool serial = records_grad(mean_coef) || records_grad(g);
  for_each_band(g, serial, [&](std::int64_t first, std::int64_t rows) {
    const auto m = band_of(mean_coef, first, rows);
    auto out = band_of(q, first, rows).copy_(m.narrow(1, k * c, c));
    for (std::int64_t i = 0; i < k; ++i)
      out.addcmul_(m.narrow(1, i * c, c), band_of(g, first, rows).narrow(1, i, 1));
  });
  return q;
}

torch::Tensor constant_reg(double value, const torch::Tensor& like) {
  return torch::full({}, value, like.options());
}

// λ / Γ with Γ(k) = (σ²₁(k) + ε) · mean_p 1 / (σ²₁(p) + ε) (Li et al. Eq. 5, thesis Eq. 3.6),
// σ²₁ the variance in the 3×3 window of each channel of `gray`, the mean taken per image.
// Computed in float64: σ²₁ = mean(G²) − mean(G)² cancels badly against ε = 1e-6 in float32 (a
// 1e-5 error in the output was measured).
torch::Tensor weighted_reg(double lambda, const torch::Tensor& gray) {
  const std::int64_t k = gray.size(1);
  const auto g = gray.to(torch::kFloat64);
  const auto m = box_filter(torch::cat({g, g.square()}, 1), 1);
  const auto var =
      (m.narrow(1, k, k) - m.narrow(1, 0, k).square()).clamp_min_(0.0).add_(kEdgeWeightEpsilon);
  const auto gamma = var * var.reciprocal().mean({2, 3}, true);
  return gamma.reciprocal_().mul_(lambda).to(gray.scalar_type());
}

// ---- unsharp-mask guided filter ----------------------------------------------------------------

// F_L(G), F_L(I) (`boxes` cascaded boxes; the first is the window mean already in the stats) and
// the amount, box-smoothed when asked (riding along with the second box of the cascade).
struct Lowpass {
  torch::Tensor guide, input, amount;
};

Lowpass lowpass(const WindowStats& s, torch::Tensor amount, int r, const UmgfOptions& options) {
  const std::int64_t kg = s.mean_guide.size(1), c = s.mean_input.size(1);
  auto low = torch::cat({s.mean_guide, s.mean_input}, 1);
  bool smooth = options.smooth_amount;
  for (int level = 1; level < options.lowpass_boxes || smooth; ++level) {
    const bool more = level < options.lowpass_boxes;
    const auto m = box_filter(more && smooth ? torch::cat({low, amount}, 1)
                              : more         ? low
                                             : amount,
                              r);
    if (more) low = m.narrow(1, 0, kg + c);
    if (smooth) amount = m.narrow(1, m.size(1) - c, c);
    smooth = false;
  }
  return {low.narrow(1, 0, kg), low.narrow(1, kg, c), amount};
}

}  // namespace

torch::Tensor guided_filter(const torch::Tensor& input, const torch::Tensor& guide, int radius,
                            double eps) {
  const std::string fn = "guided_filter";
  check_radius(fn, radius);
  check_positive(fn, "eps", eps);
  const Operands o = prepare(input, guide);
  check_guide_channels(fn, o.guide);
  const auto coef = coefficients(o.guide, o.input.x, radius, constant_reg(eps, o.input.x));
  return o.input.restore(apply_model(box_filter(coef, radius), o.guide));
}

torch::Tensor fast_guided_filter(const torch::Tensor& input, const torch::Tensor& guide, int radius,
                                 double eps, int subsample) {
  const std::string fn = "fast_guided_filter";
  check_radius(fn, radius);
  check_positive(fn, "eps", eps);
  check(subsample >= 1, "", fn + ": subsample must be >= 1, got " + std::to_string(subsample));
  if (subsample == 1) return guided_filter(input, guide, radius, eps);
  const Operands o = prepare(input, guide);
  check_guide_channels(fn, o.guide);
  // He & Sun 2015 Alg. 2: nearest subsampling, radius r/s (at least 1), bilinear upsampling of ā,
  // b̄.
  const image::ResizeOptions down{image::Interpolation::Nearest, false};
  const image::ResizeOptions up{image::Interpolation::Bilinear, false};
  const auto g = image::resize_by(o.guide, 1.0 / subsample, down);
  const auto p = image::resize_by(o.input.x, 1.0 / subsample, down);
  const int r = radius == 0 ? 0 : std::max(1, radius / subsample);
  const auto mean_coef = box_filter(coefficients(g, p, r, constant_reg(eps, p)), r);
  const auto full = image::resize(mean_coef, o.guide.size(2), o.guide.size(3), up);
  return o.input.restore(apply_model(full, o.guide));
}

torch::Tensor weighted_guided_filter(const torch::Tensor& input, const torch::Tensor& guide,
                                     int radius, double lambda) {
  const std::string fn = "weighted_guided_filter";
  check_radius(fn, radius);
  check_positive(fn, "lambda", lambda);
  const Operands o = prepare(input, guide);
  check_guide_channels(fn, o.guide);
  // Li et al. define Γ for a gray guide; a colour guide uses Γ of its channel mean.
  const auto reg = weighted_reg(lambda, o.guide.size(1) == 1 ? o.guide : o.guide.mean(1, true));
  const auto coef = coefficients(o.guide, o.input.x, radius, reg);
  return o.input.restore(apply_model(box_filter(coef, radius), o.guide));
}

torch::Tensor unsharp_mask_guided_filter(const torch::Tensor& input, const torch::Tensor& guide,
                                         int radius, double eps_or_lambda,
                                         const UmgfOptions& options) {
  const std::string fn = "unsharp_mask_guided_filter";
  check_radius(fn, radius);
  check_positive(fn, "eps_or_lambda", eps_or_lambda);
  check(options.lowpass_boxes >= 1, "",
        fn + ": lowpass_boxes must be >= 1, got " + std::to_string(options.lowpass_boxes));
  const Operands o = prepare(input, guide);
  const auto& p = o.input.x;
  // Guide channel c guides input channel c when the counts match; otherwise the channel mean of
  // the guide (the guide itself when it has one channel) guides every input channel.
  const auto g = o.guide.size(1) == p.size(1) ? o.guide : o.guide.mean(1, true);
  const WindowStats s = stats_from_means(box_filter(products(g, p, Model::Gray), radius), g.size(1),
                                         p.size(1), Model::Gray);
  const auto reg = options.amount == AmountFunction::Guided ? constant_reg(eps_or_lambda, p)
                                                            : weighted_reg(eps_or_lambda, g);
  // Amount a = cov / (σ² + eps) (thesis Eq. 3.3, or the WGF's λ/Γ in place of eps).
  const Lowpass low = lowpass(s, s.cov / (s.var[0] + reg), radius, options);
  // q = ā ⊙ (G − F_L(G)) + F_L(I) (thesis Eq. 3.15; no b term, as umgf_guidedfilter.m).
  return o.input.restore(((g - low.guide) * low.amount).add_(low.input));
}

}  // namespace strata::filter
