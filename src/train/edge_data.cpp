#include "strata/train/edge_data.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <map>
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
      EdgeSample s{to_u8(img), {}, {}};
      if (has_edges_) {
        s.edges = to_u8(annotator_mean(gt_dirs[d], stem_of(path), path));
        check(s.edges.size(1) == img.size(1) && s.edges.size(2) == img.size(2), path,
              "boundary map size differs from the image's");
      }
      samples_.push_back(std::move(s));
    }
  check(!samples_.empty(), "", "no training images found");
}

void EdgeDataset::precompute_targets(
    const std::function<std::vector<torch::Tensor>(const torch::Tensor&)>& levels, int batch,
    const std::function<void(std::size_t, std::size_t)>& on_images) {
  check(batch >= 1, "", "precompute_targets: batch must be >= 1");
  std::map<std::vector<std::int64_t>, std::vector<EdgeSample*>> by_size;
  for (auto& s : samples_) by_size[s.image.sizes().vec()].push_back(&s);
  std::size_t done = 0;
  for (auto& [size, group] : by_size)
    for (std::size_t first = 0; first < group.size(); first += static_cast<std::size_t>(batch)) {
      const auto chunk = std::vector<EdgeSample*>(
          group.begin() + static_cast<std::ptrdiff_t>(first),
          group.begin() + static_cast<std::ptrdiff_t>(
                              std::min(group.size(), first + static_cast<std::size_t>(batch))));
      std::vector<torch::Tensor> images;
      for (const auto* s : chunk) images.push_back(s->image);
      const auto x = torch::stack(images).to(torch::kFloat32).div_(255.0);
      const auto out = levels(x);
      check(!out.empty(), "", "precompute_targets: no target levels");
      for (const auto& t : out)
        check(t.sizes() == x.sizes(), "", "precompute_targets: a target's shape differs");
      const auto all = torch::stack(out, 1).to(torch::kCPU, torch::kFloat16);  // N×L×3×H×W
      for (std::size_t i = 0; i < chunk.size(); ++i)
        chunk[i]->targets = all[static_cast<std::int64_t>(i)].clone();
      done += chunk.size();
      if (on_images) on_images(done, samples_.size());
    }
}

Batch EdgeDataset::sample(std::uint64_t seed, std::int64_t iteration, int batch,
                          const torch::Device& device) const {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(iteration));
  std::vector<torch::Tensor> images, edges, targets;
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
    if (s.targets.defined()) targets.push_back(cut(s.targets.flatten(0, 1)));
  }
  const auto to_float = [&device](const std::vector<torch::Tensor>& list) {
    return torch::stack(list).to(device).to(torch::kFloat32).div_(255.0);
  };
  Batch out{to_float(images), has_edges_ ? to_float(edges) : torch::Tensor(), {}};
  if (!targets.empty()) {  // N×(L·3)×S×S → L of N×3×S×S
    const auto all = torch::stack(targets).to(device).to(torch::kFloat32);
    out.targets = all.view({all.size(0), -1, 3, crop_, crop_}).unbind(1);
  }
  return out;
}

}  // namespace strata::train
