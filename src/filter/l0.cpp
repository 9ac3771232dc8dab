// L0 gradient minimisation (Xu et al. 2011, "Image Smoothing via L0 Gradient Minimization") by
// half-quadratic splitting: β grows from 2λ by κ per iteration while β < β_max; each iteration
// hard-thresholds the gradients and solves the quadratic S-subproblem with real FFTs. Gradients are
// periodic forward differences, as the authors' MATLAB code (psf2otf of [1,-1]).
#include <torch/torch.h>

#include <cmath>
#include <cstdint>

#include "strata/core/error.hpp"
#include "strata/filter/common.hpp"
#include "strata/filter/global.hpp"

namespace strata::filter {
namespace {

constexpr double kPi = 3.14159265358979323846;

/// out = a − b into a view `out` (at::sub_out wants an lvalue).
void sub_into(torch::Tensor out, const torch::Tensor& a, const torch::Tensor& b) {
  at::sub_out(out, a, b);
}

/// out = roll(a, -1, dim) − a: the periodic forward difference ∂.
void forward_diff(const torch::Tensor& a, std::int64_t dim, torch::Tensor& out) {
  const std::int64_t n = a.size(dim);
  sub_into(out.narrow(dim, 0, n - 1), a.narrow(dim, 1, n - 1), a.narrow(dim, 0, n - 1));
  sub_into(out.narrow(dim, n - 1, 1), a.narrow(dim, 0, 1), a.narrow(dim, n - 1, 1));
}

/// out = roll(a, +1, dim) − a: the adjoint ∂ᵀ of forward_diff.
void adjoint_diff(const torch::Tensor& a, std::int64_t dim, torch::Tensor& out) {
  const std::int64_t n = a.size(dim);
  sub_into(out.narrow(dim, 1, n - 1), a.narrow(dim, 0, n - 1), a.narrow(dim, 1, n - 1));
  sub_into(out.narrow(dim, 0, 1), a.narrow(dim, n - 1, 1), a.narrow(dim, 0, 1));
}

/// |F(∂x)|² + |F(∂y)|² on the rfft2 grid H×(W/2+1): 4 sin²(πu/H) + 4 sin²(πv/W).
torch::Tensor gradient_energy(std::int64_t h, std::int64_t w, const torch::TensorOptions& options) {
  const auto axis = [](std::int64_t n, std::int64_t count) {
    return torch::sin(torch::arange(count, torch::kFloat64).mul_(kPi / static_cast<double>(n)))
        .square_()
        .mul_(4.0);
  };
  const std::int64_t half = w / 2 + 1;
  return (axis(h, h).view({h, 1}) + axis(w, half).view({1, half})).to(options);
}

/// The solver's state; buffers are allocated once and reused by every iteration.
struct L0State {
  torch::Tensor s;          ///< current estimate S, N×C×H×W
  torch::Tensor fi;         ///< F(I) as real pairs (view_as_real of the input's rfft2)
  torch::Tensor energy;     ///< |F∂x|² + |F∂y|², H×(W/2+1)
  torch::Tensor inv_denom;  ///< 1 / (1 + β·energy), H×(W/2+1)×1
  torch::Tensor h, v, tmp;  ///< N×C×H×W scratch
  torch::Tensor keep;       ///< N×1×H×W scratch: 1 where the gradient survives
};

/// (h,v)-subproblem: h = ∂x S, v = ∂y S, both zeroed where Σ_c (h² + v²) < λ/β (Xu et al. 2011,
/// Eq. 12; colour gradients summed over channels as the paper and OpenCV).
void threshold_gradients(L0State& st, double threshold) {
  forward_diff(st.s, 3, st.h);
  forward_diff(st.s, 2, st.v);
  at::mul_out(st.tmp, st.h, st.h).addcmul_(st.v, st.v);
  const torch::Tensor mag = st.tmp.size(1) == 1 ? st.tmp : st.tmp.sum(1, /*keepdim=*/true);
  at::ge_out(st.keep, mag, threshold);
  st.h.mul_(st.keep);
  st.v.mul_(st.keep);
}

/// S-subproblem: S = F⁻¹[(F(I) + β F(∂xᵀh + ∂yᵀv)) / (1 + β(|F∂x|² + |F∂y|²))] (Xu et al. 2011,
/// Eq. 8); F(∂ᵀh) = conj(F∂)·F(h).
void solve_s(L0State& st, double beta) {
  adjoint_diff(st.h, 3, st.tmp);
  adjoint_diff(st.v, 2, st.h);  // h is not needed any more
  st.tmp.add_(st.h);
  st.inv_denom.copy_(st.energy.unsqueeze(-1)).mul_(beta).add_(1.0).reciprocal_();
  torch::Tensor f = torch::fft::rfft2(st.tmp);
  torch::Tensor fr = torch::view_as_real(f);
  at::add_out(fr, st.fi, fr, beta).mul_(st.inv_denom);
  st.s = torch::fft::irfft2(f, torch::IntArrayRef{st.s.size(2), st.s.size(3)});
}

void check_options(const L0Options& o) {
  check(std::isfinite(o.lambda) && o.lambda > 0, "", "lambda must be positive and finite");
  check(std::isfinite(o.kappa) && o.kappa > 1, "", "kappa must be finite and > 1");
  check(std::isfinite(o.beta_max) && o.beta_max > 0, "", "beta_max must be positive and finite");
}

}  // namespace

torch::Tensor l0_smooth(const torch::Tensor& x, const L0Options& options) {
  check_options(options);
  const Batched b = as_batched(x, "input");
  L0State st;
  st.s = b.x.clone();  // never alias the caller's tensor, even with no iteration
  st.fi = torch::view_as_real(torch::fft::rfft2(b.x));
  st.energy = gradient_energy(b.x.size(2), b.x.size(3), b.x.options());
  st.inv_denom = torch::empty_like(st.energy).unsqueeze(-1);
  st.h = torch::empty_like(b.x);
  st.v = torch::empty_like(b.x);
  st.tmp = torch::empty_like(b.x);
  st.keep = torch::empty({b.x.size(0), 1, b.x.size(2), b.x.size(3)}, b.x.options());
  for (double beta = 2 * options.lambda; beta < options.beta_max; beta *= options.kappa) {
    threshold_gradients(st, options.lambda / beta);
    solve_s(st, beta);
  }
  return b.restore(st.s);
}

}  // namespace strata::filter
