// Image resampling on float tensors (C×H×W or N×C×H×W, any C, CPU or CUDA; H×W is accepted too
// and any leading dims are treated as batch).
//
// Semantics (the same for every method):
// - Pixel centres are aligned ("half-pixel"): output pixel j samples the input at
//   x = (j + 0.5) / scale - 0.5, with scale = out_size / in_size per axis.
// - Borders are extended symmetrically (x[-1] = x[0], x[-2] = x[1]), as MATLAB imresize does.
// - When downscaling with antialias on, the kernel is widened by 1/scale (MATLAB imresize and
//   PIL behaviour), so the result is low-pass filtered; Nearest never antialiases.
// - Kernels: Nearest (the source pixel whose cell contains the output centre, i.e. input
//   floor((j + 0.5) / scale), clamped), Bilinear (triangle), Bicubic (Keys cubic with a = -0.5,
//   as MATLAB), Lanczos3 (sinc windowed by sinc, support 3).
//   Weights of each output pixel are computed in double precision (taps that fold onto the same
//   pixel are merged) and normalised to sum to 1.
// - Separable: rows and columns are resampled independently; the result keeps the input dtype
//   (float16/bfloat16 are computed in float32, float32 and float64 in their own precision).
//   An axis whose size does not change is left untouched; the identity size returns a copy.
// With antialias off, Bilinear equals torch::nn::functional::interpolate(bilinear,
// align_corners=false) up to float rounding.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

namespace strata::image {

enum class Interpolation { Nearest, Bilinear, Bicubic, Lanczos3 };

struct ResizeOptions {
  Interpolation method = Interpolation::Bicubic;
  bool antialias = true;
};

/// Resizes the last two dims to out_height × out_width. Throws strata::Error on sizes < 1, an empty
/// input, fewer than 2 dims or a non-floating-point dtype.
torch::Tensor resize(const torch::Tensor& image, std::int64_t out_height, std::int64_t out_width,
                     const ResizeOptions& options = {});

/// Resizes by a factor; the output size is ceil(in_size × scale) per axis (MATLAB imresize), with a
/// relative tolerance of 1e-12 against floating-point error (300 × (1/3) gives 100) and at least 1.
/// The resampling then uses scale = out_size / in_size like resize(); MATLAB keeps the given scale,
/// which differs only when in_size × scale is not an integer. Throws strata::Error unless
/// 0 < scale < inf.
torch::Tensor resize_by(const torch::Tensor& image, double scale,
                        const ResizeOptions& options = {});

/// Parses "nearest", "bilinear", "bicubic" or "lanczos3"; throws strata::Error otherwise.
Interpolation parse_interpolation(const std::string& name);

}  // namespace strata::image
