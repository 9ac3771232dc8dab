// The thread count of the CPU benchmarks: strata (LibTorch) and the OpenCV anchor run on the same
// number of threads, the development machine's 2 cores.
#pragma once

#include <torch/torch.h>

#ifdef STRATA_HAVE_OPENCV
#include <opencv2/core.hpp>
#endif

namespace strata::bench {

constexpr int kThreads = 2;

/// Sets LibTorch's intra-op threads and OpenCV's threads to kThreads; returns true (for use in a
/// namespace-scope initialiser).
inline bool use_benchmark_threads() {
  torch::set_num_threads(kThreads);
#ifdef STRATA_HAVE_OPENCV
  cv::setNumThreads(kThreads);
#endif
  return true;
}

}  // namespace strata::bench
