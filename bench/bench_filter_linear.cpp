// Linear and guided filters on a 1920×1080 RGB float image: strata side by side with OpenCV
// (cv::boxFilter, cv::GaussianBlur, cv::ximgproc::guidedFilter with 1- and 3-channel guides).
// Both libraries run on 2 threads (torch::set_num_threads, cv::setNumThreads) for a fair
// comparison. On a shared machine LibTorch's OpenMP workers spin between ops and glibc returns
// freed tensors over 32 MB to the OS; OMP_WAIT_POLICY=passive and MALLOC_MMAP_THRESHOLD_ /
// MALLOC_TRIM_THRESHOLD_ set high make the strata numbers far less load-dependent (OpenCV is
// unaffected). Report the load with the numbers.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "bench_threads.hpp"

#include "strata/filter/box.hpp"
#include "strata/filter/guided.hpp"

#ifdef STRATA_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/ximgproc.hpp>
#endif

namespace {

namespace sf = strata::filter;

constexpr std::int64_t kWidth = 1920;
constexpr std::int64_t kHeight = 1080;
constexpr int kRadius = 8;
constexpr double kEps = 0.01;
constexpr double kSigma = 2.0;

const bool kThreadsSet = strata::bench::use_benchmark_threads();

torch::Tensor test_image() {
  torch::manual_seed(0);
  return torch::rand({3, kHeight, kWidth});
}

torch::Tensor gray_of(const torch::Tensor& rgb) { return rgb.mean(0, true); }

void set_pixels(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * kWidth * kHeight);
}

// ---- strata ----------------------------------------------------------------------------------

void BM_StrataBox(benchmark::State& state) {
  const auto image = test_image();
  for (auto _ : state) benchmark::DoNotOptimize(sf::box_filter(image, kRadius));
  set_pixels(state);
}
BENCHMARK(BM_StrataBox)->Unit(benchmark::kMillisecond);

// The tensor-op box path that CUDA and autograd take, timed on CPU for comparison.
void BM_StrataBoxTensorOps(benchmark::State& state) {
  const auto image = test_image().requires_grad_(true);
  for (auto _ : state) benchmark::DoNotOptimize(sf::box_filter(image, kRadius));
  set_pixels(state);
}
BENCHMARK(BM_StrataBoxTensorOps)->Unit(benchmark::kMillisecond);

void BM_StrataGaussian(benchmark::State& state) {
  const auto image = test_image();
  for (auto _ : state) benchmark::DoNotOptimize(sf::gaussian_blur(image, kSigma));
  set_pixels(state);
}
BENCHMARK(BM_StrataGaussian)->Unit(benchmark::kMillisecond);

void BM_StrataGuided(benchmark::State& state, bool colour_guide) {
  const auto image = test_image();
  const auto guide = colour_guide ? image : gray_of(image);
  for (auto _ : state) benchmark::DoNotOptimize(sf::guided_filter(image, guide, kRadius, kEps));
  set_pixels(state);
}
BENCHMARK_CAPTURE(BM_StrataGuided, gray_guide, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_StrataGuided, colour_guide, true)->Unit(benchmark::kMillisecond);

void BM_StrataFastGuided(benchmark::State& state, bool colour_guide) {
  const auto image = test_image();
  const auto guide = colour_guide ? image : gray_of(image);
  for (auto _ : state)
    benchmark::DoNotOptimize(sf::fast_guided_filter(image, guide, kRadius, kEps, 4));
  set_pixels(state);
}
BENCHMARK_CAPTURE(BM_StrataFastGuided, colour_guide_s4, true)->Unit(benchmark::kMillisecond);

void BM_StrataWeightedGuided(benchmark::State& state) {
  const auto image = test_image();
  for (auto _ : state)
    benchmark::DoNotOptimize(sf::weighted_guided_filter(image, image, kRadius, kEps));
  set_pixels(state);
}
BENCHMARK(BM_StrataWeightedGuided)->Unit(benchmark::kMillisecond);

void BM_StrataUmgf(benchmark::State& state) {
  const auto image = test_image();
  for (auto _ : state)
    benchmark::DoNotOptimize(sf::unsharp_mask_guided_filter(image, image, kRadius, kEps));
  set_pixels(state);
}
BENCHMARK(BM_StrataUmgf)->Unit(benchmark::kMillisecond);

// ---- OpenCV ----------------------------------------------------------------------------------

#ifdef STRATA_HAVE_OPENCV
// OpenCV works on interleaved H×W×C data; the tensor must outlive the header.
struct MatImage {
  torch::Tensor hwc;
  cv::Mat mat;
};

MatImage as_mat(const torch::Tensor& chw) {
  MatImage m{chw.permute({1, 2, 0}).contiguous(), {}};
  m.mat = cv::Mat(static_cast<int>(kHeight), static_cast<int>(kWidth),
                  CV_32FC(static_cast<int>(chw.size(0))), m.hwc.data_ptr<float>());
  return m;
}

void BM_OpenCVBox(benchmark::State& state) {
  const auto image = as_mat(test_image());
  cv::Mat out;
  for (auto _ : state) {
    cv::boxFilter(image.mat, out, -1, cv::Size(2 * kRadius + 1, 2 * kRadius + 1));
    benchmark::DoNotOptimize(out.data);
  }
  set_pixels(state);
}
BENCHMARK(BM_OpenCVBox)->Unit(benchmark::kMillisecond);

void BM_OpenCVGaussian(benchmark::State& state) {
  const auto image = as_mat(test_image());
  const int k = 2 * static_cast<int>(std::ceil(3.0 * kSigma)) + 1;
  cv::Mat out;
  for (auto _ : state) {
    cv::GaussianBlur(image.mat, out, cv::Size(k, k), kSigma, kSigma, cv::BORDER_REFLECT_101);
    benchmark::DoNotOptimize(out.data);
  }
  set_pixels(state);
}
BENCHMARK(BM_OpenCVGaussian)->Unit(benchmark::kMillisecond);

void BM_OpenCVGuided(benchmark::State& state, bool colour_guide) {
  const auto rgb = test_image();
  const auto image = as_mat(rgb);
  const auto guide = as_mat(colour_guide ? rgb : gray_of(rgb));
  cv::Mat out;
  for (auto _ : state) {
    cv::ximgproc::guidedFilter(guide.mat, image.mat, out, kRadius, kEps);
    benchmark::DoNotOptimize(out.data);
  }
  set_pixels(state);
}
BENCHMARK_CAPTURE(BM_OpenCVGuided, gray_guide, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_OpenCVGuided, colour_guide, true)->Unit(benchmark::kMillisecond);
#endif

}  // namespace

BENCHMARK_MAIN();
