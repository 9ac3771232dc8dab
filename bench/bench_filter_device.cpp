// Every catalogued filter at 1920×1080 RGB with its default parameters, on CUDA (fp32 and fp16
// inputs) when a GPU is present, else on the CPU (fp32). Times are wall-clock per call with the
// device synchronised, after a warm-up call. Run: bench_filter_device [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <chrono>

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
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
