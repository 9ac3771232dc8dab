// Global smoothers on RGB float images, 2 threads: relative total variation (tsmooth defaults) and
// muGIF (static reference = input, and self-guided), each reporting the PCG work it did (solves
// and iterations per call, the longest single solve); and the PCG iteration alone on both paths.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "filter/pcg.hpp"
#include "strata/filter/global.hpp"

namespace {

using strata::filter::detail::pcg_totals;
using strata::filter::detail::PcgTotals;

// A smooth random field plus fine noise: structure for the smoothers to keep, texture to remove.
torch::Tensor test_image(std::int64_t h, std::int64_t w) {
  torch::manual_seed(0);
  const auto coarse = torch::rand({1, 3, h / 16 + 1, w / 16 + 1});
  namespace F = torch::nn::functional;
  const auto smooth = F::interpolate(coarse, F::InterpolateFuncOptions()
                                                 .size(std::vector<std::int64_t>{h, w})
                                                 .mode(torch::kBilinear)
                                                 .align_corners(false));
  return (smooth[0] + 0.05 * torch::randn({3, h, w})).contiguous();
}

void report(benchmark::State& state, std::int64_t h, std::int64_t w) {
  const auto& totals = pcg_totals();
  const auto calls = static_cast<double>(state.iterations());
  state.counters["solves"] = static_cast<double>(totals.solves) / calls;
  state.counters["pcg_iters"] = static_cast<double>(totals.iterations) / calls;
  state.counters["max_iters"] = totals.max_iterations;
  state.SetItemsProcessed(state.iterations() * h * w);
}

template <class Filter>
void run(benchmark::State& state, Filter filter) {
  torch::set_num_threads(2);
  const auto h = state.range(0);
  const auto w = state.range(1);
  const auto image = test_image(h, w);
  pcg_totals() = PcgTotals{};
  for (auto _ : state) benchmark::DoNotOptimize(filter(image));
  report(state, h, w);
}

void BM_Rtv(benchmark::State& state) {
  run(state, [](const torch::Tensor& x) { return strata::filter::relative_total_variation(x); });
}

void BM_MugifStatic(benchmark::State& state) {
  run(state, [](const torch::Tensor& x) { return strata::filter::mutually_guided_filter(x, x); });
}

void BM_MugifSelf(benchmark::State& state) {
  strata::filter::MugifOptions o;
  o.alpha_reference = o.alpha_target;
  run(state,
      [o](const torch::Tensor& x) { return strata::filter::mutually_guided_filter(x, x, o); });
}

// PCG throughput alone: 50 iterations (no early exit) on a 1080p RGB system with weights like
// RTV's, on the fused CPU path or the tensor-op path CUDA runs. Reports wall ms per iteration
// (setup included).
void BM_Pcg50(benchmark::State& state, bool fused) {
  torch::set_num_threads(2);
  const auto b = test_image(1080, 1920).unsqueeze(0);
  torch::manual_seed(1);
  const strata::filter::detail::EdgeWeights w{torch::rand({1, 1, 1080, 1919}) * 250,
                                              torch::rand({1, 1, 1079, 1920}) * 250};
  strata::filter::detail::PcgOptions options;
  options.tolerance = 1e-30;
  options.max_iterations = 50;
  options.fused_cpu = fused;
  double seconds = 0.0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(strata::filter::detail::solve(b, w, options));
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  state.counters["ms_per_iter"] =
      1000.0 * seconds / (50.0 * static_cast<double>(state.iterations()));
}
BENCHMARK_CAPTURE(BM_Pcg50, fused_cpu, true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Pcg50, tensor_ops, false)->Unit(benchmark::kMillisecond);

#define STRATA_GLOBAL_BENCH(fn)                                   \
  BENCHMARK(fn)->Args({321, 481})->Unit(benchmark::kMillisecond); \
  BENCHMARK(fn)->Args({1080, 1920})->Iterations(1)->Unit(benchmark::kMillisecond)

STRATA_GLOBAL_BENCH(BM_Rtv);
STRATA_GLOBAL_BENCH(BM_MugifStatic);
STRATA_GLOBAL_BENCH(BM_MugifSelf);

}  // namespace

BENCHMARK_MAIN();
