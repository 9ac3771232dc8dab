// Edge-preserving filters on a 1920×1080 RGB float image, 2 threads: strata's bilateral, rolling
// guidance and L0 smoothing side by side with OpenCV's cv::bilateralFilter and
// cv::ximgproc::rollingGuidanceFilter / l0Smooth as the anchor.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "bench_threads.hpp"

#include <vector>

#include "strata/filter/bilateral.hpp"
#include "strata/filter/global.hpp"

#ifdef STRATA_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/ximgproc.hpp>
#endif

namespace {

constexpr std::int64_t kWidth = 1920;
constexpr std::int64_t kHeight = 1080;
constexpr double kSigmaS = 3.0;
constexpr double kSigmaR = 0.1;
constexpr int kRgfIterations = 4;
constexpr double kLambda = 0.02;
constexpr double kKappa = 2.0;

/// Smooth regions plus noise, so that the range weights and the L0 thresholds do real work.
torch::Tensor test_image() {
  torch::manual_seed(0);
  const torch::Tensor coarse = torch::rand({1, 3, kHeight / 16, kWidth / 16});
  namespace F = torch::nn::functional;
  const torch::Tensor smooth =
      F::interpolate(coarse, F::InterpolateFuncOptions()
                                 .size(std::vector<std::int64_t>{kHeight, kWidth})
                                 .mode(torch::kBilinear)
                                 .align_corners(false))[0];
  return (smooth + 0.05 * torch::randn({3, kHeight, kWidth})).clamp_(0, 1);
}

void set_pixels(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * kHeight * kWidth);
}

template <typename Filter>
void BM_Strata(benchmark::State& state, Filter filter) {
  const torch::Tensor image = test_image();
  for (auto _ : state) benchmark::DoNotOptimize(filter(image));
  set_pixels(state);
}

torch::Tensor strata_bilateral(const torch::Tensor& x) {
  return strata::filter::bilateral_filter(x, kSigmaS, kSigmaR);
}
torch::Tensor strata_rgf(const torch::Tensor& x) {
  return strata::filter::rolling_guidance_filter(x, kSigmaS, kSigmaR, kRgfIterations);
}
torch::Tensor strata_l0(const torch::Tensor& x) {
  return strata::filter::l0_smooth(x, {kLambda, kKappa});
}

BENCHMARK_CAPTURE(BM_Strata, bilateral, strata_bilateral)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Strata, rolling_guidance, strata_rgf)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Strata, l0_smooth, strata_l0)->Unit(benchmark::kMillisecond)->Iterations(1);

#ifdef STRATA_HAVE_OPENCV
template <typename Filter>
void BM_OpenCV(benchmark::State& state, Filter filter) {
  // OpenCV works on interleaved H×W×C data.
  const torch::Tensor hwc = test_image().permute({1, 2, 0}).contiguous();
  const cv::Mat image(static_cast<int>(kHeight), static_cast<int>(kWidth), CV_32FC3,
                      hwc.data_ptr<float>());
  cv::Mat out;
  for (auto _ : state) {
    filter(image, out);
    benchmark::DoNotOptimize(out.data);
  }
  set_pixels(state);
}

void cv_bilateral(const cv::Mat& x, cv::Mat& out) {
  cv::bilateralFilter(x, out, -1, kSigmaR, kSigmaS);
}
void cv_rgf(const cv::Mat& x, cv::Mat& out) {
  cv::ximgproc::rollingGuidanceFilter(x, out, -1, kSigmaR, kSigmaS, kRgfIterations);
}
void cv_l0(const cv::Mat& x, cv::Mat& out) { cv::ximgproc::l0Smooth(x, out, kLambda, kKappa); }

BENCHMARK_CAPTURE(BM_OpenCV, bilateral, cv_bilateral)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_OpenCV, rolling_guidance, cv_rgf)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_OpenCV, l0_smooth, cv_l0)->Unit(benchmark::kMillisecond)->Iterations(1);
#endif

}  // namespace

int main(int argc, char** argv) {
  strata::bench::use_benchmark_threads();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
