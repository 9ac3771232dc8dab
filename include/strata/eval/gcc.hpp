// HIPe paper Table 1: the gradient correlation coefficient GCC between peeled detail and filtered
// result, for HIPe and classical filters tuned to the same smoothing degree (docs/hipe.md).
#pragma once

#include <torch/types.h>

#include <functional>
#include <string>
#include <vector>

#include "strata/models/hipe.hpp"

namespace strata::eval {

/// GCC(P, I) = mean(|∇P ∘ ∇I|) over pixels and channels (paper §3.1), with P the peeled detail,
/// I the filtered result and ∇ = filter::gradient_l1. Lower is better.
double gradient_correlation(const torch::Tensor& detail, const torch::Tensor& filtered);

/// The share of the input's gradient energy a filter removed: 1 − Σ∇(filtered) / Σ∇(input).
double smoothing_degree(const torch::Tensor& input, const torch::Tensor& filtered);

/// A classical filter (strata filter name) and the parameter tuned to reach a smoothing degree,
/// searched by bisection on a log scale in [low, high] (smoothing must grow with it).
struct GccMethod {
  std::string filter, parameter;
  double low, high;
};

/// L0 (lambda), RTV (lambda), RGF (sigma-s), muGIF (alpha-t), guided filter (eps, r = 8).
std::vector<GccMethod> default_gcc_methods();

struct GccConfig {
  int level = 2;         ///< the HIPe level (1-based) whose smoothing degree the filters match
  int tune_images = 10;  ///< the first images, used to tune each filter's parameter
  int tune_steps = 12;   ///< bisection steps
  std::vector<GccMethod> methods = default_gcc_methods();
};

struct GccRow {
  std::string method;
  std::string parameter;   ///< "lambda=0.0123" (empty for HIPe)
  double smoothing = 0.0;  ///< mean over the images
  double gcc = 0.0;        ///< mean over the images
};

struct GccReport {
  int images = 0;
  double target_smoothing = 0.0;  ///< HIPe's, at config.level
  std::vector<GccRow> rows;       ///< HIPe first
};

/// Runs the comparison on image files (read as RGB) on `device`; `progress` (may be empty)
/// receives a line of text per method.
GccReport run_gcc(const std::vector<std::string>& image_paths, models::HipeGuider& guider,
                  models::HipePeeler& peeler, const GccConfig& config, torch::Device device,
                  const std::function<void(const std::string&)>& progress = {});

}  // namespace strata::eval
