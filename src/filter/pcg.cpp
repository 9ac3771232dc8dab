#include "pcg.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../core/parallel.hpp"
#include "strata/core/error.hpp"

namespace strata::filter::detail {
namespace {

using torch::Tensor;

constexpr int kCheckEveryCpu = 4;
constexpr int kCheckEveryCuda = 16;
constexpr std::int64_t kCpuGrainElements = 32768;  // elements per parallel_for task, at least

// All but the last (head) or all but the first (tail) samples along dim.
Tensor head(const Tensor& t, std::int64_t dim) { return t.narrow(dim, 0, t.size(dim) - 1); }
Tensor tail(const Tensor& t, std::int64_t dim) { return t.narrow(dim, 1, t.size(dim) - 1); }

void check_weight(const Tensor& w, const Tensor& b, std::int64_t dim, const char* name) {
  auto expected = b.sizes().vec();
  expected[dim] -= 1;
  const bool channels_ok = w.dim() == 4 && (w.size(1) == 1 || w.size(1) == b.size(1));
  if (channels_ok) expected[1] = w.size(1);
  check(channels_ok && w.sizes().vec() == expected, "",
        std::string("pcg: ") + name + " has the wrong shape");
  check(w.scalar_type() == b.scalar_type() && w.device() == b.device(), "",
        std::string("pcg: ") + name + " dtype/device differ from the right-hand side");
}

// Per-system ⟨a, b⟩ of two N×C×H×W tensors, in float64 on the host.
std::vector<double> plane_dots(const Tensor& a, const Tensor& b) {
  const auto planes = a.size(0) * a.size(1);
  const auto sums = (a.to(torch::kFloat64) * b.to(torch::kFloat64))
                        .reshape({planes, -1})
                        .sum(1)
                        .to(torch::kCPU)
                        .contiguous();
  const auto* p = sums.data_ptr<double>();
  return {p, p + planes};
}

// Largest ‖r‖/‖b‖ over the systems.
double max_relative_residual(const std::vector<double>& rr, const std::vector<double>& bb) {
  double worst = 0.0;
  for (std::size_t k = 0; k < rr.size(); ++k)
    worst = std::max(worst, bb[k] > 0 ? std::sqrt(rr[k] / bb[k]) : (rr[k] > 0 ? INFINITY : 0.0));
  return worst;
}

// ---- tensor path (any device): each step a handful of ATen ops ---------------------------------

// Scratch for the edge differences of one operator application.
struct Workspace {
  Tensor dx;  // N×C×H×(W−1)
  Tensor dy;  // N×C×(H−1)×W

  explicit Workspace(const Tensor& like) {
    auto shape = like.sizes().vec();
    shape[3] -= 1;
    dx = torch::empty(shape, like.options());
    shape[3] += 1;
    shape[2] -= 1;
    dy = torch::empty(shape, like.options());
  }
};

// out = x + Σ_d D_dᵀ (w_d ⊙ D_d x) in flux form: every edge difference is formed first and each
// weighted difference moved between its two pixels. Unlike the stencil form d ⊙ x − Σ w ⊙ x_nb
// there is no cancellation of large terms, so float32 stays accurate for weights of 1e6 and more
// (a constant image is reproduced exactly). The copy of x into out is fused into the first
// horizontal update where there is one.
void apply_into(Tensor& out, const Tensor& x, const EdgeWeights& w, Workspace& ws) {
  const auto width = x.size(3);
  if (width < 2) {
    out.copy_(x);
  } else {
    torch::sub_out(ws.dx, tail(x, 3), head(x, 3));
    auto out_head = head(out, 3);
    torch::addcmul_out(out_head, head(x, 3), w.wx, ws.dx, -1);
    out.narrow(3, width - 1, 1).copy_(x.narrow(3, width - 1, 1));
    tail(out, 3).addcmul_(w.wx, ws.dx);
  }
  if (x.size(2) < 2) return;
  torch::sub_out(ws.dy, tail(x, 2), head(x, 2));
  head(out, 2).addcmul_(w.wy, ws.dy, -1);
  tail(out, 2).addcmul_(w.wy, ws.dy);
}

// Per-system inner products of two N×C×H×W tensors: N×C×1×1, on their device.
Tensor batch_dot(const Tensor& a, const Tensor& b) {
  const auto n = a.size(0) * a.size(1);
  return torch::bmm(a.reshape({n, 1, -1}), b.reshape({n, -1, 1}))
      .view({a.size(0), a.size(1), 1, 1});
}

// num / den where den > 0, else 0 (a system whose search direction vanished has converged).
Tensor safe_ratio(const Tensor& num, const Tensor& den) {
  return torch::where(den > 0, num / den, torch::zeros_like(num));
}

// Jacobi-preconditioned CG over tensors; per-system scalars stay on the device and convergence
// is tested (one host sync) every `every` iterations.
class TensorCg {
 public:
  TensorCg(const Tensor& b, Tensor x, const EdgeWeights& w, Tensor inv_diag, double tolerance)
      : w_(w), ws_(b), inv_diag_(std::move(inv_diag)), x_(std::move(x)) {
    q_ = torch::empty_like(b);
    apply_into(q_, x_, w_, ws_);
    r_ = b - q_;
    z_ = r_ * inv_diag_;
    p_ = z_.clone();
    rz_ = batch_dot(r_, z_);
    threshold_ = batch_dot(b, b) * (tolerance * tolerance);
    active_ = torch::ones_like(rz_);
  }

