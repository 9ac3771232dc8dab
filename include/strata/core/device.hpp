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
void set_seed(std::uint64_t seed);

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
