// Edge-map post-processing of the structured-edges toolbox (Dollár & Zitnick): the triangle blur
// convTri, the orientation estimate from smoothed second derivatives and non-maximum suppression.
#pragma once

#include <torch/types.h>

namespace strata::filter {

/// Separable triangle filter of radius r (kernel 1, 2, …, r+1, …, 2, 1, normalised) with
/// symmetric (edge-including reflect) padding; for 0 < r < 1 the 3-tap kernel [1 p 1]/(2+p),
/// p = 12/(r(r+2)) − 2 (convTri). Any ...×H×W float tensor.
torch::Tensor triangle_blur(const torch::Tensor& x, double r);

/// Edge orientation in [0, π) of an H×W edge map: O = atan(Oyy·sign(−Oxy) / (Oxx + 1e-5)) mod π
/// from central-difference derivatives of triangle_blur(E, 4) (edgesDetect's NMS set-up).
torch::Tensor edge_orientation(const torch::Tensor& edges);

/// Non-maximum suppression of an H×W edge map along orientation O: a pixel is zeroed when m times
/// its value is below the bilinearly interpolated value at distance 1..r across the edge; values
/// within `border` pixels of the image border are scaled down linearly (edgesNms: r 1, border 5,
/// m 1.01). Float CPU or CUDA tensors; computed on the CPU.
torch::Tensor edge_nms(const torch::Tensor& edges, const torch::Tensor& orientation, int r = 1,
                       int border = 5, double m = 1.01);

/// Sobel gradient magnitude √(gx² + gy²) of an image's gray version (channel mean), 3×3 Sobel
/// kernels, reflect-101 borders. C×H×W → 1×H×W (N×C×H×W → N×1×H×W).
torch::Tensor sobel_magnitude(const torch::Tensor& image);

/// Canny edge detector (Canny 1986), our own: gray (channel mean), optional Gaussian blur σ
/// (0: none), Sobel gradients (L2 magnitude), non-maximum suppression in 4 directions, hysteresis
/// from magnitudes ≥ high through 8-connected magnitudes ≥ low (thresholds on [0,1] images).
/// Returns 0/1, 1×H×W. With `high` ≤ 0 it returns the suppressed magnitude itself (a soft map).
torch::Tensor canny(const torch::Tensor& image, double sigma, double low, double high);

}  // namespace strata::filter
