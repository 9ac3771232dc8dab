#include "strata/train/edge_data.hpp"

#include <torch/torch.h>

#include <random>
#include <string>

#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/image/codec.hpp"
#include "strata/image/tensor.hpp"

namespace strata::train {

namespace {

torch::Tensor to_u8(const torch::Tensor& x) {
  return x.mul(255.0).round_().clamp_(0, 255).to(torch::kUInt8);
}

// Mean of the boundary maps <id>_<k>.png (k = 1, 2, ...) in `dir`, 1×H×W in [0, 1].
torch::Tensor annotator_mean(const std::string& dir, const std::string& id,
                             const std::string& image) {
  torch::Tensor sum;
  int count = 0;
  for (int k = 1;; ++k) {
    const std::string path = dir + "/" + id + "_" + std::to_string(k) + ".png";
    if (!path_exists(path)) break;
    image::ReadOptions options;
    options.mode = image::ChannelMode::Gray;
    const auto map = image::read_image(path, options);
    sum = count == 0 ? map : sum + map;
    ++count;
  }
  check(count > 0, image, "no boundary annotation " + dir + "/" + id + "_1.png");
  return sum / static_cast<double>(count);
}

}  // namespace

EdgeDataset::EdgeDataset(const std::vector<std::string>& image_dirs,
                         const std::vector<std::string>& gt_dirs, int crop)
    : crop_(crop), has_edges_(!gt_dirs.empty()) {
  check(crop >= 16, "", "training crop must be at least 16 pixels");
  check(gt_dirs.empty() || gt_dirs.size() == image_dirs.size(), "",
        "give one boundary folder per image folder");
  for (std::size_t d = 0; d < image_dirs.size(); ++d)
    for (const auto& path : image::list_images(image_dirs[d])) {
      image::ReadOptions options;
      options.mode = image::ChannelMode::Rgb;
      const auto img = image::read_image(path, options);
      check(img.size(1) >= crop && img.size(2) >= crop, path,
            "smaller than the training crop " + std::to_string(crop));
      EdgeSample s{to_u8(img), {}};
      if (has_edges_) {
        s.edges = to_u8(annotator_mean(gt_dirs[d], stem_of(path), path));
        check(s.edges.size(1) == img.size(1) && s.edges.size(2) == img.size(2), path,
              "boundary map size differs from the image's");
      }
      samples_.push_back(std::move(s));
    }
  check(!samples_.empty(), "", "no training images found");
}

Batch EdgeDataset::sample(std::uint64_t seed, std::int64_t iteration, int batch,
                          const torch::Device& device) const {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(iteration));
  std::vector<torch::Tensor> images, edges;
  for (int b = 0; b < batch; ++b) {
    const auto& s =
        samples_[std::uniform_int_distribution<std::size_t>(0, samples_.size() - 1)(rng)];
    const auto h = s.image.size(1), w = s.image.size(2);
    const auto y = std::uniform_int_distribution<std::int64_t>(0, h - crop_)(rng);
    const auto x = std::uniform_int_distribution<std::int64_t>(0, w - crop_)(rng);
    const bool flip_x = rng() & 1u, flip_y = rng() & 1u;
    const auto cut = [&](const torch::Tensor& t) {
      auto c = t.narrow(1, y, crop_).narrow(2, x, crop_);
      if (flip_x) c = c.flip({2});
      if (flip_y) c = c.flip({1});
      return c;
    };
    images.push_back(cut(s.image));
    if (has_edges_) edges.push_back(cut(s.edges));
  }
  const auto to_float = [&device](const std::vector<torch::Tensor>& list) {
    return torch::stack(list).to(device).to(torch::kFloat32).div_(255.0);
  };
  return {to_float(images), has_edges_ ? to_float(edges) : torch::Tensor()};
}

}  // namespace strata::train
