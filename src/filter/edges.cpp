#include "strata/filter/edges.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "padding.hpp"
#include "strata/core/error.hpp"
#include "strata/filter/box.hpp"
#include "strata/filter/common.hpp"

namespace strata::filter {

namespace {

// Half taps w[0..r] of convTri's kernel (w[-k] = w[k]).
std::vector<double> triangle_taps(double r) {
  if (r < 1.0) {
    const double p = 12.0 / r / (r + 2.0) - 2.0;
    return {p / (2.0 + p), 1.0 / (2.0 + p)};
  }
  const auto ri = static_cast<int>(std::round(r));
  const double norm = static_cast<double>((ri + 1) * (ri + 1));
  std::vector<double> taps;
  for (int k = 0; k <= ri; ++k) taps.push_back(static_cast<double>(ri + 1 - k) / norm);
  return taps;
}

// MATLAB gradient along `dim`: central differences inside, one-sided at the ends.
torch::Tensor gradient_along(const torch::Tensor& x, std::int64_t dim) {
  const std::int64_t n = x.size(dim);
  if (n < 2) return torch::zeros_like(x);
  auto g = torch::empty_like(x);
  if (n > 2)
    g.narrow(dim, 1, n - 2).copy_((x.narrow(dim, 2, n - 2) - x.narrow(dim, 0, n - 2)) * 0.5);
  g.narrow(dim, 0, 1).copy_(x.narrow(dim, 1, 1) - x.narrow(dim, 0, 1));
  g.narrow(dim, n - 1, 1).copy_(x.narrow(dim, n - 1, 1) - x.narrow(dim, n - 2, 1));
  return g;
}

float bilinear(const float* e, std::int64_t h, std::int64_t w, float x, float y) {
  x = std::clamp(x, 0.f, static_cast<float>(w) - 1.001f);
  y = std::clamp(y, 0.f, static_cast<float>(h) - 1.001f);
  const auto x0 = static_cast<std::int64_t>(x), y0 = static_cast<std::int64_t>(y);
  const float dx = x - static_cast<float>(x0), dy = y - static_cast<float>(y0);
  const float* r0 = e + y0 * w + x0;
  const float* r1 = r0 + w;
  return (1 - dy) * ((1 - dx) * r0[0] + dx * r0[1]) + dy * ((1 - dx) * r1[0] + dx * r1[1]);
}

void check_map(const torch::Tensor& t, const char* what) {
  check(t.defined() && t.dim() == 2 && torch::isFloatingType(t.scalar_type()), "",
        std::string(what) + " must be a floating H×W tensor");
}

}  // namespace

torch::Tensor triangle_blur(const torch::Tensor& x, double r) {
  check(x.defined() && x.dim() >= 2, "", "triangle_blur: expected a ...×H×W tensor");
  check(std::isfinite(r) && r >= 0.0, "", "triangle_blur: r must be >= 0");
  if (r == 0.0) return x.clone();
  const auto taps = triangle_taps(r);
  return convolve_separable(x, taps, Border::Symmetric);
}

torch::Tensor edge_orientation(const torch::Tensor& edges) {
  check_map(edges, "edge_orientation: edges");
  const auto e = triangle_blur(edges.to(torch::kFloat32), 4.0);
  const auto ox = gradient_along(e, 1), oy = gradient_along(e, 0);
  const auto oxx = gradient_along(ox, 1);
  const auto oxy = gradient_along(oy, 1), oyy = gradient_along(oy, 0);
  const auto o = torch::atan(oyy * torch::sign(-oxy) / (oxx + 1e-5));
  return torch::remainder(o, M_PI);
}

torch::Tensor edge_nms(const torch::Tensor& edges, const torch::Tensor& orientation, int r,
                       int border, double m) {
  check_map(edges, "edge_nms: edges");
  check_map(orientation, "edge_nms: orientation");
  check(edges.sizes() == orientation.sizes(), "", "edge_nms: edges and orientation differ in size");
  check(r >= 1 && border >= 0 && m > 0.0, "", "edge_nms: need r >= 1, border >= 0, m > 0");
  const auto e = edges.to(torch::kCPU, torch::kFloat32).contiguous();
  const auto o = orientation.to(torch::kCPU, torch::kFloat32).contiguous();
  const std::int64_t h = e.size(0), w = e.size(1);
  auto out = e.clone();
  const float* ep = e.data_ptr<float>();
  const float* op = o.data_ptr<float>();
  float* qp = out.data_ptr<float>();
  for (std::int64_t y = 0; y < h; ++y)
    for (std::int64_t x = 0; x < w; ++x) {
      const float v = ep[y * w + x];
      if (v == 0.f) continue;
      const float c = std::cos(op[y * w + x]), s = std::sin(op[y * w + x]);
      for (int d = -r; d <= r; ++d) {
        if (d == 0) continue;
        const float n = bilinear(ep, h, w, static_cast<float>(x) + static_cast<float>(d) * c,
                                 static_cast<float>(y) + static_cast<float>(d) * s);
        if (static_cast<float>(m) * v < n) {
          qp[y * w + x] = 0.f;
          break;
        }
      }
    }
  // Suppress the noisy estimates near the border: scale by (distance to the border) / border,
  // horizontally and vertically.
  const std::int64_t b = std::min<std::int64_t>(border, std::min(h, w) / 2);
  const auto ramp = [b](std::int64_t i, std::int64_t n) {
    const std::int64_t d = std::min(i, n - 1 - i);
    return d < b ? static_cast<float>(d) / static_cast<float>(b) : 1.f;
  };
  for (std::int64_t y = 0; y < h; ++y)
    for (std::int64_t x = 0; x < w; ++x) qp[y * w + x] *= ramp(x, w) * ramp(y, h);
  return out.to(edges.device());
}

namespace {

struct SobelGradients {
  torch::Tensor gx, gy;  // N×1×H×W
};

SobelGradients sobel(const torch::Tensor& image) {
  const Batched b = as_batched(image, "input");
  const auto gray = b.x.mean(1, true);
  const auto p = pad_reflect101(pad_reflect101(gray, 2, 1), 3, 1);
  const auto h = gray.size(2), w = gray.size(3);
  const auto at = [&p, h, w](int dy, int dx) {
    return p.narrow(2, 1 + dy, h).narrow(3, 1 + dx, w);
  };
  // gx = [-1 0 1; -2 0 2; -1 0 1] ⊛, gy its transpose
  const auto gx = (at(-1, 1) - at(-1, -1)) + 2.0 * (at(0, 1) - at(0, -1)) + (at(1, 1) - at(1, -1));
  const auto gy = (at(1, -1) - at(-1, -1)) + 2.0 * (at(1, 0) - at(-1, 0)) + (at(1, 1) - at(-1, 1));
  return {gx, gy};
}

// Keeps the magnitude where it is a maximum along the gradient direction (4 sectors of 45°).
torch::Tensor suppress_non_maxima(const torch::Tensor& gx, const torch::Tensor& gy,
                                  const torch::Tensor& mag) {
  const auto m = mag.to(torch::kCPU, torch::kFloat32).contiguous();
  const auto ax = gx.to(torch::kCPU, torch::kFloat32).contiguous();
  const auto ay = gy.to(torch::kCPU, torch::kFloat32).contiguous();
  const std::int64_t h = m.size(0), w = m.size(1);
  auto out = torch::zeros_like(m);
  const float *mp = m.data_ptr<float>(), *xp = ax.data_ptr<float>(), *yp = ay.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const auto value = [&](std::int64_t y, std::int64_t x) {
    return y < 0 || y >= h || x < 0 || x >= w ? 0.f : mp[y * w + x];
  };
  constexpr float kTan22 = 0.41421356f;  // tan 22.5°
  for (std::int64_t y = 0; y < h; ++y)
    for (std::int64_t x = 0; x < w; ++x) {
      const float v = mp[y * w + x], dx = xp[y * w + x], dy = yp[y * w + x];
      if (v <= 0.f) continue;
      const float adx = std::abs(dx), ady = std::abs(dy);
      int sx = 1, sy = 0;  // horizontal gradient
      if (ady <= kTan22 * adx)
        sx = 1, sy = 0;
      else if (adx <= kTan22 * ady)
        sx = 0, sy = 1;  // vertical gradient
      else
        sx = 1, sy = (dx > 0) == (dy > 0) ? 1 : -1;  // diagonal
      if (v > value(y - sy, x - sx) && v >= value(y + sy, x + sx)) op[y * w + x] = v;
    }
  return out;
}

// Hysteresis: edges are the 8-connected components of (mag ≥ low) that contain a mag ≥ high.
torch::Tensor hysteresis(const torch::Tensor& mag, double low, double high) {
  const std::int64_t h = mag.size(0), w = mag.size(1);
  auto out = torch::zeros({h, w}, torch::kFloat32);
  const float* mp = mag.data_ptr<float>();
  float* op = out.data_ptr<float>();
  std::vector<std::int64_t> stack;
  for (std::int64_t i = 0; i < h * w; ++i)
    if (mp[i] >= high && op[i] == 0.f) {
      op[i] = 1.f;
      stack.push_back(i);
      while (!stack.empty()) {
        const std::int64_t j = stack.back();
        stack.pop_back();
        const std::int64_t y = j / w, x = j % w;
        for (std::int64_t ny = std::max<std::int64_t>(0, y - 1); ny <= std::min(h - 1, y + 1); ++ny)
          for (std::int64_t nx = std::max<std::int64_t>(0, x - 1); nx <= std::min(w - 1, x + 1);
               ++nx) {
            const std::int64_t k = ny * w + nx;
            if (op[k] == 0.f && mp[k] >= low) {
              op[k] = 1.f;
              stack.push_back(k);
            }
          }
      }
    }
  return out;
}

}  // namespace

torch::Tensor sobel_magnitude(const torch::Tensor& image) {
  const auto g = sobel(image);
  const auto mag = torch::sqrt(g.gx.square() + g.gy.square());
  return image.dim() == 3 ? mag.squeeze(0) : mag;
}

torch::Tensor canny(const torch::Tensor& image, double sigma, double low, double high) {
  check(image.defined() && image.dim() == 3, "", "canny: expected a C×H×W image");
  check(std::isfinite(sigma) && sigma >= 0.0 && low >= 0.0 && (high <= 0.0 || low <= high), "",
        "canny: need sigma >= 0 and 0 <= low <= high");
  const auto smooth = sigma > 0.0 ? gaussian_blur(image, sigma) : image;
  const auto g = sobel(smooth);
  const auto gx = g.gx[0][0], gy = g.gy[0][0];
  const auto nms = suppress_non_maxima(gx, gy, torch::sqrt(gx.square() + gy.square()));
  return (high <= 0.0 ? nms : hysteresis(nms, low, high)).unsqueeze(0).to(image.device());
}

}  // namespace strata::filter
