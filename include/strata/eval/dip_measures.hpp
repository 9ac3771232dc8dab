// The measures of the thesis's deep-image-prior chapter (ch. 2): frequency-band correspondence
// (Eq. 2.1), the blur (Crété-Roffet et al. 2007) and sharpness (MLV, Bahrami & Kot 2014) of an
// image, and the automatic stopping rule built on their ratio (Eq. 2.8).
#pragma once

#include <torch/types.h>

#include <cstddef>
#include <vector>

namespace strata::eval {

/// Gray version of a C×H×W image in [0,1]: 0.2989 R + 0.5870 G + 0.1140 B clipped to [0,1]
/// (1-channel input: itself). Returns H×W, float64 (float32 for CUDA images).
torch::Tensor dip_gray(const torch::Tensor& image);

/// Frequency-band correspondence (Eq. 2.1): H = clip(|FFT(out)| / (|FFT(target)| + 1e-8), 0, 1)
/// on the gray images, averaged in `bands` annuli of radii floor(W/2)·k/bands around the centre
/// of the shifted spectrum (corners beyond radius W/2 ignored). Low band first.
std::vector<double> frequency_band_correspondence(const torch::Tensor& output,
                                                  const torch::Tensor& target, int bands = 5);

/// Blur effect (Crété-Roffet et al. 2007) in [0, 1], higher = blurrier: the share of the
/// image's neighbour differences that a 9-tap box blur does not remove, the larger of the
/// horizontal and vertical values (4-pixel border and 1-pixel difference border excluded).
double blur_effect(const torch::Tensor& image);

/// Maximum-local-variation sharpness (Bahrami & Kot 2014): the MLV map (largest absolute
/// difference to the 8 neighbours, interior pixels), its 1000 largest values sorted in
/// descending order and weighted by exp(−0.01·rank), then their root mean square.
double mlv_sharpness(const torch::Tensor& image);

/// The stopping ratio of Eq. 2.8, blur_effect / max(mlv_sharpness, 1e-12), as a 0-dim float64
/// tensor on the image's device (no host synchronisation). On CUDA images of at least 12×12 the
/// three measures come from strata's kernels where built (float32 arithmetic, deterministic:
/// one pass over the pixels, a radix sort of the MLV values, one block for the sums); elsewhere
/// from LibTorch ops (float64 on the CPU).
torch::Tensor stop_ratio(const torch::Tensor& image);

/// Eq. 2.8: feed ratio_i = blur_i / sharpness_i every iteration; stop() turns true once
/// |mean(previous n) − mean(last n)| < epsilon over two consecutive windows of n values.
class AutoStop {
 public:
  explicit AutoStop(std::size_t window = 100, double epsilon = 0.01);
  /// Records one ratio; returns whether to stop now.
  bool push(double ratio);
  bool stop() const { return stop_; }
  const std::vector<double>& ratios() const { return ratios_; }

 private:
  std::size_t window_;
  double epsilon_;
  std::vector<double> ratios_;
  bool stop_ = false;
};

}  // namespace strata::eval
