// Training HIPe (seed 000 §2.3): the guider first, then the peeler with the guider frozen.
// Checkpoints hold weights, optimizer state and the iteration; data sampling depends only on
// (seed, iteration), so `resume` continues exactly where a run stopped.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace strata::train {

enum class HipeStage { Guider, Peeler };

struct TrainProgress {
  std::int64_t iteration = 0, iterations = 0;
  double loss = 0.0;  ///< mean over the iterations since the last report
  double lr = 0.0;
  double seconds = 0.0;             ///< of this run (not counting earlier runs before a resume)
  std::int64_t run_iterations = 0;  ///< iterations done in this run
};

struct HipeTrainOptions {
  HipeStage stage = HipeStage::Guider;
  std::vector<std::string> image_dirs;
  std::vector<std::string> gt_dirs;  ///< boundary maps, one folder per image folder (guider)
  std::string out_dir;
  std::string guider_weights;  ///< the trained guider (peeler stage)
  /// Supervised mode ("Ours-S"): a strata filter producing the targets I^t_F = F(I^{t-1}_F, α_t)
  /// with α_{t+1} = η·α_t (mugif as the paper, rtv or l0), computed once per training image on
  /// the whole image when training starts and cut with each crop. Empty: unsupervised (guider
  /// targets from human boundaries, I^t_F = I).
  std::string teacher;
  double teacher_alpha = 0.0;  ///< α_1; 0: the teacher's default (mugif α_t, rtv/l0 λ)
  double teacher_eta = 2.0;    ///< η
  std::int64_t iterations = 20000;
  int batch = 4;
  int crop = 256;
  int levels = 4;
  double lr = 1e-3;  ///< RMSprop, decaying linearly to 0 at `iterations`
  double checkpoint_seconds = 120.0;
  double max_seconds = 0.0;  ///< stop (after a checkpoint) once this run took this long; 0: never
  std::int64_t max_run_iterations = 0;  ///< stop this run after this many steps; 0: no limit
  bool resume = false;
  std::uint64_t seed = 0;
  torch::Device device = torch::kCPU;
  std::function<void(const TrainProgress&)> on_progress;  ///< called every ~2 s and at the end
  /// Called while the teacher's levels are computed, after each batch of images (done, total).
  std::function<void(std::size_t, std::size_t)> on_teacher;
  std::map<std::string, std::string> metadata;  ///< extra metadata for the weights file
};

struct TrainSummary {
  std::int64_t iteration = 0;  ///< iterations done in total
  bool finished = false;       ///< reached `iterations`; the final weights file is written
  double last_loss = 0.0;
  std::string weights_path;  ///< out_dir/hipe-guider.safetensors or hipe-peeler.safetensors
};

/// Trains one stage. Writes out_dir/checkpoint.safetensors (every checkpoint_seconds and when the
/// run stops), out_dir/log.csv (iteration, seconds, lr, loss and its parts) and, when finished,
/// the weights file with its metadata. Throws strata::Error on bad data or options, or when
/// `resume` finds a checkpoint made with different settings.
TrainSummary train_hipe(const HipeTrainOptions& options);

/// "hipe-guider" or "hipe-peeler": the weights file's stem and its "model" metadata value.
std::string hipe_model_name(HipeStage stage);

/// The supervised targets I^1_F .. I^levels_F of a batch (N×3×H×W): I^t_F = F(I^{t-1}_F, α_t),
/// I^0_F = I, α_{t+1} = η·α_t, F the teacher filter of `options` (no gradient).
std::vector<torch::Tensor> teacher_targets(const torch::Tensor& images,
                                           const HipeTrainOptions& options);

}  // namespace strata::train
