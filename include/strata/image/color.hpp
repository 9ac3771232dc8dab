// Colour conversions on float tensors. The channel axis is dim -3, so C×H×W and N×C×H×W both work,
// on any device. Values are in [0,1] (as produced by read_image).
#pragma once

#include <torch/types.h>

namespace strata::image {

/// Luma weights for RGB -> gray.
enum class LumaWeights {
  BT601,   ///< 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601; OpenCV, PIL)
  Matlab,  ///< 0.2989 R + 0.5870 G + 0.1140 B (MATLAB rgb2gray; used by the thesis code)
};

/// (…,3,H,W) -> (…,1,H,W).
torch::Tensor rgb_to_gray(const torch::Tensor& rgb, LumaWeights weights = LumaWeights::BT601);
/// (…,1,H,W) -> (…,3,H,W) by replication.
torch::Tensor gray_to_rgb(const torch::Tensor& gray);

/// YCbCr variants, both ITU-R BT.601.
enum class YCbCrRange {
  Studio,  ///< MATLAB rgb2ycbcr: Y in [16,235]/255, Cb/Cr in [16,240]/255 (SR/JPEG benchmarks)
  Full,    ///< JFIF (JPEG files): Y, Cb, Cr in [0,1], chroma centred on 128/255
};

/// (…,3,H,W) RGB in [0,1] -> (…,3,H,W) Y, Cb, Cr scaled to [0,1] (i.e. the 8-bit value / 255).
torch::Tensor rgb_to_ycbcr(const torch::Tensor& rgb, YCbCrRange range = YCbCrRange::Studio);
/// Exact inverse of rgb_to_ycbcr (no clamping).
torch::Tensor ycbcr_to_rgb(const torch::Tensor& ycbcr, YCbCrRange range = YCbCrRange::Studio);

}  // namespace strata::image
