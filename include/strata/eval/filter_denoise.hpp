// Denoising benchmark of the guided-filter family (thesis Table 6, denoising column): additive
// Gaussian noise N(0, (σ/255)²) on [0,1] images (noisy input not clipped), each filter applied
// per channel with the noisy channel as its own guide, PSNR averaged over images, and the filter's
// (radius, ε/λ) chosen by grid search to maximise the mean PSNR at each σ, as the thesis did.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "strata/filter/guided.hpp"

namespace strata::eval {

/// The methods of thesis Table 6.
enum class DenoiseMethod { Guided, UmgfGuided, WeightedGuided, UmgfWeighted };

const char* method_name(DenoiseMethod m);  ///< "GF", "Ours+GF", "WGF", "Ours+WGF"
DenoiseMethod parse_denoise_method(const std::string& name);  ///< gf, umgf-gf, wgf, umgf-wgf

struct FilterDenoiseConfig {
  std::vector<double> sigmas = {15, 25, 50};  ///< noise σ on the 0–255 scale
  std::vector<DenoiseMethod> methods = {DenoiseMethod::Guided, DenoiseMethod::UmgfGuided,
                                        DenoiseMethod::WeightedGuided, DenoiseMethod::UmgfWeighted};
  std::vector<int> radii = {1, 2, 3, 4, 5, 6, 8, 10, 12, 16};
  /// ε (GF) or λ (WGF) grid as standard deviations s: the value used is s².
  std::vector<double> eps_sqrt = {0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15,
                                  0.2,  0.25, 0.3,  0.4,  0.5, 0.7,  1.0};
  std::uint64_t seed = 0;   ///< noise of image i uses seed + i
  bool clip_output = true;  ///< clamp filtered images to [0,1] before scoring
  int batch = 16;           ///< images filtered at once
  /// Further grid dimensions of the UMGF methods: F_L as this many cascaded boxes, and ā as the
  /// box mean of a (true) or a itself (false). The thesis does not state its choice; the authors'
  /// MATLAB uses 2 boxes and the box mean.
  std::vector<int> umgf_lowpass_boxes = {2};
  std::vector<bool> umgf_smooth_amount = {true};
};

struct GridResult {
  int radius;
  double eps;
  double psnr;
  filter::UmgfOptions umgf;  ///< the UMGF variant (UMGF methods only)
};

struct FilterDenoiseRow {
  double sigma;
  double input_psnr;  ///< noisy input, unclipped
  std::vector<DenoiseMethod> methods;
  std::vector<GridResult> best;  ///< per method: the best grid point
};

/// Runs the benchmark on the given image files (read as RGB) on `device`.
/// `progress` (may be empty) is called with a line of text after each (σ, method).
std::vector<FilterDenoiseRow> run_filter_denoise(
    const std::vector<std::string>& image_paths, const FilterDenoiseConfig& config,
    torch::Device device, const std::function<void(const std::string&)>& progress = {});

}  // namespace strata::eval
