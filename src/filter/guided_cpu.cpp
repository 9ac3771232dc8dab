// Fused CPU guided filter: He, Sun, Tang, "Guided Image Filtering", ECCV 2010 (gray guide Eq. 5,
// 6, 8; colour guide Eq. 14-16), optionally with a per-pixel regulariser in place of eps (the
// weighted guided filter of Li et al. 2015). Same border-clipped, count-normalised windows as
// box_filter.
//
// Each parallel range of rows of one image runs two running-sum pipelines (float64 column sums,
// one row in and one row out per step, as box.cpp):
// 1. the column sums of every window statistic (guide and input values and their products) give,
//    row by row, all window means at once, the per-pixel solve and one row of coefficients a_k, b;
// 2. those rows go into a ring of 2r + 2 rows, whose running column sums give ā_k, b̄ and the
//    output row q = Σ_k ā_k I_k + b̄.
// A range restarts both sums and recomputes the r coefficient rows beyond each of its ends; apart
// from the output nothing image-sized is allocated (the LibTorch-op path allocates some 30 image
// planes, 100 MB of coefficients alone at 1080p RGB).
#include "guided_cpu.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "../core/kernel_support.hpp"
#include "../core/parallel.hpp"
#include "strata/core/error.hpp"

namespace strata::filter::detail {

namespace {

using Index = std::int64_t;

// A window statistic: the product of two sources, or one source when `second` < 0. Sources are
// the guide channels 0..K-1, then the input channels K..K+C-1.
struct Statistic {
  Index first, second;
};

// Sizes of one call and the order of the statistics (K guide means, the K(K+1)/2 guide products
// I_i I_j with i <= j, C input means, then the K·C products I_k p_c) and of the coefficients
// (a_{k,c} at k·C + c, then b_c at K·C + c).
struct Layout {
  Index n, k, c, h, w, rh, rw;
  std::vector<Statistic> stats;
  std::vector<double> inv_w;  // 1 / (number of columns in the window of column j)

