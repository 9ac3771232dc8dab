// Training data for HIPe: images with (optional) human boundary maps, sampled as random crops with
// flips. Sampling is a pure function of (seed, iteration), so a resumed run sees the same batches.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace strata::train {

struct EdgeSample {
  torch::Tensor image;  ///< 3×H×W uint8
  torch::Tensor edges;  ///< 1×H×W uint8: mean of the annotators' boundary maps × 255 (or empty)
  torch::Tensor targets;  ///< L×3×H×W float16: per-image targets (precompute_targets), or empty
};

struct Batch {
  torch::Tensor images;  ///< N×3×S×S float in [0, 1]
  torch::Tensor edges;   ///< N×1×S×S float in [0, 1] (undefined without boundary maps)
  std::vector<torch::Tensor> targets;  ///< L of N×3×S×S float, cut as the images (or none)
};

class EdgeDataset {
 public:
  /// Images of `image_dirs` (all images found directly inside). With `gt_dirs` (same order and
  /// count), image <id>.<ext> pairs with the annotations <id>_<k>.png of the matching folder and
  /// images without any annotation are an error. Images smaller than `crop` are an error.
  EdgeDataset(const std::vector<std::string>& image_dirs, const std::vector<std::string>& gt_dirs,
              int crop);

  std::size_t size() const { return samples_.size(); }
  bool has_edges() const { return has_edges_; }

  /// Per-image targets, e.g. a teacher filter's levels of the whole image: levels(images) for
  /// batches of up to `batch` images of one size (N×3×H×W float in [0, 1]) gives L batches of
  /// that shape, kept in float16 and cut with each image by sample(). `on_images(done, total)`
  /// after each batch, if given.
  void precompute_targets(
      const std::function<std::vector<torch::Tensor>(const torch::Tensor&)>& levels, int batch,
      const std::function<void(std::size_t, std::size_t)>& on_images = {});

  /// `batch` random crops (crop × crop), each flipped horizontally and/or vertically with
  /// probability 1/2, for training step `iteration`; on `device`.
  Batch sample(std::uint64_t seed, std::int64_t iteration, int batch,
               const torch::Device& device) const;

 private:
  std::vector<EdgeSample> samples_;
  int crop_;
  bool has_edges_;
};

}  // namespace strata::train
