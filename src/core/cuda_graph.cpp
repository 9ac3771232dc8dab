#include "strata/core/cuda_graph.hpp"

#include <torch/torch.h>

#include "strata/core/error.hpp"

#ifdef STRATA_HAVE_CUDA_KERNELS
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace strata {

#ifdef STRATA_HAVE_CUDA_KERNELS

struct StepGraph::State {
  explicit State(c10::DeviceIndex index) : side(c10::cuda::getStreamFromPool(false, index)) {}
  c10::cuda::CUDAStream side;
  at::cuda::CUDAGraph graph;
  bool captured = false;
};

bool StepGraph::supported() { return true; }

StepGraph::StepGraph(torch::Device device) {
  check(device.is_cuda(), "", "StepGraph: needs a CUDA device");
  const c10::cuda::CUDAGuard guard(device);
  state_ = std::make_unique<State>(device.has_index() ? device.index()
                                                      : static_cast<c10::DeviceIndex>(0));
}

void StepGraph::warm_up(const std::function<void()>& step) {
  torch::cuda::synchronize();  // the side stream must see the current stream's work
  {
    const c10::cuda::CUDAStreamGuard on_side(state_->side);
    step();
  }
  torch::cuda::synchronize();
}

void StepGraph::capture(const std::function<void()>& step) {
  check(!state_->captured, "", "StepGraph: already captured");
  torch::cuda::synchronize();
  {
    const c10::cuda::CUDAStreamGuard on_side(state_->side);
    state_->graph.capture_begin();
    step();
    state_->graph.capture_end();
  }
  state_->captured = true;
}

void StepGraph::replay() {
  check(state_->captured, "", "StepGraph: nothing captured");
  state_->graph.replay();
}

struct StreamBranch::State {
  explicit State(c10::DeviceIndex index) : stream(c10::cuda::getStreamFromPool(false, index)) {}
  c10::cuda::CUDAStream stream;
  at::cuda::CUDAEvent forked, done;
  bool pending = false;
};

StreamBranch::StreamBranch(torch::Device device) {
  if (device.is_cuda())
    state_ =
        std::make_unique<State>(device.has_index() ? device.index() : c10::cuda::current_device());
}

void StreamBranch::run(const std::function<void()>& work) {
  if (!state_) return work();
  check(!state_->pending, "", "StreamBranch: run() twice without join()");
  state_->forked.record(c10::cuda::getCurrentCUDAStream(state_->stream.device_index()));
  state_->forked.block(state_->stream);
  {
    const c10::cuda::CUDAStreamGuard on_branch(state_->stream);
    work();
  }
  state_->pending = true;
}

void StreamBranch::join() {
  if (!state_ || !state_->pending) return;
  state_->done.record(state_->stream);
  state_->done.block(c10::cuda::getCurrentCUDAStream(state_->stream.device_index()));
  state_->pending = false;
}

#else

struct StepGraph::State {};
struct StreamBranch::State {};

StreamBranch::StreamBranch(torch::Device) {}
void StreamBranch::run(const std::function<void()>& work) { work(); }
void StreamBranch::join() {}

bool StepGraph::supported() { return false; }

StepGraph::StepGraph(torch::Device) {
  throw Error("", "CUDA graphs need a build with LibTorch CUDA and the CUDA kernels");
}

void StepGraph::warm_up(const std::function<void()>&) {}
void StepGraph::capture(const std::function<void()>&) {}
void StepGraph::replay() {}

#endif

StepGraph::~StepGraph() = default;
StreamBranch::~StreamBranch() = default;

}  // namespace strata
