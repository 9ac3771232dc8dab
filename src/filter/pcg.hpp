// Internal: matrix-free preconditioned conjugate gradients for the weighted 5-point systems of the
// global smoothers (relative total variation, muGIF, WLS-type filters).
//
// The system, for every image n and channel c of an N×C×H×W right-hand side b:
//
//   (I + Dxᵀ diag(wx) Dx + Dyᵀ diag(wy) Dy) x = b
//
// with forward differences (Dx x)[i,j] = x[i,j+1] − x[i,j] on the H×(W−1) horizontal edges and
// (Dy x)[i,j] = x[i+1,j] − x[i,j] on the (H−1)×W vertical edges. No edge crosses the image border
// (reflexive / Neumann boundary: no flux), exactly the matrix built with spdiags in the authors'
// MATLAB codes (tsmooth.m, muGIF.m) where the last column of wx and last row of wy are zeroed.
// Weights must be ≥ 0; they have 1 channel (shared by all channels of b) or C channels.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace strata::filter::detail {

/// Edge weights of the operator: wx is N×Cw×H×(W−1), wy is N×Cw×(H−1)×W, Cw ∈ {1, C}.
struct EdgeWeights {
  torch::Tensor wx;
  torch::Tensor wy;
};

struct PcgOptions {
  /// Stop an image-channel system when ‖b − A x‖₂ ≤ tolerance · ‖b‖₂. The default keeps the
  /// result within ~1e-4 (max abs) of a direct solve for images in [0,1] and the weights of RTV
  /// and muGIF at their default parameters (measured, see global_solvers.cpp).
  double tolerance = 1e-4;
  int max_iterations = 2000;
  /// Tensor path: convergence is tested (one device→host sync) every `check_every` iterations;
  /// ≤ 0 picks 4 on CPU and 16 on CUDA. The fused CPU path tests every iteration at no cost.
  int check_every = 0;
  /// On CPU, use the fused multithreaded loops (two sweeps per iteration) rather than the
  /// tensor-op path that CUDA runs; both compute the same iteration.
  bool fused_cpu = true;
};

/// What one solve did.
struct PcgStats {
  int iterations = 0;         ///< iterations run (the slowest system of the batch)
  double max_residual = 0.0;  ///< largest relative residual ‖b − A x‖/‖b‖ at exit
  bool converged = false;     ///< every system reached the tolerance
};

/// Totals over all solves run on the calling thread since the last reset (benchmarks, tests).
struct PcgTotals {
  std::int64_t solves = 0;
  std::int64_t iterations = 0;
  int max_iterations = 0;  ///< the longest single solve
};
PcgTotals& pcg_totals();

/// (I + Σ_d D_dᵀ diag(w_d) D_d) x, matrix-free. x is N×C×H×W.
torch::Tensor apply_operator(const torch::Tensor& x, const EdgeWeights& w);

/// The diagonal of the operator, 1 + the weights of the (up to four) edges at each pixel:
/// N×Cw×H×W.
torch::Tensor operator_diagonal(const EdgeWeights& w, std::int64_t height, std::int64_t width);

/// Solves the system for every (n, c) of b (N×C×H×W, float32 or float64, CPU or CUDA) with
/// Jacobi-preconditioned CG, each system stopping on its own residual (and no longer updated).
/// Starts from x0 when given (same shape as b), else from b. Weights must match b's dtype and
/// device. Every solve is also added to pcg_totals().
torch::Tensor solve(const torch::Tensor& b, const EdgeWeights& w, const PcgOptions& options = {},
                    PcgStats* stats = nullptr, const torch::Tensor& x0 = {});

}  // namespace strata::filter::detail