  int run(int max_iterations, int every) {
    int iterations = 0;
    bool running = update_active();
    while (running && iterations < max_iterations) {
      step();
      ++iterations;
      if (iterations % every == 0 || iterations == max_iterations) running = update_active();
    }
    return iterations;
  }

  const Tensor& x() const { return x_; }
  std::vector<double> residual_norms() const { return plane_dots(r_, r_); }
  bool converged() const { return !active_.any().item<bool>(); }

 private:
  // One CG step; frozen (inactive) systems keep x, r and restart p from z.
  void step() {
    apply_into(q_, p_, w_, ws_);
    const auto alpha = active_ * safe_ratio(rz_, batch_dot(p_, q_));
    x_.addcmul_(alpha, p_);
    r_.addcmul_(alpha, q_, -1);
    torch::mul_out(z_, r_, inv_diag_);
    auto rz_next = batch_dot(r_, z_);
    const auto beta = active_ * safe_ratio(rz_next, rz_);
    torch::addcmul_out(p_, z_, p_, beta);  // p = z + β p, in one pass
    rz_ = std::move(rz_next);
  }

  // Freezes converged systems; true while any is left.
  bool update_active() {
    active_.mul_(batch_dot(r_, r_) > threshold_);
    return active_.any().item<bool>();
  }

