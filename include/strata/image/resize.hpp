// Image resampling on float tensors (C×H×W or N×C×H×W, any C, CPU or CUDA).
//
// Semantics (the same for every method):
// - Pixel centres are aligned ("half-pixel"): output pixel j samples the input at
//   x = (j + 0.5) / scale - 0.5, with scale = out_size / in_size per axis.
// - Borders are extended symmetrically (x[-1] = x[0], x[-2] = x[1]), as MATLAB imresize does.
// - When downscaling with antialias on, the kernel is widened by 1/scale (MATLAB imresize and
//   PIL behaviour), so the result is low-pass filtered; Nearest never antialiases.
// - Kernels: Nearest (the source pixel whose cell contains the output centre), Bilinear (triangle),
//   Bicubic (Keys cubic with a = -0.5, as MATLAB), Lanczos3 (sinc windowed by sinc, support 3).
//   Weights of each output pixel are normalised to sum to 1.
// - Separable: rows and columns are resampled independently; the result keeps the input dtype.
// With antialias off, Bilinear equals torch::nn::functional::interpolate(bilinear,
// align_corners=false) exactly.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace strata::image {

enum class Interpolation { Nearest, Bilinear, Bicubic, Lanczos3 };

struct ResizeOptions {
  Interpolation method = Interpolation::Bicubic;
  bool antialias = true;
};

/// Resizes the last two dims to out_height × out_width. Throws strata::Error on sizes < 1.
torch::Tensor resize(const torch::Tensor& image, std::int64_t out_height, std::int64_t out_width,
                     const ResizeOptions& options = {});

/// Resizes by a factor; the output size is ceil(in_size × scale) per axis (MATLAB imresize).
torch::Tensor resize_by(const torch::Tensor& image, double scale, const ResizeOptions& options = {});

/// Parses "nearest", "bilinear", "bicubic" or "lanczos3"; throws strata::Error otherwise.
Interpolation parse_interpolation(const std::string& name);

}  // namespace strata::image
