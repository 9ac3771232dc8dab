// Benchmarks of deep-image-prior restoration on data sets (thesis ch. 2, Tables 1-5): each clean
// image is degraded as the thesis does, restored by dip_restore and scored against the clean one.
//   denoise  x + N(0, (σ/255)²), clipped to [0,1] (reference-facts §3.3), RGB PSNR
//   deblock  gray (Y of YCbCr, as the thesis follows Dong et al.) JPEG-compressed at quality q
//            with libjpeg, PSNR on gray
//   inpaint  a centred hole of `hole_ratio` of the image area (same aspect ratio) set to 0
//   sr       Lanczos-3 (antialiased) downscale by `scale` of the image cropped to a multiple of
//            it; PSNR of the ×scale restoration against the crop
#pragma once

#include <torch/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "strata/train/dip_restore.hpp"

namespace strata::train {

struct DipBenchmarkOptions {
  RestoreOptions restore;           ///< task, network, iterations, device, seed (+ place, below)
  std::vector<std::string> images;  ///< clean images
  /// Place of images[0] in the whole set: image i is degraded and fitted with seed
  /// restore.seed + first_place + i, so a set split into parts gets the same noise as in one run.
  std::size_t first_place = 0;
  double sigma = 25.0;       ///< denoise: noise σ on the 0-255 scale
  int quality = 10;          ///< deblock: JPEG quality
  double hole_ratio = 0.25;  ///< inpaint: hole area / image area
  std::int64_t max_pixels = 1LL << 28;
};

struct DipBenchmarkRow {
  std::string id;             ///< image file stem
  double degraded_psnr = 0;   ///< of the degraded input (sr: its bicubic ×scale upsampling)
  double psnr = 0;            ///< of the restoration (where it stopped)
  double best_psnr = 0;       ///< highest PSNR seen over the iterations (an oracle stop)
  int best_iteration = 0;     ///< where best_psnr was seen
  int iterations = 0;         ///< run
  bool auto_stopped = false;  ///< stopped by Eq. 2.8 rather than the cap
  double seconds = 0;         ///< wall time of the restoration
  /// sr only, as the thesis's super-resolution tables (eval::luma_psnr, shave = scale): the
  /// restoration's and the bicubic upsampling's PSNR on Y; 0 for the other tasks.
  double luma_psnr = 0, degraded_luma_psnr = 0;
  double lambda = 0;                  ///< as RestoreResult
  std::optional<double> noise_sigma;  ///< as RestoreResult
};

/// The degraded observation and the reference the restoration is scored against (both C×H×W in
/// [0,1]) for one clean image; `seed` drives the noise.
struct DegradedImage {
  torch::Tensor observed, reference, mask;  ///< mask: inpainting only (1×H×W, 1 = known)
};
DegradedImage degrade_for_benchmark(const torch::Tensor& clean, const DipBenchmarkOptions& o,
                                    std::uint64_t seed);

/// Runs every image; `on_row` sees each row as it finishes.
std::vector<DipBenchmarkRow> dip_benchmark(
    const DipBenchmarkOptions& options,
    const std::function<void(const DipBenchmarkRow&)>& on_row = nullptr);

}  // namespace strata::train