  const EdgeWeights& w_;
  Workspace ws_;
  Tensor inv_diag_;
  Tensor x_, r_, z_, p_, q_;  // N×C×H×W
  Tensor rz_;                 // N×C×1×1: ⟨r, z⟩
  Tensor active_;             // N×C×1×1: 1 while a system is above its tolerance, else 0
  Tensor threshold_;          // N×C×1×1: tolerance² · ‖b‖²
};

// ---- CPU path: each iteration two fused, multithreaded sweeps ---------------------------------
//
// Sweep 1: p ← z + β p and q ← A p row by row (the neighbouring rows of the new p recomputed into
// scratch), with ⟨p, q⟩ per row. Sweep 2: x += α p, r −= α q, z = r / diag, with ⟨r, z⟩ and
// ⟨r, r⟩ per row. That reads and writes about a third of the memory the tensor path does.
// Scalars live on the host in float64, so the convergence test is free: every iteration tests,
// and converged systems are skipped from then on.

// Row kernels. Rows are short enough to stay in L1; __restrict__ lets the compiler vectorise.

// Σ a·b over a row: eight partial sums in T (vectorisable; rows hold a few thousand samples at
// most), returned as double and summed over rows in double.
template <typename T>
double dot_row(const T* __restrict__ a, const T* __restrict__ b, std::int64_t n) {
  constexpr int kLanes = 8;
  T s[kLanes] = {};
  std::int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int u = 0; u < kLanes; ++u) s[u] += a[j + u] * b[j + u];
  double total = 0.0;
  for (; j < n; ++j) total += static_cast<double>(a[j]) * b[j];
  for (int u = 0; u < kLanes; ++u) total += s[u];
  return total;
}

// out = z + β p.
template <typename T>
void direction_kernel(T* __restrict__ out, const T* __restrict__ z, const T* __restrict__ p, T beta,
                      std::int64_t n) {
  for (std::int64_t j = 0; j < n; ++j) out[j] = z[j] + beta * p[j];
}

// q = p + horizontal fluxes: wx[j] (p[j] − p[j+1]) out of the right edge and wx[j−1] (p[j] −
// p[j−1]) out of the left one. The two ends of an edge get exactly opposite values.
template <typename T>
void horizontal_kernel(T* __restrict__ q, const T* __restrict__ p, const T* __restrict__ wx,
                       std::int64_t n) {
  if (n == 1) {
    q[0] = p[0];
    return;
  }
  q[0] = p[0] + wx[0] * (p[0] - p[1]);
  for (std::int64_t j = 1; j + 1 < n; ++j)
    q[j] = p[j] + wx[j] * (p[j] - p[j + 1]) + wx[j - 1] * (p[j] - p[j - 1]);
  q[n - 1] = p[n - 1] + wx[n - 2] * (p[n - 1] - p[n - 2]);
}

// q += w (p − nb): the flux through a row of vertical edges to the neighbouring row nb.
template <typename T>
void vertical_kernel(T* __restrict__ q, const T* __restrict__ p, const T* __restrict__ nb,
                     const T* __restrict__ w, std::int64_t n) {
  for (std::int64_t j = 0; j < n; ++j) q[j] += w[j] * (p[j] - nb[j]);
}

// x += α p, r −= α q, z = r ⊙ inv_diag.
template <typename T>
void update_kernel(T* __restrict__ x, T* __restrict__ r, T* __restrict__ z, const T* __restrict__ p,
                   const T* __restrict__ q, const T* __restrict__ inv_diag, T alpha,
                   std::int64_t n) {
  for (std::int64_t j = 0; j < n; ++j) {
    x[j] += alpha * p[j];
    const T rj = r[j] - alpha * q[j];
    r[j] = rj;
    z[j] = rj * inv_diag[j];
  }
}

template <typename T>
class CpuCg {
 public:
  CpuCg(const Tensor& b, Tensor x, const EdgeWeights& w, const Tensor& inv_diag, double tolerance)
      : planes_(b.size(0) * b.size(1)),
        channels_(b.size(1)),
        weight_channels_(w.wx.size(1)),
        h_(b.size(2)),
        w_(b.size(3)),
        wx_t_(w.wx.contiguous()),
        wy_t_(w.wy.contiguous()),
        diag_t_(inv_diag.contiguous()),
        x_t_(std::move(x)) {
    r_t_ = b - apply_operator(x_t_, w);
    z_t_ = r_t_ * diag_t_;
    p_t_ = torch::zeros_like(b);  // with β = 0 the first direction is z
    p_next_t_ = torch::empty_like(b);
    q_t_ = torch::empty_like(b);
    rz_ = plane_dots(r_t_, z_t_);
    rr_ = plane_dots(r_t_, r_t_);
    bb_ = plane_dots(b, b);
    threshold_.resize(planes_);
    active_.resize(planes_);
    for (std::int64_t k = 0; k < planes_; ++k) {
      threshold_[k] = bb_[k] * tolerance * tolerance;
      active_[k] = rr_[k] > threshold_[k];
    }
    alpha_.assign(planes_, 0.0);
    beta_.assign(planes_, 0.0);
    row_a_.assign(planes_ * h_, 0.0);
    row_b_.assign(planes_ * h_, 0.0);
  }

  int run(int max_iterations) {
    int iterations = 0;
    while (any_active() && iterations < max_iterations) {
      step();
      ++iterations;
    }
    return iterations;
  }

  const Tensor& x() const { return x_t_; }
  const std::vector<double>& residual_norms() const { return rr_; }
  const std::vector<double>& rhs_norms() const { return bb_; }
  bool converged() const { return !any_active(); }

