// HIPe inference time per recurrence (guider step + peeler), from a full 4-level hipe_peel
// divided by 4 (the guider's head and body, run once, are included). CUDA: 1920×1080 and 480×320
// in fp32, fp16 and bf16, NCHW and channels-last; CPU: 481×321 fp32 on all cores. Random weights
// (the time does not depend on them). "-tuned": cuDNN times its algorithms for each shape on the
// first call; LibTorch then keeps them for the process, so run such variants in a process of
// their own (--benchmark_filter) to compare them with the untuned ones. "-graphs": the stages
// replay CUDA graphs.
// Run: bench_hipe [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "strata/core/device.hpp"
#include "strata/models/hipe.hpp"
#include "strata/nn/layout.hpp"
#include "strata/nn/stage_graphs.hpp"

namespace {

constexpr int kLevels = 4;

struct Variant {
  const char* name;
  torch::ScalarType dtype;
  bool channels_last;
  bool tune = false;    ///< PeelOptions::tune_convolutions: cuDNN times its algorithms per shape
  bool graphs = false;  ///< replay the stages from CUDA graphs (kept across peelings)
};

void run(benchmark::State& state, torch::Device device, Variant v, std::int64_t h, std::int64_t w) {
  torch::NoGradGuard no_grad;
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
  options.tune_convolutions = v.tune;
  if (v.graphs) options.graphs = std::make_shared<strata::nn::StageGraphs>();
  const auto sync = [&device] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  // Warm-up: cuDNN's plans (timed, when tuned), the allocator, the graphs' recording. The first
  // two peelings of the process are timed on stderr: their one-off costs, beside the steady time.
  static int peelings_timed = 0;
  for (int i = 0; i < 2; ++i) {
    const auto start = std::chrono::steady_clock::now();
    strata::models::hipe_peel(guider, peeler, image, options);
    sync();
    if (peelings_timed < 2)
      std::fprintf(
          stderr, "%s %s %dx%d: peeling %d of the process took %.1f ms\n", device.str().c_str(),
          v.name, static_cast<int>(w), static_cast<int>(h), ++peelings_timed,
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
  }
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
        {"fp32-channels-last-tuned", torch::kFloat32, true, true},
        {"fp16-channels-last-tuned", torch::kFloat16, true, true},
        {"bf16-channels-last-tuned", torch::kBFloat16, true, true},
        {"fp32-channels-last-tuned-graphs", torch::kFloat32, true, true, true},
        {"fp16-channels-last-tuned-graphs", torch::kFloat16, true, true, true}};
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
