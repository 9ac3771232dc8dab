// CUDA graphs of inference stages: a network stage (a Sequential run by forward_fused) on one
// input shape is recorded once and then replayed with one launch, so that a stage of a hundred
// small kernels costs no host time per kernel (HIPe at 480×320 was bound by the launches).
#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace strata::nn {

/// A cache of recorded stages, keyed by the stage and its input's shape, strides, dtype and
/// device. run(stage, x) is forward_fused(stage, x): eager on the first call of a key, recorded
/// and replayed from the second on. Replays only where capture is safe: builds with CUDA graphs
/// (StepGraph::supported()), x on CUDA with no overlapping elements, no autograd and no
/// inference mode, the stage and all its layers in eval() mode; elsewhere always eager. A
/// recorded stage holds the stage alive and is recorded again if its parameters or buffers moved
/// or changed layout (e.g. after module->to(dtype)); in-place changes of their values are seen by
/// the replays. A recording that fails throws and is tried again on the next call.
///
/// Memory: each recorded stage keeps its input, output and intermediate activations in its own
/// pool (not measured; one 64-channel fp16 activation of HIPe's peeler at 1080p is 265 MB); the
/// least recently used key is
/// dropped beyond `capacity`, clear() drops all. Replays run on the current stream; use one
/// cache per stream. Not thread-safe: recording sets CUDA's capture mode for the process, so do
/// not record from two threads at once.
class StageGraphs {
 public:
  explicit StageGraphs(std::size_t capacity = 32);
  ~StageGraphs();
  StageGraphs(const StageGraphs&) = delete;
  StageGraphs& operator=(const StageGraphs&) = delete;

  /// forward_fused(stage, x), from a replay where possible (a fresh tensor either way).
  torch::Tensor run(torch::nn::Sequential& stage, const torch::Tensor& x);

  /// Drops every recording (and its memory).
  void clear();

  /// Stages recorded so far (for tests and statistics).
  std::int64_t recorded() const { return recorded_; }
  /// Calls answered by a replay so far.
  std::int64_t replayed() const { return replayed_; }
  /// Stages and shapes held now.
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry;
  Entry& find_or_add(torch::nn::Sequential& stage, const torch::Tensor& x);
  std::size_t capacity_;
  std::int64_t tick_ = 0, recorded_ = 0, replayed_ = 0;
  std::vector<std::unique_ptr<Entry>> entries_;
};

}  // namespace strata::nn