 private:
  void step() {
    for_active_rows(
        [this](std::int64_t k, std::int64_t i, T* scratch) { direction_row(k, i, scratch); });
    std::swap(p_t_, p_next_t_);
    const auto pq = plane_sums(row_a_);
    for (std::int64_t k = 0; k < planes_; ++k)
      alpha_[k] = active_[k] && pq[k] > 0 ? rz_[k] / pq[k] : 0.0;
    for_active_rows([this](std::int64_t k, std::int64_t i, T*) { update_row(k, i); });
    const auto rz_next = plane_sums(row_a_);
    const auto rr = plane_sums(row_b_);
    for (std::int64_t k = 0; k < planes_; ++k) {
      if (!active_[k]) continue;
      beta_[k] = rz_[k] > 0 ? rz_next[k] / rz_[k] : 0.0;
      rz_[k] = rz_next[k];
      rr_[k] = rr[k];
      active_[k] = rr[k] > threshold_[k];
    }
  }

  bool any_active() const {
    return std::any_of(active_.begin(), active_.end(), [](char a) { return a; });
  }

  // Runs fn(plane, row, scratch row) over the rows of the active planes, in parallel.
  template <class Fn>
  void for_active_rows(const Fn& fn) {
    const auto grain = std::max<std::int64_t>(1, kCpuGrainElements / w_);
    ParallelRanges::run(planes_ * h_, grain, [&](std::int64_t begin, std::int64_t end) {
      std::vector<T> scratch(w_);
      for (auto index = begin; index < end; ++index) {
        const auto k = index / h_;
        if (active_[k]) fn(k, index % h_, scratch.data());
      }
    });
  }

  std::vector<double> plane_sums(const std::vector<double>& rows) const {
    std::vector<double> sums(planes_, 0.0);
    for (std::int64_t k = 0; k < planes_; ++k)
      for (std::int64_t i = 0; i < h_; ++i) sums[k] += rows[k * h_ + i];
    return sums;
  }

  std::int64_t offset(std::int64_t k, std::int64_t i) const { return (k * h_ + i) * w_; }
  std::int64_t weight_plane(std::int64_t k) const {
    return weight_channels_ == 1 ? k / channels_ : k;
  }
  static T* data(const Tensor& t) { return t.data_ptr<T>(); }

  // out = z + β p on row i of plane k.
  void new_direction(std::int64_t k, std::int64_t i, T* out) const {
    const auto o = offset(k, i);
    direction_kernel(out, data(z_t_) + o, data(p_t_) + o, static_cast<T>(beta_[k]), w_);
  }

  // Sweep 1 on one row: the new direction into p_next, q = A p_next, ⟨p_next, q⟩ into row_a.
  void direction_row(std::int64_t k, std::int64_t i, T* scratch) {
    T* p = data(p_next_t_) + offset(k, i);
    T* q = data(q_t_) + offset(k, i);
    new_direction(k, i, p);
    horizontal_kernel(q, p, data(wx_t_) + (weight_plane(k) * h_ + i) * (w_ - 1), w_);
    const T* wy = data(wy_t_) + weight_plane(k) * (h_ - 1) * w_;
    if (i > 0) {
      new_direction(k, i - 1, scratch);
      vertical_kernel(q, p, scratch, wy + (i - 1) * w_, w_);
    }
    if (i + 1 < h_) {
      new_direction(k, i + 1, scratch);
      vertical_kernel(q, p, scratch, wy + i * w_, w_);
    }
    row_a_[k * h_ + i] = dot_row(p, q, w_);
  }

  // Sweep 2 on one row: x, r, z updated, ⟨r, z⟩ into row_a and ⟨r, r⟩ into row_b.
  void update_row(std::int64_t k, std::int64_t i) {
    const auto o = offset(k, i);
    T* r = data(r_t_) + o;
    T* z = data(z_t_) + o;
    update_kernel(data(x_t_) + o, r, z, data(p_t_) + o, data(q_t_) + o,
                  data(diag_t_) + (weight_plane(k) * h_ + i) * w_, static_cast<T>(alpha_[k]), w_);
    row_a_[k * h_ + i] = dot_row(r, z, w_);
    row_b_[k * h_ + i] = dot_row(r, r, w_);
  }

