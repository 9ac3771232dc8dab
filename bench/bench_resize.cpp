// Resize throughput on a 1920×1080 RGB float image: strata (bicubic, antialiased downscale)
// side by side with OpenCV cv::resize (INTER_AREA down, INTER_CUBIC up) as the anchor. Both run
// on 2 threads (torch::set_num_threads, cv::setNumThreads).
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "bench_threads.hpp"

#include "strata/image/resize.hpp"

#ifdef STRATA_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace {

constexpr std::int64_t kWidth = 1920;
constexpr std::int64_t kHeight = 1080;
const bool kThreadsSet = strata::bench::use_benchmark_threads();

torch::Tensor test_image() {
  torch::manual_seed(0);
  return torch::rand({3, kHeight, kWidth});
}

void set_pixels(benchmark::State& state, std::int64_t out_h, std::int64_t out_w) {
  state.SetItemsProcessed(state.iterations() * out_h * out_w);
  state.counters["out_w"] = static_cast<double>(out_w);
  state.counters["out_h"] = static_cast<double>(out_h);
}

void BM_Strata(benchmark::State& state, double scale) {
  const auto image = test_image();
  const auto out_h = static_cast<std::int64_t>(kHeight * scale);
  const auto out_w = static_cast<std::int64_t>(kWidth * scale);
  const strata::image::ResizeOptions options{strata::image::Interpolation::Bicubic, true};
  for (auto _ : state)
    benchmark::DoNotOptimize(strata::image::resize(image, out_h, out_w, options));
  set_pixels(state, out_h, out_w);
}
BENCHMARK_CAPTURE(BM_Strata, down_x0_5_bicubic_aa, 0.5)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Strata, up_x2_bicubic, 2.0)->Unit(benchmark::kMillisecond);

#ifdef STRATA_HAVE_OPENCV
void BM_OpenCV(benchmark::State& state, double scale, int interpolation) {
  // OpenCV works on interleaved H×W×C data.
  const auto hwc = test_image().permute({1, 2, 0}).contiguous();
  const cv::Mat image(static_cast<int>(kHeight), static_cast<int>(kWidth), CV_32FC3,
                      hwc.data_ptr<float>());
  const cv::Size size(static_cast<int>(kWidth * scale), static_cast<int>(kHeight * scale));
  cv::Mat out;
  for (auto _ : state) {
    cv::resize(image, out, size, 0, 0, interpolation);
    benchmark::DoNotOptimize(out.data);
  }
  set_pixels(state, size.height, size.width);
}
BENCHMARK_CAPTURE(BM_OpenCV, down_x0_5_area, 0.5, cv::INTER_AREA)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_OpenCV, up_x2_cubic, 2.0, cv::INTER_CUBIC)->Unit(benchmark::kMillisecond);
#endif

}  // namespace

BENCHMARK_MAIN();
