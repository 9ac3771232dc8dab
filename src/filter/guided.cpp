// Guided filter family. Sources:
// - He, Sun, Tang, "Guided Image Filtering", ECCV 2010 (gray guide Eq. 5, 6, 8; colour guide
//   Eq. 14-16; equation numbers of the ECCV paper) and the authors' MATLAB guidedfilter.m /
//   guidedfilter_color.m.
// - He, Sun, "Fast Guided Filter", arXiv:1505.00996, 2015 (Algorithm 2, fastguidedfilter.m:
//   nearest subsampling, bilinear upsampling of the mean coefficients).
// - Li, Zheng, Zhu, Yao, Wu, "Weighted Guided Image Filtering", IEEE TIP 24(1), 2015: edge-aware
//   weight Γ (their Eq. 5, thesis Eq. 3.6), a = cov / (σ² + λ/Γ), b = mean(p) − a·mean(I), then
//   averaged as in the guided filter.
// - Thesis Eq. 3.13-3.15 and the authors' MATLAB umgf_guidedfilter.m (reference-facts §2.2) for the
//   unsharp-mask guided filter.
// All window means are box_filter means (border-clipped windows, as the MATLAB code).
#include "strata/filter/guided.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fused.hpp"
#include "guided_cpu.hpp"
#include "strata/core/error.hpp"
#include "strata/filter/box.hpp"
#include "strata/filter/common.hpp"
#include "strata/image/resize.hpp"

namespace strata::filter {

namespace {

namespace F = torch::nn::functional;

// Li et al. 2015: ε = (0.001·L)² with L the dynamic range; L = 1 (images in [0, 1]) is fixed rather
// than measured, so that Γ needs no data-dependent range and stays linear-time and sync-free.
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

// Input and guide as N×C×H×W in their own dtype and layout, for the fused CUDA kernels.
struct FusedOperands {
  torch::Tensor p, g;
  bool squeezed = false;

