// The HIPe training loop (seed 000 §2.3; docs/hipe.md): RMSprop with linear learning-rate decay,
// random crops with flips, exact resume from checkpoints, CSV log.
#include "strata/train/hipe_trainer.hpp"

#include <ATen/Context.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/filter/gradient.hpp"
#include "strata/filter/registry.hpp"
#include "strata/models/hipe.hpp"
#include "strata/nn/weights.hpp"
#include "strata/train/edge_data.hpp"
#include "strata/train/hipe_losses.hpp"
#include "strata/train/rmsprop.hpp"

namespace strata::train {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::int64_t kLogEvery = 10;
// Images per teacher call when computing the targets: one image at a time, muGIF's 4 levels of
// the 300 BSDS500 images took about 455 s on an H100 (inferred from a cut-off run), in batches of
// 32 about 90 s.
constexpr int kTeacherBatch = 32;
constexpr double kProgressSeconds = 2.0;
const std::string kModelPrefix = "model.", kOptimizerPrefix = "rmsprop.";

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The parameter of a teacher filter that α_t sets.
std::string teacher_parameter(const std::string& teacher) {
  if (teacher == "mugif") return "alpha-t";
  check(teacher == "rtv" || teacher == "l0", "",
        "train: teacher must be mugif, rtv or l0, got '" + teacher + "'");
  return "lambda";
}

void check_options(const HipeTrainOptions& o) {
  check(!o.image_dirs.empty(), "", "train: give at least one image folder (--data)");
  check(!o.out_dir.empty(), "", "train: give an output folder (--out)");
  check(o.iterations >= 1 && o.batch >= 1 && o.levels >= 1, "",
        "train: iterations, batch and levels must be >= 1");
  check(o.lr > 0.0 && o.checkpoint_seconds > 0.0 && o.max_seconds >= 0.0, "",
        "train: lr and checkpoint interval must be > 0, the time limit >= 0");
  if (o.stage == HipeStage::Guider && o.teacher.empty())
    check(!o.gt_dirs.empty(), "",
          "train hipe-guider: give boundary folders (--gt), or a --teacher filter");
  check(o.teacher_alpha >= 0.0 && o.teacher_eta > 0.0, "",
        "train: teacher alpha must be >= 0 and eta > 0");
  if (!o.teacher.empty()) teacher_parameter(o.teacher);  // validates the name
  if (o.stage == HipeStage::Peeler)
    check(!o.guider_weights.empty(), "", "train hipe-peeler: give the trained guider (--guider)");
}

// The settings a checkpoint must share with the run that resumes it.
std::map<std::string, std::string> run_settings(const HipeTrainOptions& o) {
  return {{"model", hipe_model_name(o.stage)},
          {"seed", std::to_string(o.seed)},
          {"iterations", std::to_string(o.iterations)},
          {"batch", std::to_string(o.batch)},
          {"crop", std::to_string(o.crop)},
          {"levels", std::to_string(o.levels)},
          {"lr", std::to_string(o.lr)},
          {"teacher", o.teacher.empty() ? "none (unsupervised)" : o.teacher},
          {"teacher_alpha", std::to_string(o.teacher_alpha)},
          {"teacher_eta", std::to_string(o.teacher_eta)}};
}

void save_checkpoint(const std::string& path, const torch::nn::Module& model, const RmsProp& opt,
                     std::int64_t iteration, std::map<std::string, std::string> metadata) {
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& [name, t] : nn::module_state(model)) tensors[kModelPrefix + name] = t;
  for (const auto& [name, t] : opt.state()) tensors[kOptimizerPrefix + name] = t;
  metadata["iteration"] = std::to_string(iteration);
  nn::save_safetensors(path, tensors, metadata);
}

// Restores model and optimizer; returns the checkpoint's iteration.
std::int64_t load_checkpoint(const std::string& path, torch::nn::Module& model, RmsProp& opt,
                             const std::map<std::string, std::string>& settings) {
  const nn::Weights w = nn::load_safetensors(path);
  for (const auto& [key, value] : settings) {
    const auto it = w.metadata.find(key);
    check(it != w.metadata.end() && it->second == value, path,
          "checkpoint was made with " + key + " = " +
              (it == w.metadata.end() ? std::string("(none)") : it->second) + ", this run has " +
              value);
  }
  nn::Weights weights;
  std::map<std::string, torch::Tensor> state;
  for (const auto& [name, t] : w.tensors) {
    if (name.rfind(kModelPrefix, 0) == 0) weights.tensors[name.substr(kModelPrefix.size())] = t;
    if (name.rfind(kOptimizerPrefix, 0) == 0) state[name.substr(kOptimizerPrefix.size())] = t;
  }
  nn::load_module_weights(model, weights, path);
  opt.load_state(state);
  const auto it = w.metadata.find("iteration");
  check(it != w.metadata.end(), path, "checkpoint has no iteration");
  return std::stoll(it->second);
}

