// Every catalogued filter at 1920×1080 RGB with its default parameters, on CUDA (fp32 and fp16
// inputs) when a GPU is present, else on the CPU (fp32). Times are wall-clock per call with the
// device synchronised, after a warm-up call. On CUDA also the box filter (r = 8) and the guided
// filter (r = 8, eps = 0.01, gray and colour guide) in fp32, fp16 and fp16 channels-last, through
// the fused kernels (tiled and row-sweep schedules) and through the LibTorch-op path (the
// PyTorch-eager anchor), timed over 50 back-to-back calls per iteration so that the per-call
// launch/sync latency of one call does not dominate.
// Run: bench_filter_device [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <chrono>
#include <string>
#include <utility>

#include "strata/filter/box.hpp"
#include "strata/filter/common.hpp"
#include "strata/filter/guided.hpp"
#include "strata/filter/registry.hpp"

namespace {

torch::Tensor test_image(torch::Device device, torch::ScalarType dtype) {
  torch::manual_seed(0);
  return torch::rand({1, 3, 1080, 1920}).to(device, dtype);
}

void sync(torch::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

void run(benchmark::State& state, const strata::filter::FilterSpec* spec, torch::Device device,
         torch::ScalarType dtype) {
  torch::NoGradGuard no_grad;
  const torch::Tensor img = test_image(device, dtype);
  strata::filter::run_filter(*spec, img, {}, {});  // warm-up (allocator, kernels, plans)
  sync(device);
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(strata::filter::run_filter(*spec, img, {}, {}));
    sync(device);
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    state.SetIterationTime(elapsed.count());
  }
  state.SetItemsProcessed(state.iterations() * 1920 * 1080);
}

enum class Layout { Contiguous, ChannelsLast };

/// Which implementation runs: strata's fused kernels with their default schedule (the tiled kernel
/// for r ≤ 16), the fused kernels forced to the row sweep, or the LibTorch-op path.
enum class Path { Fused, Sweep, TensorOps };

/// guide_channels 0: box filter (r 8); 1 or 3: guided filter (r 8, eps 0.01) with the image's
/// channel mean or the image itself as the guide.
void run_batched(benchmark::State& state, int guide_channels, torch::ScalarType dtype,
                 Layout layout, Path path) {
  torch::NoGradGuard no_grad;
  const torch::Device device(torch::kCUDA, 0);
  auto img = test_image(device, dtype);
  auto guide = guide_channels == 3 ? img : img.mean(1, true);
  if (layout == Layout::ChannelsLast) {
    img = img.contiguous(torch::MemoryFormat::ChannelsLast);
    guide = guide.contiguous(torch::MemoryFormat::ChannelsLast);
  }
  strata::filter::use_fused_kernels(path != Path::TensorOps);
  strata::filter::set_fused_schedule(path == Path::Sweep ? strata::filter::FusedSchedule::Sweep
                                                         : strata::filter::FusedSchedule::Auto);
  const auto call = [&] {
    return guide_channels == 0 ? strata::filter::box_filter(img, 8)
                               : strata::filter::guided_filter(img, guide, 8, 1e-2);
  };
  constexpr int kCalls = 50;
  call();
  sync(device);
  double host = 0.0;  // time to enqueue the calls (the CPU side of the launches)
  while (state.KeepRunningBatch(kCalls)) {  // the batch's time is shared by its kCalls calls
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; ++i) benchmark::DoNotOptimize(call());
    host += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    sync(device);
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    state.SetIterationTime(elapsed.count());
  }
  state.counters["host_us"] = 1e6 * host / static_cast<double>(state.iterations());
  strata::filter::use_fused_kernels(true);
  strata::filter::set_fused_schedule(strata::filter::FusedSchedule::Auto);
  state.SetItemsProcessed(state.iterations() * 1920 * 1080);
}

void register_batched_variants() {
  struct Variant {
    const char* name;
    torch::ScalarType dtype;
    Layout layout;
  };
  const Variant variants[] = {{"fp32", torch::kFloat32, Layout::Contiguous},
                              {"fp16", torch::kFloat16, Layout::Contiguous},
                              {"fp16-channels-last", torch::kFloat16, Layout::ChannelsLast}};
  const std::pair<Path, const char*> paths[] = {
      {Path::Fused, "fused/"}, {Path::Sweep, "sweep/"}, {Path::TensorOps, "tensor-ops/"}};
  const char* kinds[] = {"box-r8/cuda/", "guided-gray-guide/cuda/", "guided-colour-guide/cuda/"};
  for (const int guide : {0, 1, 3})
    for (const auto& [path, path_name] : paths) {
      if (path != Path::TensorOps && !strata::filter::fused_kernels_built()) continue;
      for (const auto& v : variants) {
        const std::string name = std::string(kinds[guide == 3 ? 2 : guide]) + path_name + v.name;
        benchmark::RegisterBenchmark(name.c_str(), run_batched, guide, v.dtype, v.layout, path)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond)
            ->MinTime(0.3);
      }
    }
}

void register_all() {
  const bool cuda = torch::cuda::is_available();
  const torch::Device device = cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  for (const auto& spec : strata::filter::filter_catalogue())
    for (auto dtype : {torch::kFloat32, torch::kFloat16}) {
      if (!cuda && dtype == torch::kFloat16) continue;
      const std::string name =
          spec.name + (cuda ? "/cuda/" : "/cpu/") + (dtype == torch::kFloat32 ? "fp32" : "fp16");
      benchmark::RegisterBenchmark(name.c_str(), run, &spec, device, dtype)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond)
          ->MinTime(0.3);
    }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  register_all();
  if (torch::cuda::is_available()) register_batched_variants();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