  Index padded() const { return w + 2 * rw + 1; }
  Index coefs() const { return (k + 1) * c; }
  Index guide_products() const { return k * (k + 1) / 2; }
  Index input_mean(Index ch) const { return k + guide_products() + ch; }
  Index cross(Index g, Index ch) const { return k + guide_products() + c + g * c + ch; }
  double inv_h(Index i) const {
    return 1.0 / static_cast<double>(std::min(i + rh, h - 1) - std::max<Index>(i - rh, 0) + 1);
  }
};

Layout make_layout(const torch::Tensor& input, const torch::Tensor& guide, Index r) {
  Layout l{input.size(0),
           guide.size(1),
           input.size(1),
           input.size(2),
           input.size(3),
           std::min(r, input.size(2) - 1),
           std::min(r, input.size(3) - 1),
           {},
           {}};
  for (Index g = 0; g < l.k; ++g) l.stats.push_back({g, -1});
  for (Index i = 0; i < l.k; ++i)
    for (Index j = i; j < l.k; ++j) l.stats.push_back({i, j});
  for (Index ch = 0; ch < l.c; ++ch) l.stats.push_back({l.k + ch, -1});
  for (Index g = 0; g < l.k; ++g)
    for (Index ch = 0; ch < l.c; ++ch) l.stats.push_back({g, l.k + ch});
  for (Index j = 0; j < l.w; ++j)
    l.inv_w.push_back(
        1.0 / static_cast<double>(std::min(j + l.rw, l.w - 1) - std::max<Index>(j - l.rw, 0) + 1));
  return l;
}

// sums[j] += x1[j]·y1[j] − x2[j]·y2[j] in float64: one row into and one out of column sums.
template <typename S>
void add_products(double* sums, const S* x1, const S* y1, const S* x2, const S* y2, Index w) {
  for (Index j = 0; j < w; ++j)
    sums[j] += static_cast<double>(x1[j]) * static_cast<double>(y1[j]) -
               static_cast<double>(x2[j]) * static_cast<double>(y2[j]);
}

// Window means of G rows of column sums (row g at sums + g·padded(), zero-padded by rw + 1 columns
// on the left and rw on the right) into out + g·w; G independent running sums for the pipeline.
template <int G>
void horizontal_group(const double* sums, double* out, const Layout& l, double inv_h) {
  const Index pw = l.padded(), span = 2 * l.rw + 1;
  std::array<double, G> s{};
  for (Index j = 0; j < span; ++j)
    for (int g = 0; g < G; ++g) s[g] += sums[g * pw + j];
  for (Index j = 0; j < l.w; ++j) {
    const double scale = inv_h * l.inv_w[static_cast<std::size_t>(j)];
    for (int g = 0; g < G; ++g) {
      s[g] += sums[g * pw + j + span] - sums[g * pw + j];
      out[g * l.w + j] = s[g] * scale;
    }
  }
}

void horizontal_means(const double* sums, double* out, Index count, const Layout& l, double inv_h) {
  constexpr int kGroup = 4;
  Index t = 0;
  for (; t + kGroup <= count; t += kGroup)
    horizontal_group<kGroup>(sums + t * l.padded(), out + t * l.w, l, inv_h);
  sums += t * l.padded();
  out += t * l.w;
  switch (count - t) {
    case 3: horizontal_group<3>(sums, out, l, inv_h); break;
    case 2: horizontal_group<2>(sums, out, l, inv_h); break;
    case 1: horizontal_group<1>(sums, out, l, inv_h); break;
    default: break;
  }
}

// (Σ + reg·U)⁻¹ per pixel (He et al. Eq. 14) as cofactors / determinant, Σ the covariance of the
// colour guide from the window means m (rows of w: I_0, I_1, I_2, then I_0², I_0 I_1, I_0 I_2,
// I_1², I_1 I_2, I_2²). Restrict output rows: GCC vectorises their stores only so.
template <typename S>
void invert_symmetric(const double* m, const S* reg, double* __restrict i00, double* __restrict i01,
                      double* __restrict i02, double* __restrict i11, double* __restrict i12,
                      double* __restrict i22, Index w) {
  const double *m0 = m, *m1 = m + w, *m2 = m + 2 * w, *m00 = m + 3 * w, *m01 = m + 4 * w,
               *m02 = m + 5 * w, *m11 = m + 6 * w, *m12 = m + 7 * w, *m22 = m + 8 * w;
  for (Index j = 0; j < w; ++j) {
    const double e = static_cast<double>(reg[j]);
    const double s00 = m00[j] - m0[j] * m0[j] + e, s01 = m01[j] - m0[j] * m1[j],
                 s02 = m02[j] - m0[j] * m2[j], s11 = m11[j] - m1[j] * m1[j] + e,
                 s12 = m12[j] - m1[j] * m2[j], s22 = m22[j] - m2[j] * m2[j] + e;
    const double c00 = s11 * s22 - s12 * s12, c01 = s02 * s12 - s01 * s22,
                 c02 = s01 * s12 - s02 * s11, c11 = s00 * s22 - s02 * s02,
                 c12 = s01 * s02 - s00 * s12, c22 = s00 * s11 - s01 * s01;
    const double inv_det = 1.0 / (s00 * c00 + s01 * c01 + s02 * c02);
    i00[j] = c00 * inv_det;
    i01[j] = c01 * inv_det;
    i02[j] = c02 * inv_det;
    i11[j] = c11 * inv_det;
    i12[j] = c12 * inv_det;
    i22[j] = c22 * inv_det;
  }
}

// Calls update(add, sub) to move running column sums to the window rows [u − r, u + r] ∩ [0, h):
// every row of it when `first` (sums zeroed by the caller), else one row in and one out from the
// window of u − 1. Rows outside the image are passed as −1.
template <class Update>
void slide_window(Index u, bool first, Index r, Index h, const Update& update) {
  if (first) {
    for (Index v = std::max<Index>(0, u - r); v <= std::min(h - 1, u + r); ++v) update(v, -1);
    return;
  }
  update(u + r < h ? u + r : -1, u - r - 1);
}

// Tensors of one call, contiguous N×C×H×W.
template <typename S>
struct Planes {
  const S* input;
  const S* guide;
  const S* reg;  // N×1×H×W, or null for the scalar eps
  S* output;
  S eps;
};

// The pipelines of one parallel range; buffers are allocated once per range.
template <typename S>
class RowKernel {
 public:
  RowKernel(const Layout& l, const Planes<S>& planes)
      : l_(l),
        t_(planes),
        stats_(static_cast<std::size_t>(size(l.stats) * l.padded())),
        stat_means_(static_cast<std::size_t>(size(l.stats) * l.w)),
        inverse_(static_cast<std::size_t>(6 * l.w)),
        coef_sums_(static_cast<std::size_t>(l.coefs() * l.padded())),
        coef_means_(static_cast<std::size_t>(l.coefs() * l.w)),
        ring_(static_cast<std::size_t>(std::min(2 * l.rh + 2, l.h) * l.coefs() * l.w)),
        zeros_(static_cast<std::size_t>(l.w), S(0)),
        ones_(static_cast<std::size_t>(l.w), S(1)),
        eps_(static_cast<std::size_t>(l.w), planes.eps) {}

