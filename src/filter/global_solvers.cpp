// Relative total variation and mutually guided image filtering, both iteratively reweighted least
// squares: every outer iteration builds edge weights from the current estimate and solves
//
//   (I + Dxᵀ diag(wx) Dx + Dyᵀ diag(wy) Dy) S = I₀                                     (1)
//
// with the matrix-free Jacobi-PCG of pcg.hpp (forward differences on the H×(W−1) horizontal and
// (H−1)×W vertical edges, no flux across the border: the spdiags matrix of the authors' codes).
// Gradients below: ∂x S(i,j) = S(i,j+1) − S(i,j), ∂y S(i,j) = S(i+1,j) − S(i,j), on edges.
//
// Relative total variation — L. Xu, Q. Yan, Y. Xia, J. Jia, "Structure Extraction from Texture via
// Relative Total Variation", SIGGRAPH Asia 2012, following the authors' tsmooth.m:
//   for k = 1..iterations, with S₀ = I₀ and σ₁ = σ:
//     w̃(p)   = 1 / max( mean_c sqrt(∂x S_c(p)² + ∂y S_c(p)²), ε_s )   (∂ taken as 0 past the
//              last column/row, as tsmooth's padarray 'post')
//     Lx(e)  = mean_c | (G_σk ⊛ ∂x S_c)(e) |,  Ly likewise                 (windowed inherent
//              variation, channel-averaged: all channels share the weights)
//     wx(e)  = (λ/2) · w̃(p_e) / max(Lx(e), 0.001),  wy likewise, p_e the edge's first pixel
//     S_k    = solution of (1);  σ_{k+1} = max(σ_k / 2, 0.5)
//   G_σ is tsmooth's separable kernel: size round(5σ) | 1 taps, exp(−t²/2σ²), normalised. It is
//   applied to the gradient field with zero padding outside the image, i.e. the window of the
//   paper's L(p) clipped to the image. In the interior this equals tsmooth's diff(G ⊛ S); at the
//   border it avoids the spurious gradient that zero-padding S itself (conv2 'same') creates.
//   The λ/2 is tsmooth's (its energy's data term is Σ(S − I)², the quadratic form counts λ twice).
//
// Mutually guided image filtering (muGIF) — X. Guo, Y. Li, J. Ma, H. Ling, "Mutually Guided
// Image Filtering", TPAMI 2018 (the authors' muGIF.m):
//   relative-structure weights of an image X:  ωx(X)(e) = 1 / max( max_c |∂x X_c(e)|, ε ), ωy alike
//   static reference (α_r = 0; the paper's static/dynamic mode), T₀ target, R₀ reference:
//     T ← solution of (1) with I₀ = T₀,  w_d = α_t · ω_d(T) · ω_d(R₀)
//   mutual (α_r > 0; dynamic/dynamic): with W_d = ω_d(T) · ω_d(R) from the current T and R,
//     T ← solve (1) with I₀ = T₀, w = α_t W;   R ← solve (1) with I₀ = R₀, w = α_r W
//   self-guided (reference is the target tensor and α_r = α_t; the paper's dynamic-only mode):
//     R stays equal to T, so one solve with w_d = α_t · ω_d(T)² per iteration gives the same
//     result.
//
// Solver settings. PCG tolerance: relative residual 1e-4 (the pcg.hpp default), chosen from
// measurement: on weights like these filters' at their defaults (BSDS500 100007, RTV-like
// weights up to 250, muGIF-like up to 100) float32 PCG at 1e-4 is within 3e-5 (96×96 crop) and
// 6.5e-5 (whole 481×321 image) max abs of a float64 solve at 1e-11; max error ≈ 0.3–0.6 × tol
// (3e-4 gave up to 1.8e-4). Test: SolverPath.DefaultToleranceMatchesDirectSolveOnRealWeights.
// Warm start: the first solve of a filter starts from I₀ (= b), later ones from the previous
// estimate, which measured 23–56% fewer PCG iterations than restarting from b every time.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "pcg.hpp"
#include "strata/core/error.hpp"
#include "strata/filter/common.hpp"
#include "strata/filter/global.hpp"

