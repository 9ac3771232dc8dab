// HIPe inference time per recurrence (guider step + peeler), from a full 4-level hipe_peel
// divided by 4 (the guider's head and body, run once, are included). CUDA: 1920×1080 and 480×320
// in fp32, fp16 and bf16, NCHW and channels-last; CPU: 481×321 fp32 on all cores. Random weights
// (the time does not depend on them); "-cudnn-benchmark" variants let cuDNN time its algorithms.
// Run: bench_hipe [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <chrono>
#include <string>
#include <thread>

#include "strata/core/device.hpp"
#include "strata/models/hipe.hpp"
#include "strata/nn/layout.hpp"

namespace {

constexpr int kLevels = 4;

struct Variant {
  const char* name;
  torch::ScalarType dtype;
  bool channels_last;
  bool cudnn_benchmark = false;  ///< let cuDNN time its algorithms per shape
};

void run(benchmark::State& state, torch::Device device, Variant v, std::int64_t h, std::int64_t w) {
  torch::NoGradGuard no_grad;
  at::globalContext().setBenchmarkCuDNN(v.cudnn_benchmark);
  if (device.is_cpu())
    torch::set_num_threads(static_cast<int>(std::thread::hardware_concurrency()));
  torch::manual_seed(0);
  strata::models::HipeGuider guider;
  strata::models::HipePeeler peeler;
  for (torch::nn::Module* m : {static_cast<torch::nn::Module*>(guider.get()),
                               static_cast<torch::nn::Module*>(peeler.get())}) {
    m->to(device, v.dtype);
    m->eval();
    if (v.channels_last) strata::nn::to_channels_last(*m);
  }
  const auto image = torch::rand({1, 3, h, w}).to(device);
  strata::models::PeelOptions options;
  options.levels = kLevels;
  options.dtype = v.dtype;
  options.channels_last = v.channels_last;
  const auto sync = [&device] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  strata::models::hipe_peel(guider, peeler, image, options);  // warm-up (cuDNN plans, allocator)
  sync();
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(strata::models::hipe_peel(guider, peeler, image, options));
    sync();
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / kLevels);
  }
}

void register_all() {
  if (torch::cuda::is_available()) {
    const Variant variants[] = {
        {"fp32", torch::kFloat32, false},
        {"fp32-channels-last", torch::kFloat32, true},
        {"fp16", torch::kFloat16, false},
        {"fp16-channels-last", torch::kFloat16, true},
        {"bf16-channels-last", torch::kBFloat16, true},
        {"fp32-cudnn-benchmark", torch::kFloat32, false, true},
        {"fp16-cudnn-benchmark", torch::kFloat16, false, true},
        {"fp16-channels-last-cudnn-benchmark", torch::kFloat16, true, true},
        {"bf16-channels-last-cudnn-benchmark", torch::kBFloat16, true, true}};
    for (const auto& [h, w] : {std::pair<int, int>{1080, 1920}, {320, 480}})
      for (const auto& v : variants) {
        const std::string name =
            "hipe-recurrence/cuda/" + std::to_string(w) + "x" + std::to_string(h) + "/" + v.name;
        benchmark::RegisterBenchmark(name.c_str(), run, torch::Device(torch::kCUDA), v, h, w)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond)
            ->MinTime(1.0);
      }
  }
  benchmark::RegisterBenchmark("hipe-recurrence/cpu/481x321/fp32", run, torch::Device(torch::kCPU),
                               Variant{"fp32", torch::kFloat32, false}, 321, 481)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(2);
}

}  // namespace

int main(int argc, char** argv) {
  strata::keep_freed_memory();  // as the strata CLI
  benchmark::Initialize(&argc, argv);
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