  // Output rows [i0, i1) of image `plane`.
  void run(Index plane, Index i0, Index i1) {
    plane_ = plane;
    first_coef_ = std::max<Index>(0, i0 - l_.rh);
    Index next = first_coef_;
    for (Index i = i0; i < i1; ++i) {
      for (; next <= std::min(l_.h - 1, i + l_.rh); ++next) coefficient_row(next);
      slide(coef_sums_, i, i == i0, [this](Index add, Index sub) { update_coefs(add, sub); });
      output_row(i);
    }
  }

 private:
  static Index size(const std::vector<Statistic>& v) { return static_cast<Index>(v.size()); }

  // Zeroes the sums when `first`, then moves them to the window of row u.
  template <class Update>
  void slide(std::vector<double>& sums, Index u, bool first, const Update& update) {
    if (first) std::fill(sums.begin(), sums.end(), 0.0);
    slide_window(u, first, l_.rh, l_.h, update);
  }

  // Row u of source s (guide channels, then input channels); zeros outside the image.
  const S* source(Index s, Index u) const {
    if (u < 0) return zeros_.data();
    if (s < l_.k) return t_.guide + ((plane_ * l_.k + s) * l_.h + u) * l_.w;
    return t_.input + ((plane_ * l_.c + s - l_.k) * l_.h + u) * l_.w;
  }

  const S* factor(Index s, Index u) const { return s < 0 ? ones_.data() : source(s, u); }

  S* ring_row(Index u, Index coef) {
    const Index slot = (u - first_coef_) % (2 * l_.rh + 2);
    return ring_.data() + (slot * l_.coefs() + coef) * l_.w;
  }

  const S* coef_row(Index u, Index coef) { return u < 0 ? zeros_.data() : ring_row(u, coef); }

  const S* reg_row(Index u) const {
    return t_.reg ? t_.reg + (plane_ * l_.h + u) * l_.w : eps_.data();
  }

  void update_stats(Index add, Index sub) {
    for (std::size_t q = 0; q < l_.stats.size(); ++q) {
      const auto [first, second] = l_.stats[q];
      add_products(stats_.data() + static_cast<Index>(q) * l_.padded() + l_.rw + 1,
                   source(first, add), factor(second, add), source(first, sub), factor(second, sub),
                   l_.w);
    }
  }

