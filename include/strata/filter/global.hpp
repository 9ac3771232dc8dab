// Global/iterative structure-preserving smoothers: L0 gradient minimisation (Xu et al. 2011),
// relative total variation (Xu et al. 2012) and mutually guided image filtering (Guo et al. 2018).
// All run on CPU and CUDA with FFT or preconditioned-conjugate-gradient solvers.
#pragma once

#include <torch/types.h>

namespace strata::filter {

struct L0Options {
  double lambda = 0.02;
  double kappa = 2.0;      ///< β multiplier per iteration
  double beta_max = 1e5;   ///< stop when β exceeds this
};
/// L0 gradient minimisation with the half-quadratic FFT solver (periodic boundaries, as the
/// authors' and OpenCV's implementations).
torch::Tensor l0_smooth(const torch::Tensor& x, const L0Options& options = {});

struct RtvOptions {
  double lambda = 0.01;
  double sigma = 3.0;       ///< texture scale (Gaussian window)
  double epsilon_s = 0.02;  ///< sharpness
  int iterations = 4;
};
/// Relative total variation (Xu et al. 2012), each iteration a sparse 5-point linear system
/// solved by preconditioned conjugate gradients.
torch::Tensor relative_total_variation(const torch::Tensor& x, const RtvOptions& options = {});

struct MugifOptions {
  double alpha_target = 0.01;     ///< α_t
  double alpha_reference = 0.0;   ///< α_r (0: static reference, i.e. the reference is not updated)
  double epsilon = 1e-4;          ///< ε in the relative-structure weights
  int iterations = 10;
};
/// Mutually guided image filtering (Guo et al. 2018). With reference == target it is a
/// self-guided structure-preserving smoother.
torch::Tensor mutually_guided_filter(const torch::Tensor& target, const torch::Tensor& reference,
                                     const MugifOptions& options = {});

}  // namespace strata::filter