// The CSV log: a fresh one, or the resumed run's rows up to `iteration`.
std::ofstream open_log(const std::string& path, std::int64_t iteration, const std::string& header) {
  std::vector<std::string> keep = {header};
  if (iteration > 0 && path_exists(path)) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line))
      if (!line.empty() && std::stoll(line.substr(0, line.find(','))) <= iteration)
        keep.push_back(line);
  }
  std::ofstream out(path, std::ios::trunc);
  check(static_cast<bool>(out), path, "cannot write the training log");
  for (const auto& line : keep) out << line << '\n';
  out.flush();
  return out;
}

struct StepLoss {
  torch::Tensor total;
  std::vector<torch::Tensor> parts;  // logged after the total
};

// The batch's precomputed teacher levels (EdgeDataset::precompute_targets), one per level.
const std::vector<torch::Tensor>& teacher_levels(const Batch& b, const HipeTrainOptions& o) {
  check(b.targets.size() == static_cast<std::size_t>(o.levels), "",
        "train: the batch has " + std::to_string(b.targets.size()) + " teacher levels, not " +
            std::to_string(o.levels));
  return b.targets;
}

// Guider targets: the gradients of the teacher's levels (supervised), or the recursion on the
// input's gradient and the human boundaries (unsupervised).
StepLoss guider_step(models::HipeGuider& guider, const Batch& b, const HipeTrainOptions& o) {
  const auto maps = guider->forward(b.images, o.levels);
  std::vector<torch::Tensor> targets;
  if (o.teacher.empty())
    targets = guider_targets(b.images, b.edges, o.levels);
  else
    for (const auto& level : teacher_levels(b, o)) targets.push_back(filter::gradient_l1(level));
  return {guider_loss(maps, targets), {}};
}

// Full backpropagation through the recurrence I^t = I^{t-1} − P(I^{t-1}, G^t).
StepLoss peeler_step(models::HipeGuider& guider, models::HipePeeler& peeler, const Batch& b,
                     const HipeTrainOptions& o) {
  std::vector<torch::Tensor> maps;
  {
    torch::NoGradGuard frozen;
    maps = guider->forward(b.images, o.levels);
  }
  std::vector<torch::Tensor> outputs;
  auto current = b.images;
  for (const auto& g : maps) {
    current = current - peeler->forward(current, g);
    outputs.push_back(current);
  }
  // Supervised: the teacher's levels; unsupervised: I^t_F := I (paper §2.3).
  const auto targets = o.teacher.empty() ? std::vector<torch::Tensor>(outputs.size(), b.images)
                                         : teacher_levels(b, o);
  const auto l = peeler_loss(outputs, targets, maps);
  return {l.total, {l.reconstruction, l.preservation, l.consistency}};
}

std::string join_metadata_dirs(const std::vector<std::string>& dirs) {
  std::string out;
  for (const auto& d : dirs) out += (out.empty() ? "" : ";") + d;
  return out;
}

}  // namespace

std::string hipe_model_name(HipeStage stage) {
  return stage == HipeStage::Guider ? "hipe-guider" : "hipe-peeler";
}

std::vector<torch::Tensor> teacher_targets(const torch::Tensor& images,
                                           const HipeTrainOptions& options) {
  const std::string parameter = teacher_parameter(options.teacher);
  const filter::FilterSpec& spec = filter::find_filter(options.teacher);
  double alpha = options.teacher_alpha;
  if (alpha <= 0.0)
    for (const auto& p : spec.params)
      if (p.name == parameter) alpha = p.default_value;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> levels;
  auto current = images;
  for (int t = 0; t < options.levels; ++t, alpha *= options.teacher_eta) {
    current =
        filter::run_filter(spec, current, {}, {{parameter, alpha}});  // I^t_F = F(I^{t-1}_F, α_t)
    levels.push_back(current);
  }
  return levels;
}