  void update_coefs(Index add, Index sub) {
    for (Index t = 0; t < l_.coefs(); ++t)
      add_products(coef_sums_.data() + t * l_.padded() + l_.rw + 1, coef_row(add, t), ones_.data(),
                   coef_row(sub, t), ones_.data(), l_.w);
  }

  // Window means of row u, then its coefficients into the ring.
  void coefficient_row(Index u) {
    slide(stats_, u, u == first_coef_, [this](Index add, Index sub) { update_stats(add, sub); });
    horizontal_means(stats_.data(), stat_means_.data(), size(l_.stats), l_, l_.inv_h(u));
    if (l_.k == 3)
      solve_colour(u);
    else
      solve_gray(u);
  }

  const double* mean(Index stat) const { return stat_means_.data() + stat * l_.w; }

  // a_c = cov(I, p_c) / (σ² + reg) (He et al. Eq. 5), b_c = mean(p_c) − a_c mean(I) (Eq. 6).
  void solve_gray(Index u) {
    const double *mi = mean(0), *mii = mean(1);
    const S* reg = reg_row(u);
    for (Index ch = 0; ch < l_.c; ++ch) {
      const double *mp = mean(l_.input_mean(ch)), *mip = mean(l_.cross(0, ch));
      S *a = ring_row(u, ch), *b = ring_row(u, l_.c + ch);
      for (Index j = 0; j < l_.w; ++j) {
        const double var = mii[j] - mi[j] * mi[j], cov = mip[j] - mi[j] * mp[j];
        const double aj = cov / (var + static_cast<double>(reg[j]));
        a[j] = static_cast<S>(aj);
        b[j] = static_cast<S>(mp[j] - aj * mi[j]);
      }
    }
  }

  // (Σ + reg·U)⁻¹ of row u into inverse_ (entries 00, 01, 02, 11, 12, 22).
  void invert_colour(Index u) {
    double* inv = inverse_.data();
    const Index w = l_.w;
    invert_symmetric(stat_means_.data(), reg_row(u), inv, inv + w, inv + 2 * w, inv + 3 * w,
                     inv + 4 * w, inv + 5 * w, w);
  }

  // a_c = (Σ + reg·U)⁻¹ cov(I, p_c) (He et al. Eq. 14), b_c = mean(p_c) − a_cᵀ mean(I) (Eq. 15).
  void solve_colour(Index u) {
    invert_colour(u);
    const double *m0 = mean(0), *m1 = mean(1), *m2 = mean(2);
    const Index w = l_.w;
    const double* inv = inverse_.data();
    for (Index ch = 0; ch < l_.c; ++ch) {
      const double *mp = mean(l_.input_mean(ch)), *m0p = mean(l_.cross(0, ch)),
                   *m1p = mean(l_.cross(1, ch)), *m2p = mean(l_.cross(2, ch));
      S *a0 = ring_row(u, ch), *a1 = ring_row(u, l_.c + ch), *a2 = ring_row(u, 2 * l_.c + ch),
        *b = ring_row(u, 3 * l_.c + ch);
      for (Index j = 0; j < w; ++j) {
        const double v0 = m0p[j] - m0[j] * mp[j], v1 = m1p[j] - m1[j] * mp[j],
                     v2 = m2p[j] - m2[j] * mp[j];
        const double x0 = inv[j] * v0 + inv[w + j] * v1 + inv[2 * w + j] * v2;
        const double x1 = inv[w + j] * v0 + inv[3 * w + j] * v1 + inv[4 * w + j] * v2;
        const double x2 = inv[2 * w + j] * v0 + inv[4 * w + j] * v1 + inv[5 * w + j] * v2;
        a0[j] = static_cast<S>(x0);
        a1[j] = static_cast<S>(x1);
        a2[j] = static_cast<S>(x2);
        b[j] = static_cast<S>(mp[j] - x0 * m0[j] - x1 * m1[j] - x2 * m2[j]);
      }
    }
  }

