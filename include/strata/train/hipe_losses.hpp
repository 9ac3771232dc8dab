// HIPe training losses, paper Eq. 2-5 made concrete with the reference code's constants
// (docs/hipe.md gives every formula).
#pragma once

#include <torch/types.h>

#include <vector>

namespace strata::train {

struct GuiderLossOptions {
  /// α_t of the target recursion (paper §2.3); levels beyond the list use the last value.
  std::vector<double> alpha = {0.4, 0.5, 0.8, 1.0};
  /// λ_t weighting missed gradient (1 − G_t)·T_t against false edges G_t·|1 − T_t|.
  std::vector<double> lambda = {20.0, 20.0, 15.0, 15.0};
  double weight = 1.5;  ///< λ^G_con
};

/// The guider's targets ∇Î^t_F (unsupervised, paper §2.3): ∇Î^1 = (1 − α_1)∇I + E,
/// ∇Î^t = (1 − α_t)∇Î^{t−1} + α_t ∇Î^{t−1} ∘ E; image N×3×H×W, edges E N×1×H×W in [0, 1].
std::vector<torch::Tensor> guider_targets(const torch::Tensor& image, const torch::Tensor& edges,
                                          int levels, const GuiderLossOptions& options = {});

/// λ^G_con · mean over N×3×H×W of Σ_t [λ_t (1 − G_t) T_t + G_t |1 − T_t|] (Eq. 2), G_t N×1×H×W.
torch::Tensor guider_loss(const std::vector<torch::Tensor>& maps,
                          const std::vector<torch::Tensor>& targets,
                          const GuiderLossOptions& options = {});

struct PeelerLossOptions {
  double preservation = 0.4;  ///< λ^P_pre
  double consistency = 4.0;   ///< λ^P_con
  double epsilon = 0.005;     ///< ε of Eq. 5
};

struct PeelerLoss {
  torch::Tensor total, reconstruction, preservation, consistency;
};

/// The peeler's loss for levels I^t against targets I^t_F (unsupervised: the input itself) under
/// guidance G^t (all N×3×H×W, G N×1×H×W):
///   rec = mean_t mean (I^t − I^t_F)²                                         (Eq. 3)
///   pre = mean_t mean (G^t ∘ (∇I^t − ∇I^t_F))²                               (Eq. 4)
///   con = Σ_t ‖∇I^t ⊘ (∇I^t_F ∘ G^t + ε)‖_F / (3·T·H·W)                      (Eq. 5, as coded)
///   total = rec + λ_pre·pre + λ_con·con.
PeelerLoss peeler_loss(const std::vector<torch::Tensor>& levels,
                       const std::vector<torch::Tensor>& targets,
                       const std::vector<torch::Tensor>& maps,
                       const PeelerLossOptions& options = {});

}  // namespace strata::train