  std::int64_t planes_, channels_, weight_channels_, h_, w_;
  Tensor wx_t_, wy_t_, diag_t_;                                  // weights, 1/diag (N×Cw×…)
  Tensor x_t_, r_t_, z_t_, p_t_, p_next_t_, q_t_;                // N×C×H×W
  std::vector<double> rz_, rr_, bb_, threshold_, alpha_, beta_;  // per system
  std::vector<char> active_;                                     // per system
  std::vector<double> row_a_, row_b_;                            // per row partial sums
};

template <typename T>
Tensor solve_cpu(const Tensor& b, Tensor x, const EdgeWeights& w, const Tensor& inv_diag,
                 const PcgOptions& options, PcgStats& stats) {
  CpuCg<T> cg(b, std::move(x), w, inv_diag, options.tolerance);
  stats.iterations = cg.run(options.max_iterations);
  stats.max_residual = max_relative_residual(cg.residual_norms(), cg.rhs_norms());
  stats.converged = cg.converged();
  return cg.x();
}

Tensor solve_tensor(const Tensor& b, Tensor x, const EdgeWeights& w, const Tensor& inv_diag,
                    const PcgOptions& options, PcgStats& stats) {
  TensorCg cg(b, std::move(x), w, inv_diag, options.tolerance);
  const int every = options.check_every > 0 ? options.check_every
                    : b.is_cuda()           ? kCheckEveryCuda
                                            : kCheckEveryCpu;
  stats.iterations = cg.run(options.max_iterations, every);
  stats.max_residual = max_relative_residual(cg.residual_norms(), plane_dots(b, b));
  stats.converged = cg.converged();
  return cg.x();
}

void record(const PcgStats& stats) {
  auto& totals = pcg_totals();
  ++totals.solves;
  totals.iterations += stats.iterations;
  totals.max_iterations = std::max(totals.max_iterations, stats.iterations);
}

}  // namespace

PcgTotals& pcg_totals() {
  thread_local PcgTotals totals;
  return totals;
}

Tensor operator_diagonal(const EdgeWeights& w, std::int64_t height, std::int64_t width) {
  auto d = torch::ones({w.wx.size(0), w.wx.size(1), height, width}, w.wx.options());
  const std::pair<std::int64_t, const Tensor*> edges[] = {{3, &w.wx}, {2, &w.wy}};
  for (const auto& [dim, weight] : edges) {
    if (d.size(dim) < 2) continue;
    head(d, dim).add_(*weight);
    tail(d, dim).add_(*weight);
  }
  return d;
}

Tensor apply_operator(const Tensor& x, const EdgeWeights& w) {
  auto out = torch::empty_like(x, torch::MemoryFormat::Contiguous);
  Workspace ws(out);
  apply_into(out, x, w, ws);
  return out;
}

Tensor solve(const Tensor& b_in, const EdgeWeights& w, const PcgOptions& options, PcgStats* stats,
             const Tensor& x0) {
  check(b_in.dim() == 4 && b_in.is_floating_point(), "", "pcg: b must be a floating N×C×H×W");
  check(options.tolerance > 0 && options.max_iterations >= 0, "", "pcg: bad options");
  check_weight(w.wx, b_in, 3, "wx");
  check_weight(w.wy, b_in, 2, "wy");
  check(!x0.defined() || x0.sizes() == b_in.sizes(), "", "pcg: x0 and b differ in shape");
  const auto b = b_in.contiguous();
  auto x = x0.defined() ? x0.to(b.options()).clone(torch::MemoryFormat::Contiguous) : b.clone();
  const auto inv_diag = operator_diagonal(w, b.size(2), b.size(3)).reciprocal_();

  PcgStats result;
  const bool fused = options.fused_cpu && b.device().is_cpu();
  if (fused && b.scalar_type() == torch::kFloat32)
    x = solve_cpu<float>(b, std::move(x), w, inv_diag, options, result);
  else if (fused && b.scalar_type() == torch::kFloat64)
    x = solve_cpu<double>(b, std::move(x), w, inv_diag, options, result);
  else
    x = solve_tensor(b, std::move(x), w, inv_diag, options, result);
  record(result);
  if (stats != nullptr) *stats = result;
  return x;
}

}  // namespace strata::filter::detail
