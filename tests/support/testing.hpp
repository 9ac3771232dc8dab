// Shared helpers for the strata test programs.
#pragma once

#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace strata::testing {

/// Root of the shared data bundle: $STRATA_DATA, else the build-time default (../shared/data).
std::string data_root();
/// Path under the data root; the calling test should GTEST_SKIP() if it does not exist.
std::string data_path(const std::string& relative);
bool exists(const std::string& path);

/// A fresh empty folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  /// Names of the entries in the folder, sorted.
  std::vector<std::string> list() const;

 private:
  std::string path_;
};

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes);
std::vector<std::uint8_t> read_bytes(const std::string& path);

/// True if a CUDA device is usable (tests that need one call GTEST_SKIP otherwise).
bool cuda_available();

/// Max |a - b| over all elements (both moved to CPU float64).
double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b);
/// Number of trainable values (parameters) of a module and its submodules.
std::int64_t parameter_count(const torch::nn::Module& m);

/// Result of running the strata executable.
struct RunResult {
  int exit_code = -1;
  std::string out;  ///< stdout
  std::string err;  ///< stderr
};
/// Runs `strata <args>` (args are shell-quoted here) and captures stdout, stderr and exit code.
RunResult run_strata(const std::vector<std::string>& args);

}  // namespace strata::testing

#define STRATA_REQUIRE_CUDA()                                               \
  do {                                                                      \
    if (!::strata::testing::cuda_available()) GTEST_SKIP() << "needs CUDA"; \
  } while (0)
