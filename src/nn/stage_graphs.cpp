#include "strata/nn/stage_graphs.hpp"

#include <torch/torch.h>

#include <algorithm>

#include "strata/core/cuda_graph.hpp"
#include "strata/nn/layers.hpp"

namespace strata::nn {

namespace {

// A parameter's or buffer's memory and layout, as a recording reads them.
struct TensorPlace {
  const void* data;
  torch::ScalarType dtype;
  std::vector<std::int64_t> sizes, strides;
  bool holds(const torch::Tensor& t) const {
    return t.data_ptr() == data && t.scalar_type() == dtype && t.sizes() == sizes &&
           t.strides() == strides;
  }
};

// What a recording fixes about its input.
struct InputLayout {
  std::vector<std::int64_t> sizes, strides;
  torch::ScalarType dtype;
  torch::Device device;
  explicit InputLayout(const torch::Tensor& x)
      : sizes(x.sizes().vec()),
        strides(x.strides().vec()),
        dtype(x.scalar_type()),
        device(x.device()) {}
  bool fits(const torch::Tensor& x) const {
    return x.sizes() == sizes && x.strides() == strides && x.scalar_type() == dtype &&
           x.device() == device;
  }
};

// Calls `visit` with every parameter and buffer of the stage, in a fixed order.
template <typename Visit>
void for_each_tensor(torch::nn::Sequential& stage, Visit&& visit) {
  for (const auto& p : stage->parameters()) visit(p);
  for (const auto& b : stage->buffers()) visit(b);
}

std::vector<TensorPlace> places_of(torch::nn::Sequential& stage) {
  std::vector<TensorPlace> where;
  for_each_tensor(stage, [&where](const torch::Tensor& t) {
    where.push_back({t.data_ptr(), t.scalar_type(), t.sizes().vec(), t.strides().vec()});
  });
  return where;
}

// Whether the stage's parameters and buffers are still where they were recorded (builds no
// places: this runs on every call).
bool still_at(torch::nn::Sequential& stage, const std::vector<TensorPlace>& where) {
  std::size_t i = 0;
  bool same = true;
  for_each_tensor(stage, [&](const torch::Tensor& t) {
    same = same && i < where.size() && where[i].holds(t);
    ++i;
  });
  return same && i == where.size();
}

// Whether the stage or any of its layers is in training mode (where a layer may behave
// differently per call, e.g. dropout, or update running statistics).
bool training(torch::nn::Sequential& stage) {
  for (const auto& m : stage->modules(/*include_self=*/true))
    if (m->is_training()) return true;
  return false;
}

}  // namespace

struct StageGraphs::Entry {
  std::shared_ptr<torch::nn::SequentialImpl> stage;  // kept alive: the graph reads its tensors
  InputLayout layout;
  std::vector<TensorPlace> places;  // where its parameters and buffers were
  torch::Tensor input{}, output{};  // the graph's fixed input and output, once recorded
  std::unique_ptr<StepGraph> graph{};
  std::int64_t calls = 0, last_used = 0;
};

StageGraphs::StageGraphs(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

StageGraphs::~StageGraphs() = default;

void StageGraphs::clear() { entries_.clear(); }

StageGraphs::Entry& StageGraphs::find_or_add(torch::nn::Sequential& stage, const torch::Tensor& x) {
  for (auto& e : entries_) {
    if (e->stage.get() != stage.ptr().get() || !e->layout.fits(x)) continue;
    if (!still_at(stage, e->places))  // moved parameters: start this key afresh
      e = std::make_unique<Entry>(Entry{stage.ptr(), InputLayout(x), places_of(stage)});
    return *e;
  }
  if (entries_.size() >= capacity_)  // drop the least recently used
    entries_.erase(
        std::min_element(entries_.begin(), entries_.end(),
                         [](const auto& a, const auto& b) { return a->last_used < b->last_used; }));
  entries_.push_back(std::make_unique<Entry>(Entry{stage.ptr(), InputLayout(x), places_of(stage)}));
  return *entries_.back();
}

torch::Tensor StageGraphs::run(torch::nn::Sequential& stage, const torch::Tensor& x) {
  if (!StepGraph::supported() || !x.is_cuda() || torch::GradMode::is_enabled() ||
      c10::InferenceMode::is_enabled() || !x.is_non_overlapping_and_dense() || training(stage))
    return forward_fused(stage, x);
  auto& e = find_or_add(stage, x);
  e.last_used = ++tick_;
  // The first call runs eagerly: it builds cuDNN's plans and workspaces, which must exist
  // before recording.
  if (++e.calls == 1) return forward_fused(stage, x);
  if (!e.graph) {  // kept only once recorded: a failed recording is tried again next call
    e.input = torch::empty_strided(x.sizes(), x.strides(), x.options());
    auto graph = std::make_unique<StepGraph>(x.device());
    graph->capture([&e, &stage] { e.output = forward_fused(stage, e.input); });
    e.graph = std::move(graph);
    ++recorded_;
  }
  e.input.copy_(x);
  e.graph->replay();
  ++replayed_;
  return e.output.clone();
}

}  // namespace strata::nn