namespace strata::filter {
namespace {

using detail::EdgeWeights;
using torch::Tensor;

constexpr double kRtvMinSigma = 0.5;   // tsmooth: σ halves each iteration down to 0.5
constexpr double kRtvLEpsilon = 1e-3;  // tsmooth: vareps, floor of the inherent variation

Tensor forward_diff(const Tensor& x, std::int64_t dim) {
  const auto n = x.size(dim) - 1;
  return x.narrow(dim, 1, n) - x.narrow(dim, 0, n);
}

// Zero-pads one sample at the end of dim 3 (dim = 3) or dim 2 (dim = 2).
Tensor pad_end(const Tensor& t, std::int64_t dim) {
  return torch::constant_pad_nd(
      t, dim == 3 ? std::vector<std::int64_t>{0, 1} : std::vector<std::int64_t>{0, 0, 0, 1});
}

// tsmooth.m's 1-D Gaussian: round(5σ) | 1 taps (MATLAB round: half away from zero), i.e. radius
// ⌊round(5σ)/2⌋, exp(−t²/2σ²), normalised. A radius beyond `max_radius` (the image extent) could
// not reach any sample and is cut there.
Tensor gaussian_taps(double sigma, std::int64_t max_radius, const torch::TensorOptions& options) {
  const double tsmooth_radius = std::floor(std::round(5.0 * sigma) / 2.0);
  const auto radius =
      static_cast<std::int64_t>(std::min(tsmooth_radius, static_cast<double>(max_radius)));
  if (radius == 0) return torch::ones({1}, options);
  const auto t = torch::arange(-radius, radius + 1, torch::kFloat64);
  const auto g = torch::exp(-t * t / (2.0 * sigma * sigma));
  return (g / g.sum()).to(options);
}

// Separable convolution of every channel with `taps`, zero outside the tensor.
Tensor blur_zero_padded(const Tensor& x, const Tensor& taps) {
  if (x.numel() == 0) return x;
  const auto k = taps.size(0);
  const auto r = k / 2;
  auto y = x.reshape({-1, 1, x.size(2), x.size(3)});
  const std::vector<std::int64_t> stride{1, 1};
  y = torch::conv2d(y, taps.view({1, 1, 1, k}), torch::Tensor(), stride,
                    std::vector<std::int64_t>{0, r});
  y = torch::conv2d(y, taps.view({1, 1, k, 1}), torch::Tensor(), stride,
                    std::vector<std::int64_t>{r, 0});
  return y.view(x.sizes());
}

// (λ/2)·w̃/max(L, 0.001) on the edges along `dim`, given the per-pixel w̃.
Tensor rtv_edge_weight(const Tensor& grad, const Tensor& w_tilde, const Tensor& taps,
                       std::int64_t dim, double scale) {
  const auto inherent = blur_zero_padded(grad, taps).abs_().mean(1, true).clamp_min_(kRtvLEpsilon);
  const auto first_pixel = w_tilde.narrow(dim, 0, w_tilde.size(dim) - 1);
  return first_pixel.mul(scale).div_(inherent);
}

EdgeWeights rtv_weights(const Tensor& s, double sigma, const RtvOptions& o) {
  const auto fx = forward_diff(s, 3);
  const auto fy = forward_diff(s, 2);
  const auto magnitude = (pad_end(fx, 3).square() + pad_end(fy, 2).square()).sqrt_();
  const auto w_tilde = magnitude.mean(1, true).clamp_min_(o.epsilon_s).reciprocal_();
  const auto taps = gaussian_taps(sigma, std::max(s.size(2), s.size(3)), s.options());
  const double scale = o.lambda / 2.0;
  return {rtv_edge_weight(fx, w_tilde, taps, 3, scale),
          rtv_edge_weight(fy, w_tilde, taps, 2, scale)};
}

// muGIF's ω_d(X) = 1 / max(max_c |∂_d X|, ε).
Tensor inverse_gradient(const Tensor& x, std::int64_t dim, double eps) {
  return forward_diff(x, dim).abs_().amax(1, true).clamp_min_(eps).reciprocal_();
}

EdgeWeights mugif_weights(const Tensor& x, double eps) {
  return {inverse_gradient(x, 3, eps), inverse_gradient(x, 2, eps)};
}

EdgeWeights scaled_product(const EdgeWeights& a, const EdgeWeights& b, double scale) {
  return {a.wx.mul(b.wx).mul_(scale), a.wy.mul(b.wy).mul_(scale)};
}

enum class MugifMode {
  Static,  ///< α_r = 0: R = R₀ throughout (static/dynamic)
  Mutual,  ///< α_r > 0: T and R filtered together (dynamic/dynamic)
  Self,    ///< reference is the target tensor and α_r = α_t: R ≡ T (dynamic only)
};

MugifMode mugif_mode(const Tensor& target, const Tensor& reference, const MugifOptions& o) {
  if (o.alpha_reference == 0.0) return MugifMode::Static;
  const bool self = reference.is_same(target) && o.alpha_reference == o.alpha_target;
  return self ? MugifMode::Self : MugifMode::Mutual;
}

bool non_negative(double v) { return std::isfinite(v) && v >= 0; }
bool positive(double v) { return std::isfinite(v) && v > 0; }

void check_option(bool ok, const std::string& filter, const std::string& what) {
  check(ok, "", filter + ": " + what);
}

void validate(const RtvOptions& o) {
  check_option(non_negative(o.lambda), "rtv", "lambda must be finite and >= 0");
  check_option(positive(o.sigma), "rtv", "sigma must be finite and > 0");
  check_option(positive(o.epsilon_s), "rtv", "epsilon_s (sharpness) must be finite and > 0");
  check_option(o.iterations >= 1, "rtv", "iterations must be >= 1");
}

void validate(const MugifOptions& o) {
  check_option(non_negative(o.alpha_target), "mugif", "alpha_target must be finite and >= 0");
  check_option(non_negative(o.alpha_reference), "mugif", "alpha_reference must be finite and >= 0");
  check_option(positive(o.epsilon), "mugif", "epsilon must be finite and > 0");
  check_option(o.iterations >= 1, "mugif", "iterations must be >= 1");
}

}  // namespace

Tensor relative_total_variation(const Tensor& x, const RtvOptions& options) {
  validate(options);
  const auto in = as_batched(x, "input");
  Tensor s = in.x;
  double sigma = options.sigma;
  for (int k = 0; k < options.iterations; ++k) {
    s = detail::solve(in.x, rtv_weights(s, sigma, options), {}, nullptr, s);
    sigma = std::max(sigma / 2.0, kRtvMinSigma);
  }
  return in.restore(s);
}

Tensor mutually_guided_filter(const Tensor& target, const Tensor& reference,
                              const MugifOptions& options) {
  validate(options);
  check_guide(target, reference);
  const auto t0 = as_batched(target, "target");
  const auto r0 = as_batched(reference, "reference").x.to(t0.x.scalar_type());
  const auto mode = mugif_mode(target, reference, options);
  const auto eps = options.epsilon;
  const auto static_weights = mode == MugifMode::Static ? mugif_weights(r0, eps) : EdgeWeights{};
  Tensor t = t0.x;
  Tensor r = r0;
  for (int k = 0; k < options.iterations; ++k) {
    const auto w_t = mugif_weights(t, eps);
    const auto w_r = mode == MugifMode::Static ? static_weights
                     : mode == MugifMode::Self ? w_t
                                               : mugif_weights(r, eps);
    if (mode == MugifMode::Mutual)
      r = detail::solve(r0, scaled_product(w_t, w_r, options.alpha_reference), {}, nullptr, r);
    t = detail::solve(t0.x, scaled_product(w_t, w_r, options.alpha_target), {}, nullptr, t);
  }
  return t0.restore(t);
}

}  // namespace strata::filter
