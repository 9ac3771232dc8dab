#include "strata/train/hipe_losses.hpp"

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "strata/core/error.hpp"
#include "strata/filter/gradient.hpp"

namespace strata::train {

namespace {

double level_value(const std::vector<double>& values, std::size_t t) {
  return values[std::min(t, values.size() - 1)];
}

void check_levels(std::size_t a, std::size_t b, const std::string& what) {
  check(a > 0 && a == b, "",
        what + ": got " + std::to_string(a) + " maps and " + std::to_string(b) + " targets");
}

}  // namespace

std::vector<torch::Tensor> guider_targets(const torch::Tensor& image, const torch::Tensor& edges,
                                          int levels, const GuiderLossOptions& options) {
  check(levels >= 1 && !options.alpha.empty(), "", "guider_targets: need levels and α values");
  std::vector<torch::Tensor> targets;
  const auto g = filter::gradient_l1(image);
  for (std::size_t t = 0; t < static_cast<std::size_t>(levels); ++t) {
    const double a = level_value(options.alpha, t);
    if (t == 0)
      targets.push_back(g * (1.0 - a) + edges);  // ∇Î^1 = (1 − α_1)∇I + E
    else  // ∇Î^t = (1 − α_t)∇Î^{t−1} + α_t ∇Î^{t−1} ∘ E
      targets.push_back(targets.back() * ((1.0 - a) + a * edges));
  }
  return targets;
}

torch::Tensor guider_loss(const std::vector<torch::Tensor>& maps,
                          const std::vector<torch::Tensor>& targets,
                          const GuiderLossOptions& options) {
  check_levels(maps.size(), targets.size(), "guider_loss");
  torch::Tensor sum;
  for (std::size_t t = 0; t < maps.size(); ++t) {
    const auto& g = maps[t];
    const auto& target = targets[t];
    // λ_t (1 − G_t) T_t + G_t |1 − T_t|  (Eq. 2 with β_g = 1/λ_t)
    const auto term =
        (1.0 - g) * target * level_value(options.lambda, t) + g * (1.0 - target).abs();
    sum = t == 0 ? term : sum + term;
  }
  return sum.mean() * options.weight;
}

PeelerLoss peeler_loss(const std::vector<torch::Tensor>& levels,
                       const std::vector<torch::Tensor>& targets,
                       const std::vector<torch::Tensor>& maps, const PeelerLossOptions& options) {
  check_levels(levels.size(), targets.size(), "peeler_loss");
  check_levels(levels.size(), maps.size(), "peeler_loss");
  const auto n = static_cast<double>(levels.size());
  PeelerLoss loss;
  for (std::size_t t = 0; t < levels.size(); ++t) {
    const auto grad = filter::gradient_l1(levels[t]);
    const auto grad_target = filter::gradient_l1(targets[t]);
    const auto& g = maps[t];
    const auto rec = (levels[t] - targets[t]).square().mean() / n;    // Eq. 3
    const auto pre = (g * (grad - grad_target)).square().mean() / n;  // Eq. 4
    const auto ratio = grad / (grad_target * g + options.epsilon);    // Eq. 5
    const double scale = 3.0 * n * static_cast<double>(levels[t].size(-2) * levels[t].size(-1));
    const auto con = (ratio.square().sum() + 1e-12).sqrt() / scale;  // finite gradient at 0
    loss.reconstruction = t == 0 ? rec : loss.reconstruction + rec;
    loss.preservation = t == 0 ? pre : loss.preservation + pre;
    loss.consistency = t == 0 ? con : loss.consistency + con;
  }
  loss.total = loss.reconstruction + loss.preservation * options.preservation +
               loss.consistency * options.consistency;
  return loss;
}

}  // namespace strata::train
