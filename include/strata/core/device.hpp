// Device selection and run-wide settings shared by the CLI and library users.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

namespace strata {

/// Parses "auto" (CUDA if available, else CPU), "cpu", "cuda" or "cuda:N". Throws strata::Error on
/// a malformed spec or a CUDA device that is not present.
torch::Device parse_device(const std::string& spec);

/// Sets the intra-op thread count (n > 0) and the global seed (CPU and CUDA generators).
void set_threads(int n);
/// Uses every core the process may run on, unless OMP_NUM_THREADS is set (then LibTorch's own
/// default stands). Debian's LibTorch 1.13 starts with one thread on a 2-core machine: the HIPe
/// guider then took 12.2 s for a 481×321 edge map against 6.1 s on both cores.
void use_all_cores();
void set_seed(std::uint64_t seed);

/// Lets the C allocator keep freed memory for reuse instead of returning it to the system
/// (glibc: allocations up to 32 MB from the heap, no trimming). LibTorch's CPU allocator does not
/// cache, so every large activation was a fresh mmap whose pages the kernel zero-filled on first
/// touch: 20% of a HIPe recurrence on the CPU (481×321). Process-wide, for programs (the strata
/// CLI calls it); a no-op without glibc.
void keep_freed_memory();

/// cuDNN's benchmark mode while it lives (the previous mode is restored after): a convolution
/// shape first met in its scope is timed over cuDNN's algorithms, and LibTorch keeps the fastest
/// for the rest of the process (later calls of that shape on the same thread use it, in either
/// mode). Costs time once per shape; pays where the heuristics choose a slow algorithm. Shapes
/// already run in the process keep the algorithm chosen then (tuning changes nothing for them). The
/// mode is a process-wide flag: other threads' convolutions are tuned too while it lives. `on`
/// false: does nothing.
class CudnnTuning {
 public:
  explicit CudnnTuning(bool on);
  ~CudnnTuning();
  CudnnTuning(const CudnnTuning&) = delete;
  CudnnTuning& operator=(const CudnnTuning&) = delete;

 private:
  bool on_, before_ = false;
};

/// Facts about the runtime, for `strata info`.
struct RuntimeInfo {
  std::string strata_version;
  std::string torch_version;
  bool cuda_available = false;
  bool cudnn_available = false;
  int cuda_device_count = 0;
  int threads = 0;
};
RuntimeInfo runtime_info();

}  // namespace strata
