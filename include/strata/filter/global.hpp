// Global/iterative structure-preserving smoothers: L0 gradient minimisation (Xu et al. 2011),
// relative total variation (Xu et al. 2012) and mutually guided image filtering (Guo et al. 2018).
// All run on CPU and CUDA with FFT or preconditioned-conjugate-gradient solvers.
#pragma once

#include <torch/types.h>

namespace strata::filter {

struct L0Options {
  double lambda = 0.02;  ///< λ (> 0), weight of the gradient count: larger keeps fewer edges
  double kappa = 2.0;    ///< κ (> 1), β multiplier per iteration
  double beta_max = 1e5;  ///< iterate while β < beta_max, β starting at 2λ (22 iterations default)
};
/// L0 gradient minimisation (Xu et al. 2011) with the half-quadratic FFT solver of the authors'
/// code and cv::ximgproc::l0Smooth: same β schedule and stopping rule, colour gradients
/// thresholded on Σ_c (h² + v²). Boundaries are periodic throughout (psf2otf of [1,-1]), as the
/// authors' code. OpenCV differs only there (its h, v use replicated borders while its solve is
/// periodic): the two agree to ~1e-5 (isolated threshold flips aside) on images with a wide
/// constant frame; otherwise OpenCV bleeds mismatched opposite borders into each other. float64
/// inputs are solved in float64 (OpenCV always uses float32). Any channel count; CPU and CUDA.
torch::Tensor l0_smooth(const torch::Tensor& x, const L0Options& options = {});

/// Defaults are those of the authors' tsmooth.m, which documents λ ∈ (0, 0.05] and σ ∈ (0, 6].
struct RtvOptions {
  double lambda = 0.01;     ///< λ, smoothing weight (the solve uses λ/2, as tsmooth.m)
  double sigma = 3.0;       ///< σ, Gaussian window (texture scale, pixels); halved per iteration
  double epsilon_s = 0.02;  ///< ε_s, sharpness: floor of the gradient magnitude in the weights
  int iterations = 4;       ///< reweighting iterations (≥ 1)
};
/// Relative total variation (Xu, Yan, Xia, Jia, SIGGRAPH Asia 2012) as in the authors'
/// tsmooth.m: each iteration recomputes the edge weights from the current estimate (windowed
/// inherent variation with a Gaussian of σ, shared by all channels) and solves the sparse 5-point
/// system (I + λ/2 · L_w) S = I by Jacobi-preconditioned conjugate gradients (Neumann borders).
/// Removes texture finer than σ while keeping large-scale structure edges.
torch::Tensor relative_total_variation(const torch::Tensor& x, const RtvOptions& options = {});

/// Defaults follow the authors' muGIF.m (ε_t = ε_r = 0.01) and demo scripts (10 iterations); α_t
/// is application dependent (published demo scripts use 0.001–0.06).
struct MugifOptions {
  double alpha_target = 0.01;    ///< α_t, smoothing weight of the target (≥ 0)
  double alpha_reference = 0.0;  ///< α_r (0: static reference, never updated; > 0: mutual mode)
  double epsilon = 0.01;         ///< ε, floor of |∇| in the relative-structure weights (> 0)
  int iterations = 10;           ///< reweighting iterations (≥ 1)
};
/// Mutually guided image filtering (Guo, Li, Ma, Ling, TPAMI 2018) as in the authors' muGIF.m.
/// Each iteration solves (I + α Σ_d D_dᵀ W_d D_d) T = T₀ with W_d = 1/(max(|∇_d T|, ε) ·
/// max(|∇_d R|, ε)) (gradient magnitudes: max over channels), by Jacobi-preconditioned conjugate
/// gradients. alpha_reference = 0: static/dynamic mode, R = reference throughout. alpha_reference
/// > 0: dynamic/dynamic mode, R is filtered alongside T with α_r (only T is returned). Passing the
/// same tensor as target and reference with alpha_reference == alpha_target gives the paper's
/// self-guided (dynamic-only) smoother, W_d = 1/max(|∇_d T|, ε)², at the cost of one solve per
/// iteration. The reference may have a different channel count.
torch::Tensor mutually_guided_filter(const torch::Tensor& target, const torch::Tensor& reference,
                                     const MugifOptions& options = {});

}  // namespace strata::filter
