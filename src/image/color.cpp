#include "strata/image/color.hpp"

#include <torch/torch.h>

#include <array>

#include "strata/core/error.hpp"

namespace strata::image {

namespace {

using Matrix3 = std::array<std::array<double, 3>, 3>;

void check_channels(const torch::Tensor& t, std::int64_t c, const char* what) {
  check(t.defined() && t.dim() >= 3 && t.size(-3) == c, "",
        std::string(what) + " expects " + std::to_string(c) + " channels on dim -3");
}

// out_i = sum_j m[i][j] * in_j + offset_i along the channel axis (dim -3).
torch::Tensor affine_channels(const torch::Tensor& in, const Matrix3& m,
                              const std::array<double, 3>& offset) {
  const auto x = in.unbind(-3);
  std::vector<torch::Tensor> out;
  for (int i = 0; i < 3; ++i)
    out.push_back(x[0] * m[i][0] + x[1] * m[i][1] + x[2] * m[i][2] + offset[i]);
  return torch::stack(out, -3);
}

// BT.601 studio swing (MATLAB rgb2ycbcr), coefficients in 8-bit units per unit of RGB in [0,1],
// divided by 255 so that the result is the 8-bit value / 255.
constexpr Matrix3 kStudio = {{{65.481 / 255, 128.553 / 255, 24.966 / 255},
                              {-37.797 / 255, -74.203 / 255, 112.0 / 255},
                              {112.0 / 255, -93.786 / 255, -18.214 / 255}}};
constexpr std::array<double, 3> kStudioOffset = {16.0 / 255, 128.0 / 255, 128.0 / 255};
// BT.601 full range (JFIF).
constexpr Matrix3 kFull = {
    {{0.299, 0.587, 0.114}, {-0.168735892, -0.331264108, 0.5}, {0.5, -0.418687589, -0.081312411}}};
constexpr std::array<double, 3> kFullOffset = {0.0, 128.0 / 255, 128.0 / 255};

Matrix3 inverse(const Matrix3& m) {
  const double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                     m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                     m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  Matrix3 r{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      // cofactor of m[j][i]
      const int a = (j + 1) % 3, b = (j + 2) % 3, c = (i + 1) % 3, d = (i + 2) % 3;
      r[i][j] = (m[a][c] * m[b][d] - m[a][d] * m[b][c]) / det;
    }
  return r;
}

}  // namespace

torch::Tensor rgb_to_gray(const torch::Tensor& rgb, LumaWeights weights) {
  check_channels(rgb, 3, "rgb_to_gray");
  const bool matlab = weights == LumaWeights::Matlab;
  const auto x = rgb.unbind(-3);
  // BT.601 luma: Y = 0.299 R + 0.587 G + 0.114 B (MATLAB rounds to 0.2989/0.5870/0.1140).
  return (x[0] * (matlab ? 0.2989 : 0.299) + x[1] * (matlab ? 0.5870 : 0.587) +
          x[2] * (matlab ? 0.1140 : 0.114))
      .unsqueeze(-3);
}

torch::Tensor gray_to_rgb(const torch::Tensor& gray) {
  check_channels(gray, 1, "gray_to_rgb");
  std::vector<std::int64_t> reps(static_cast<std::size_t>(gray.dim()), 1);
  reps[reps.size() - 3] = 3;
  return gray.repeat(reps);
}

torch::Tensor rgb_to_ycbcr(const torch::Tensor& rgb, YCbCrRange range) {
  check_channels(rgb, 3, "rgb_to_ycbcr");
  return range == YCbCrRange::Studio ? affine_channels(rgb, kStudio, kStudioOffset)
                                     : affine_channels(rgb, kFull, kFullOffset);
}

torch::Tensor ycbcr_to_rgb(const torch::Tensor& ycbcr, YCbCrRange range) {
  check_channels(ycbcr, 3, "ycbcr_to_rgb");
  const Matrix3& m = range == YCbCrRange::Studio ? kStudio : kFull;
  const auto& off = range == YCbCrRange::Studio ? kStudioOffset : kFullOffset;
  const Matrix3 inv = inverse(m);
  std::array<double, 3> inv_off{};
  for (int i = 0; i < 3; ++i)
    inv_off[i] = -(inv[i][0] * off[0] + inv[i][1] * off[1] + inv[i][2] * off[2]);
  return affine_channels(ycbcr, inv, inv_off);
}

}  // namespace strata::image
