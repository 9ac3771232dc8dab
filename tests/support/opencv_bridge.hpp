// Test/bench-only bridge between strata tensors (C×H×W float) and OpenCV matrices (H×W×C).
// Include only where STRATA_HAVE_OPENCV is defined; the library never uses OpenCV.
#pragma once

#include <torch/torch.h>
#include <opencv2/core.hpp>

namespace strata::testing {

/// C×H×W float tensor -> CV_32FC(C) (or CV_64FC(C) for double) matrix, deep copy.
inline cv::Mat to_mat(const torch::Tensor& chw) {
  const torch::Tensor hwc = chw.detach().cpu().permute({1, 2, 0}).contiguous();
  const int c = static_cast<int>(hwc.size(2));
  const bool f64 = hwc.scalar_type() == torch::kFloat64;
  const torch::Tensor data = f64 ? hwc : hwc.to(torch::kFloat32);
  cv::Mat m(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)),
            f64 ? CV_64FC(c) : CV_32FC(c), data.data_ptr());
  return m.clone();
}

/// CV_32FC(C)/CV_64FC(C) matrix -> C×H×W tensor (float32 or float64), deep copy.
inline torch::Tensor from_mat(const cv::Mat& m) {
  CV_Assert(m.depth() == CV_32F || m.depth() == CV_64F);
  const cv::Mat c = m.isContinuous() ? m : m.clone();
  const auto dtype = m.depth() == CV_64F ? torch::kFloat64 : torch::kFloat32;
  return torch::from_blob(c.data, {c.rows, c.cols, c.channels()}, dtype)
      .permute({2, 0, 1})
      .contiguous()
      .clone();
}

}  // namespace strata::testing
