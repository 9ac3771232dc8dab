// A CUDA graph of one repeated step (an optimisation iteration): recorded once, replayed with
// one launch, so a step of hundreds of small kernels costs no host time per kernel. Works only in
// builds with LibTorch CUDA and strata's CUDA code (StepGraph::supported()); callers keep an
// eager path. The step must be capture-safe: no host synchronisation, static shapes, inputs and
// outputs at fixed addresses between replays (the tensors it creates live in the graph's pool).
#pragma once

#include <torch/types.h>

#include <functional>
#include <memory>

namespace strata {

class StepGraph {
 public:
  /// True when this build can capture CUDA graphs.
  static bool supported();

  /// A graph for work on `device` (a CUDA device); throws strata::Error if !supported().
  explicit StepGraph(torch::Device device);
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  /// Runs `step` eagerly on the graph's side stream and waits for it (warm-up before capture:
  /// library handles, workspaces and lazily built state must exist before recording).
  void warm_up(const std::function<void()>& step);
  /// Records `step` on the side stream; nothing runs until replay().
  void capture(const std::function<void()>& step);
  /// Runs the recorded step (in order with the current stream's work).
  void replay();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Work queued beside the current stream's: run() queues `work` on a second stream of the device
/// after everything queued so far on the current stream, without waiting; join() makes the
/// current stream wait for it. Inside a CUDA graph capture the work becomes a parallel branch of
/// the graph. Tensors the work reads must stay alive until join(); tensors it creates belong to
/// the branch's stream: use them on the current stream only after join() (the next run() waits
/// for the current stream, so their memory is not reused before). Without CUDA (CPU devices, or
/// builds without StepGraph::supported()), run() runs the work at once.
class StreamBranch {
 public:
  explicit StreamBranch(torch::Device device);
  ~StreamBranch();
  StreamBranch(const StreamBranch&) = delete;
  StreamBranch& operator=(const StreamBranch&) = delete;

  void run(const std::function<void()>& work);
  void join();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace strata
