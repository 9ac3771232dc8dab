#include "fused.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <string>

#include "../core/kernel_support.hpp"
#include "strata/core/error.hpp"
#include "strata/filter/common.hpp"

#ifdef STRATA_HAVE_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "cuda/kernels.hpp"
#endif

namespace strata::filter {

namespace {
std::atomic<bool> fused_enabled{true};
}  // namespace

void use_fused_kernels(bool on) { fused_enabled = on; }

#ifdef STRATA_HAVE_CUDA_KERNELS
bool fused_kernels_built() { return true; }
void set_fused_schedule(FusedSchedule schedule) {
  cuda::set_schedule(schedule == FusedSchedule::Sweep ? cuda::Schedule::Sweep
                                                      : cuda::Schedule::Auto);
}
#else
bool fused_kernels_built() { return false; }
void set_fused_schedule(FusedSchedule) {}
#endif

}  // namespace strata::filter

namespace strata::filter::fused {

#ifdef STRATA_HAVE_CUDA_KERNELS

namespace {

bool kernel_dtype(const torch::Tensor& x) {
  return x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kFloat16;
}

/// Whether every element offset of t fits in int (the kernels index in 32-bit arithmetic).
bool int_offsets(const torch::Tensor& t) {
  std::int64_t last = 0;  // the largest element offset
  for (int i = 0; i < t.dim(); ++i) {
    if (t.stride(i) < 0) return false;
    last += (t.size(i) - 1) * t.stride(i);
    if (last >= std::numeric_limits<int>::max()) return false;
  }
  return true;
}

cuda::Tensor4 describe(const torch::Tensor& t) {
  cuda::Tensor4 d;
  if (!t.defined()) return d;
  d.data = t.data_ptr();
  d.scalar = t.scalar_type() == torch::kFloat16 ? cuda::Scalar::Float16 : cuda::Scalar::Float32;
  for (int i = 0; i < 4; ++i) {
    d.size[i] = t.size(i);
    d.stride[i] = t.stride(i);
  }
  return d;
}

void* current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

}  // namespace

bool supports(const torch::Tensor& x, const torch::Tensor& guide, int radius) {
  const auto ok = [&x](const torch::Tensor& t) {
    return t.is_cuda() && t.dim() == 4 && t.device() == x.device() && kernel_dtype(t) &&
           !records_grad(t) && t.size(2) < (1 << 30) && t.size(3) < (1 << 30) && int_offsets(t);
  };
  // The guided filter's coefficients are up to 4 floats per input value.
  return fused_enabled && radius <= cuda::kMaxRadius && ok(x) && (!guide.defined() || ok(guide)) &&
         x.size(0) * x.size(1) < 65536 && x.numel() < std::numeric_limits<int>::max() / 4;
}

torch::Tensor box(const torch::Tensor& x, int radius) {
  const c10::cuda::CUDAGuard guard(x.device());
  auto y = torch::empty_like(x);
  check_launch(cuda::box_mean(describe(x), describe(y), radius, current_stream()), "box_filter");
  return y;
}

torch::Tensor guided(const torch::Tensor& p, const torch::Tensor& g, int radius, double eps,
                     const torch::Tensor& reg) {
  const c10::cuda::CUDAGuard guard(p.device());
  const bool colour = g.size(1) == 3;
  const auto n = p.size(0), c = p.size(1), h = p.size(2), w = p.size(3);
  const auto guide = g.to(p.scalar_type());
  // Contiguous: at most N×Cg×H×W elements, so its offsets fit in int like the guide's.
  const auto reg_map = reg.defined() ? reg.to(torch::kFloat32).contiguous() : reg;
  // A pixel's coefficients side by side (kernels.hpp), as an N×C×H×W view.
  const auto coef =
      torch::empty({n, c, h, w, colour ? 4 : 2}, p.options().dtype(torch::kFloat32)).select(4, 0);
  auto* stream = current_stream();
  check_launch(
      cuda::guided_coefficients(describe(p), describe(guide), describe(reg_map),
                                static_cast<float>(eps), radius, colour, describe(coef), stream),
      "guided_filter");
  auto q = torch::empty_like(p);
  check_launch(
      cuda::guided_apply(describe(coef), describe(guide), radius, colour, describe(q), stream),
      "guided_filter");
  return q;
}

#else

bool supports(const torch::Tensor&, const torch::Tensor&, int) { return false; }

torch::Tensor box(const torch::Tensor&, int) {
  throw Error("", "box_filter: strata was built without its CUDA kernels");
}

torch::Tensor guided(const torch::Tensor&, const torch::Tensor&, int, double,
                     const torch::Tensor&) {
  throw Error("", "guided_filter: strata was built without its CUDA kernels");
}

#endif

}  // namespace strata::filter::fused