TrainSummary train_hipe(const HipeTrainOptions& o) {
  check_options(o);
  make_directories(o.out_dir);
  const bool guider_stage = o.stage == HipeStage::Guider;
  const bool needs_edges = guider_stage && o.teacher.empty();
  EdgeDataset data(o.image_dirs, needs_edges ? o.gt_dirs : std::vector<std::string>{}, o.crop);
  if (!o.teacher.empty())  // the teacher's levels of every whole image, once
    data.precompute_targets(
        [&o](const torch::Tensor& images) { return teacher_targets(images.to(o.device), o); },
        kTeacherBatch, o.on_teacher);
  at::globalContext().setDeterministicCuDNN(true);
  at::globalContext().setBenchmarkCuDNN(false);
  torch::manual_seed(static_cast<std::int64_t>(o.seed));
  models::HipeGuider guider;
  models::HipePeeler peeler;
  guider->to(o.device);
  peeler->to(o.device);
  if (!guider_stage) {
    nn::load_module_weights(*guider, nn::load_safetensors(o.guider_weights), o.guider_weights);
    guider->eval();
    for (auto& p : guider->parameters()) p.requires_grad_(false);
  }
  torch::nn::Module& model = guider_stage ? static_cast<torch::nn::Module&>(*guider)
                                          : static_cast<torch::nn::Module&>(*peeler);
  model.train();
  RmsProp optimizer(model, 0.9, 1e-8);

  const auto settings = run_settings(o);
  const std::string checkpoint = o.out_dir + "/checkpoint.safetensors";
  std::int64_t iteration = 0;
  if (o.resume && path_exists(checkpoint))
    iteration = load_checkpoint(checkpoint, model, optimizer, settings);
  auto log = open_log(o.out_dir + "/log.csv", iteration,
                      guider_stage ? "iteration,seconds,lr,loss"
                                   : "iteration,seconds,lr,loss,reconstruction,preservation,"
                                     "consistency");

  const auto start = Clock::now();
  auto last_checkpoint = start, last_progress = start;
  TrainProgress progress{iteration, o.iterations, std::nan(""), o.lr, 0.0, 0};
  std::vector<torch::Tensor> window;  // summed losses since the last log row (no host sync)
  std::int64_t window_count = 0;
  TrainSummary summary;
  const auto flush_window = [&](double lr) {
    if (window_count == 0) return;
    std::ostringstream row;
    row << iteration << ',' << seconds_since(start) << ',' << lr;
    for (std::size_t i = 0; i < window.size(); ++i) {
      const double v = window[i].item<double>() / static_cast<double>(window_count);
      if (i == 0) progress.loss = summary.last_loss = v;
      row << ',' << v;
    }
    log << row.str() << '\n';
    log.flush();
    window.clear();
    window_count = 0;
  };
  const auto report = [&] {
    progress.iteration = iteration;
    progress.seconds = seconds_since(start);
    if (o.on_progress) o.on_progress(progress);
    last_progress = Clock::now();
  };

  while (iteration < o.iterations) {
    const double lr =
        o.lr * (1.0 - static_cast<double>(iteration) / static_cast<double>(o.iterations));
    const Batch batch = data.sample(o.seed, iteration, o.batch, o.device);
    const StepLoss loss =
        guider_stage ? guider_step(guider, batch, o) : peeler_step(guider, peeler, batch, o);
    optimizer.zero_grad();
    loss.total.backward();
    optimizer.step(lr);
    ++iteration;
    ++progress.run_iterations;
    progress.lr = lr;
    std::vector<torch::Tensor> values = {loss.total.detach()};
    for (const auto& p : loss.parts) values.push_back(p.detach());
    for (std::size_t i = 0; i < values.size(); ++i)
      if (window.size() <= i)
        window.push_back(values[i].clone());
      else
        window[i] += values[i];
    ++window_count;
    if (iteration % kLogEvery == 0 || iteration == o.iterations) flush_window(lr);
    if (seconds_since(last_progress) >= kProgressSeconds) report();
    if (seconds_since(last_checkpoint) >= o.checkpoint_seconds) {
      save_checkpoint(checkpoint, model, optimizer, iteration, settings);
      last_checkpoint = Clock::now();
    }
    if (o.max_seconds > 0.0 && seconds_since(start) >= o.max_seconds) break;
    if (o.max_run_iterations > 0 && progress.run_iterations >= o.max_run_iterations) break;
  }
  flush_window(progress.lr);
  save_checkpoint(checkpoint, model, optimizer, iteration, settings);
  report();

  summary.iteration = iteration;
  summary.finished = iteration >= o.iterations;
  summary.weights_path = o.out_dir + "/" + hipe_model_name(o.stage) + ".safetensors";
  if (summary.finished) {
    auto metadata = o.metadata;
    for (const auto& [k, v] : settings) metadata[k] = v;
    metadata["data"] = join_metadata_dirs(o.image_dirs);
    if (needs_edges) metadata["boundaries"] = join_metadata_dirs(o.gt_dirs);
    metadata["final_loss"] = std::to_string(summary.last_loss);
    nn::save_module_weights(summary.weights_path, model, metadata);
  }
  return summary;
}

}  // namespace strata::train