  // q_c = Σ_k ā_{k,c} I_k + b̄_c (He et al. Eq. 8 / 16), accumulated in the b̄ row.
  void output_row(Index i) {
    horizontal_means(coef_sums_.data(), coef_means_.data(), l_.coefs(), l_, l_.inv_h(i));
    const Index w = l_.w;
    for (Index ch = 0; ch < l_.c; ++ch) {
      double* q = coef_means_.data() + (l_.k * l_.c + ch) * w;
      for (Index g = 0; g < l_.k; ++g) {
        const double* a = coef_means_.data() + (g * l_.c + ch) * w;
        const S* guide = source(g, i);
        for (Index j = 0; j < w; ++j) q[j] += a[j] * static_cast<double>(guide[j]);
      }
      S* out = t_.output + ((plane_ * l_.c + ch) * l_.h + i) * w;
      for (Index j = 0; j < w; ++j) out[j] = static_cast<S>(q[j]);
    }
  }

  const Layout& l_;
  Planes<S> t_;
  Index plane_ = 0, first_coef_ = 0;  // first coefficient row of the current range
  std::vector<double> stats_, stat_means_, inverse_, coef_sums_, coef_means_;
  std::vector<S> ring_, zeros_, ones_, eps_;
};

template <typename S>
void guided_typed(const torch::Tensor& input, const torch::Tensor& guide, Index r, double eps,
                  const torch::Tensor& reg, torch::Tensor& out) {
  const Layout l = make_layout(input, guide, r);
  const Planes<S> planes{input.data_ptr<S>(), guide.data_ptr<S>(),
                         reg.defined() ? reg.data_ptr<S>() : nullptr, out.data_ptr<S>(),
                         static_cast<S>(eps)};
  // Each range restarts its sums and recomputes 2r coefficient rows, so ranges are kept well
  // above that.
  const Index grain = std::max<Index>(64, 4 * l.rh);
  ParallelRanges::run(l.n * l.h, grain, [&](Index begin, Index end) {
    RowKernel<S> kernel(l, planes);
    for (Index row = begin; row < end;) {
      const Index plane = row / l.h, i0 = row % l.h;
      const Index i1 = std::min(l.h, i0 + (end - row));
      kernel.run(plane, i0, i1);
      row += i1 - i0;
    }
  });
}

bool is_cpu_float(const torch::Tensor& x) {
  return x.device().is_cpu() &&
         (x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kFloat64);
}

}  // namespace

bool guided_cpu_supports(const torch::Tensor& input, const torch::Tensor& guide) {
  return is_cpu_float(input) && is_cpu_float(guide) && !records_grad(input) && !records_grad(guide);
}

torch::Tensor guided_cpu(const torch::Tensor& input, const torch::Tensor& guide, int radius,
                         double eps, const std::optional<torch::Tensor>& reg) {
  check(input.dim() == 4 && guide.dim() == 4 && input.is_contiguous() && guide.is_contiguous() &&
            guide.scalar_type() == input.scalar_type() &&
            (guide.size(1) == 1 || guide.size(1) == 3),
        "", "guided_cpu: expects contiguous N×C×H×W input and N×1×H×W or N×3×H×W guide");
  const auto sizes = input.sizes();
  check(guide.size(0) == sizes[0] && guide.size(2) == sizes[2] && guide.size(3) == sizes[3], "",
        "guided_cpu: guide and input sizes differ");
  torch::Tensor map;
  if (reg) {
    map = reg->to(input.scalar_type()).contiguous();
    check(map.sizes() == torch::IntArrayRef{sizes[0], 1, sizes[2], sizes[3]}, "",
          "guided_cpu: reg must be N×1×H×W");
  }
  auto out = torch::empty_like(input);
  if (input.scalar_type() == torch::kFloat64)
    guided_typed<double>(input, guide, radius, eps, map, out);
  else
    guided_typed<float>(input, guide, radius, eps, map, out);
  return out;
}

}  // namespace strata::filter::detail