  torch::Tensor restore(const torch::Tensor& q) const { return squeezed ? q.squeeze(0) : q; }
};

// The operands when the fused CUDA kernels (fused.hpp) take them, nothing otherwise.
std::optional<FusedOperands> fused_operands(const std::string& fn, const torch::Tensor& input,
                                            const torch::Tensor& guide, int radius) {
  check_image(input, "input");
  check_image(guide, "guide");
  check_guide(input, guide);
  const bool squeezed = input.dim() == 3;
  FusedOperands f{squeezed ? input.unsqueeze(0) : input, squeezed ? guide.unsqueeze(0) : guide,
                  squeezed};
  check_guide_channels(fn, f.g);
  if (!fused::supports(f.p, f.g, radius)) return std::nullopt;
  return f;
}

// ---- window statistics -----------------------------------------------------------------------

// Gray model: guide channel k pairs with input channel k, or one guide channel with every input
// channel. Colour model: a 3-channel guide, every guide channel with every input channel.
enum class Model { Gray, Colour };

constexpr std::array<std::pair<int, int>, 6> kColourPairs = {
    {{0, 0}, {0, 1}, {0, 2}, {1, 1}, {1, 2}, {2, 2}}};

// box_filter of each tensor.
std::vector<torch::Tensor> box_each(const std::vector<torch::Tensor>& xs, int r) {
  std::vector<torch::Tensor> out;
  for (const auto& x : xs) out.push_back(box_filter(x, r));
  return out;
}

// Window means and (co)variances of guide I and input p.
struct WindowStats {
  torch::Tensor mean_guide;  ///< N×K×H×W
  torch::Tensor mean_input;  ///< N×C×H×W
  /// gray: {N×K×H×W variances}; colour: the entries 00, 01, 02, 11, 12, 22 of Σ (N×1×H×W each)
  std::vector<torch::Tensor> var;
  /// gray: {N×C×H×W}; colour: cov(I_k, p) for k = 0, 1, 2 (N×C×H×W each)
  std::vector<torch::Tensor> cov;
};

// var = mean(I_i I_j) − mean(I_i) mean(I_j), cov = mean(I_k p) − mean(I_k) mean(p) (He et al.
// Eq. 5 / 14). Each product is box-filtered on its own rather than stacked into one tensor: on CPU
// (glibc) allocations above 32 MB are mmap'ed, returned to the OS when freed and page-faulted in
// again on every call, which doubled the time of the filter on 1080p; C planes at most stay
// recyclable.
WindowStats window_stats(const torch::Tensor& g, const torch::Tensor& p, int r, Model model) {
  WindowStats s;
  s.mean_guide = box_filter(g, r);
  s.mean_input = box_filter(p, r);
  const auto guide = [&g](int k) { return g.narrow(1, k, 1); };
  const auto mean = [&s](int k) { return s.mean_guide.narrow(1, k, 1); };
  if (model == Model::Gray) {
    s.var = {box_filter(g * g, r).addcmul_(s.mean_guide, s.mean_guide, -1)};
    s.cov = {box_filter(g * p, r).addcmul_(s.mean_guide, s.mean_input, -1)};
    return s;
  }
  for (const auto& [i, j] : kColourPairs)
    s.var.push_back(box_filter(guide(i) * guide(j), r).addcmul_(mean(i), mean(j), -1));
  for (int k = 0; k < 3; ++k)
    s.cov.push_back(box_filter(guide(k) * p, r).addcmul_(mean(k), s.mean_input, -1));
  return s;
}

// ---- linear coefficients ---------------------------------------------------------------------

// a_c = (Σ + reg·U)⁻¹ cov_c for each input channel c (He et al. Eq. 14), the symmetric 3×3 inverse
// written with cofactors: inv = adj(Σ) / det(Σ). Adds reg to the diagonal of s.var in place.
// Returns a_0, a_1, a_2 (N×C×H×W each).
std::vector<torch::Tensor> solve_colour(WindowStats& s, const torch::Tensor& reg) {
  auto& v = s.var;
  const auto &s00 = v[0].add_(reg), &s11 = v[3].add_(reg), &s22 = v[5].add_(reg);
  const auto &s01 = v[1], &s02 = v[2], &s12 = v[4];
  const auto cofactor = [](const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& c,
                           const torch::Tensor& d) { return (a * b).addcmul_(c, d, -1); };
  const auto c00 = cofactor(s11, s22, s12, s12), c01 = cofactor(s02, s12, s01, s22),
             c02 = cofactor(s01, s12, s02, s11), c11 = cofactor(s00, s22, s02, s02),
             c12 = cofactor(s01, s02, s00, s12), c22 = cofactor(s00, s11, s01, s01);
  const auto inv_det = (s00 * c00).addcmul_(s01, c01).addcmul_(s02, c02).reciprocal_();
  const auto& cov = s.cov;
  const auto row = [&](const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& z) {
    return (cov[0] * x).addcmul_(cov[1], y).addcmul_(cov[2], z).mul_(inv_det);
  };
  return {row(c00, c01, c02), row(c01, c11, c12), row(c02, c12, c22)};
}

// The per-pixel linear model q = Σ_k a_k I_k + b of guide g and input p as {a_0 .. a_{K-1}, b}
// (N×C×H×W each).
std::vector<torch::Tensor> coefficients(const torch::Tensor& g, const torch::Tensor& p, int r,
                                        const torch::Tensor& reg) {
  const Model model = g.size(1) == 3 ? Model::Colour : Model::Gray;
  WindowStats s = window_stats(g, p, r, model);
  // a = cov / (σ² + eps) (He et al. Eq. 5) or the colour solve (Eq. 14)
  auto coef = model == Model::Colour ? solve_colour(s, reg)
                                     : std::vector<torch::Tensor>{s.cov[0] / (s.var[0] + reg)};
  // b = mean(p) − Σ_k a_k mean(I_k) (He et al. Eq. 6 / 15)
  const auto mean = [&s](std::size_t k) {
    return s.mean_guide.narrow(1, static_cast<std::int64_t>(k), 1);
  };
  auto b = torch::addcmul(s.mean_input, coef[0], mean(0), -1);
  for (std::size_t k = 1; k < coef.size(); ++k) b.addcmul_(coef[k], mean(k), -1);
  coef.push_back(b);
  return coef;
}

// q = Σ_k ā_k I_k + b̄ (He et al. Eq. 8 / 16) from the (already averaged) coefficients, which
// are consumed (b̄ becomes q).
torch::Tensor apply_model(std::vector<torch::Tensor> mean_coef, const torch::Tensor& g) {
  auto q = mean_coef.back();
  for (std::size_t k = 0; k + 1 < mean_coef.size(); ++k)
    q.addcmul_(mean_coef[k], g.narrow(1, static_cast<std::int64_t>(k), 1));
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
  const auto g = gray.to(torch::kFloat64);
  const auto mean = box_filter(g, 1);
  const auto var =
      box_filter(g * g, 1).addcmul_(mean, mean, -1).clamp_min_(0.0).add_(kEdgeWeightEpsilon);
  const auto gamma = var * var.reciprocal().mean({2, 3}, true);
  return gamma.reciprocal_().mul_(lambda).to(gray.scalar_type());
}

// ---- unsharp-mask guided filter ----------------------------------------------------------------

// `times` cascaded box filters of radius r.
torch::Tensor cascade(torch::Tensor x, int r, int times) {
  for (int i = 0; i < times; ++i) x = box_filter(x, r);
  return x;
}

}  // namespace

torch::Tensor guided_filter(const torch::Tensor& input, const torch::Tensor& guide, int radius,
                            double eps) {
  const std::string fn = "guided_filter";
  check_radius(fn, radius);
  check_positive(fn, "eps", eps);
  if (const auto f = fused_operands(fn, input, guide, radius))
    return f->restore(fused::guided(f->p, f->g, radius, eps, {}));
  const Operands o = prepare(input, guide);
  check_guide_channels(fn, o.guide);
  if (detail::guided_cpu_supports(o.input.x, o.guide))
    return o.input.restore(detail::guided_cpu(o.input.x, o.guide, radius, eps, std::nullopt));
  const auto coef = coefficients(o.guide, o.input.x, radius, constant_reg(eps, o.input.x));
  return o.input.restore(apply_model(box_each(coef, radius), o.guide));
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
  const auto g = image::resize_by(o.guide, 1.0 / subsample, down);
  const auto p = image::resize_by(o.input.x, 1.0 / subsample, down);
  const int r = radius == 0 ? 0 : std::max(1, radius / subsample);
  const auto mean_coef = box_each(coefficients(g, p, r, constant_reg(eps, p)), r);
  // Bilinear, half-pixel aligned: equal to image::resize(Bilinear, no antialias), which
  // resize.hpp guarantees, and ~1.7× faster for this upsampling on CPU.
  const auto up = F::InterpolateFuncOptions()
                      .size(std::vector<std::int64_t>{o.guide.size(2), o.guide.size(3)})
                      .mode(torch::kBilinear)
                      .align_corners(false);
  std::vector<torch::Tensor> full;
  for (const auto& m : mean_coef) full.push_back(F::interpolate(m, up));
  return o.input.restore(apply_model(std::move(full), o.guide));
}

torch::Tensor weighted_guided_filter(const torch::Tensor& input, const torch::Tensor& guide,
                                     int radius, double lambda) {
  const std::string fn = "weighted_guided_filter";
  check_radius(fn, radius);
  check_positive(fn, "lambda", lambda);
  // Li et al. define Γ for a gray guide; a colour guide uses Γ of its channel mean.
  const auto edge_reg = [lambda](const torch::Tensor& g) {
    return weighted_reg(lambda, g.size(1) == 1 ? g : g.mean(1, true));
  };
  if (const auto f = fused_operands(fn, input, guide, radius))
    return f->restore(
        fused::guided(f->p, f->g, radius, lambda, edge_reg(f->g.to(torch::kFloat32))));
  const Operands o = prepare(input, guide);
  check_guide_channels(fn, o.guide);
  const auto reg = edge_reg(o.guide);
  if (detail::guided_cpu_supports(o.input.x, o.guide))
    return o.input.restore(detail::guided_cpu(o.input.x, o.guide, radius, lambda, reg));
  const auto coef = coefficients(o.guide, o.input.x, radius, reg);
  return o.input.restore(apply_model(box_each(coef, radius), o.guide));
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
  const WindowStats s = window_stats(g, p, radius, Model::Gray);
  const auto reg = options.amount == AmountFunction::Guided ? constant_reg(eps_or_lambda, p)
                                                            : weighted_reg(eps_or_lambda, g);
  // Amount a = cov / (σ² + eps) (thesis Eq. 3.3, or the WGF's λ/Γ in place of eps), ā = box(a).
  const auto a = s.cov[0] / (s.var[0] + reg);
  const auto amount = options.smooth_amount ? box_filter(a, radius) : a;
  // F_L = lowpass_boxes cascaded boxes; the first one is the window mean of the statistics.
  const int more = options.lowpass_boxes - 1;
  const auto low_guide = cascade(s.mean_guide, radius, more);
  const auto low_input = cascade(s.mean_input, radius, more);
  // q = ā ⊙ (G − F_L(G)) + F_L(I) (thesis Eq. 3.15; no b term, as umgf_guidedfilter.m).
  return o.input.restore(((g - low_guide) * amount).add_(low_input));
}

}  // namespace strata::filter
