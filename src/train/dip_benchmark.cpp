#include "strata/train/dip_benchmark.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "strata/core/error.hpp"
#include "strata/core/file.hpp"
#include "strata/eval/metrics.hpp"
#include "strata/image/codec.hpp"
#include "strata/image/color.hpp"
#include "strata/image/resize.hpp"
#include "strata/image/tensor.hpp"

namespace strata::train {

namespace {

// The image as libjpeg at `quality` leaves it (8-bit in, 8-bit out).
torch::Tensor jpeg_round_trip(const torch::Tensor& chw, int quality) {
  const auto bytes = image::encode_jpeg(image::from_tensor(chw, image::SampleType::U8), quality);
  return image::to_tensor(image::decode(bytes.data(), bytes.size()));
}

torch::Tensor quantise_u8(const torch::Tensor& chw) {
  return image::to_tensor(image::from_tensor(chw, image::SampleType::U8));
}

// 1 outside a centred rectangle of `ratio` of the area (the image's aspect ratio), 0 inside.
torch::Tensor centre_hole_mask(std::int64_t h, std::int64_t w, double ratio) {
  const double side = std::sqrt(ratio);
  const auto hh = std::clamp<std::int64_t>(std::llround(static_cast<double>(h) * side), 0, h);
  const auto ww = std::clamp<std::int64_t>(std::llround(static_cast<double>(w) * side), 0, w);
  auto mask = torch::ones({1, h, w});
  mask.narrow(1, (h - hh) / 2, hh).narrow(2, (w - ww) / 2, ww).zero_();
  return mask;
}

DegradedImage super_resolution_pair(const torch::Tensor& clean, int scale) {
  const auto h = clean.size(1) / scale * scale, w = clean.size(2) / scale * scale;
  check(h >= scale && w >= scale, "", "dip benchmark: image smaller than the sr scale");
  const auto hr = clean.narrow(1, 0, h).narrow(2, 0, w).contiguous();
  const auto lr = image::resize(hr, h / scale, w / scale, {image::Interpolation::Lanczos3, true});
  return {lr.clamp(0.0, 1.0), hr, {}};
}

}  // namespace

DegradedImage degrade_for_benchmark(const torch::Tensor& clean, const DipBenchmarkOptions& o,
                                    std::uint64_t seed) {
  switch (o.restore.task) {
    case RestoreTask::Denoise: {
      auto gen = at::detail::createCPUGenerator(seed);
      const auto noise = torch::randn(clean.sizes(), gen, torch::kFloat32) * (o.sigma / 255.0);
      return {(clean + noise).clamp(0.0, 1.0), clean, {}};
    }
    case RestoreTask::Deblock: {
      const auto gray =
          quantise_u8(clean.size(0) == 3 ? image::rgb_to_ycbcr(clean).narrow(0, 0, 1) : clean);
      return {jpeg_round_trip(gray, o.quality), gray, {}};
    }
    case RestoreTask::Inpaint: {
      const auto mask = centre_hole_mask(clean.size(1), clean.size(2), o.hole_ratio);
      return {clean * mask, clean, mask};
    }
    case RestoreTask::SuperResolution: return super_resolution_pair(clean, o.restore.scale);
    case RestoreTask::Enhance: break;
  }
  throw Error("", "dip benchmark: no benchmark for the enhance task");
}

std::vector<DipBenchmarkRow> dip_benchmark(
    const DipBenchmarkOptions& options, const std::function<void(const DipBenchmarkRow&)>& on_row) {
  check(!options.images.empty(), "", "dip benchmark: no images");
  check(options.hole_ratio > 0.0 && options.hole_ratio < 1.0, "",
        "dip benchmark: the hole ratio must be in (0, 1)");
  check(options.quality >= 1 && options.quality <= 100, "",
        "dip benchmark: JPEG quality must be in 1..100");
  image::ReadOptions read;
  read.limits.max_pixels = static_cast<std::uint64_t>(options.max_pixels);
  read.mode = options.restore.task == RestoreTask::Deblock ? image::ChannelMode::Unchanged
                                                           : image::ChannelMode::Rgb;
  // Deblocking keeps gray images gray (their own values, not the Y of replicated RGB).
  const auto without_alpha = [](const torch::Tensor& x) {
    return x.size(0) == 2 || x.size(0) == 4 ? x.narrow(0, 0, x.size(0) - 1) : x;
  };
  std::vector<DipBenchmarkRow> rows;
  for (std::size_t i = 0; i < options.images.size(); ++i) {
    const auto clean = without_alpha(image::read_image(options.images[i], read));
    const std::uint64_t seed = options.restore.seed + options.first_place + i;
    const auto d = degrade_for_benchmark(clean, options, seed);
    RestoreOptions r = options.restore;
    r.seed = seed;
    r.reference = d.reference;
    r.mask = d.mask;
    DipBenchmarkRow row;
    row.id = stem_of(options.images[i]);
    const auto& ref = d.reference;
    const bool sr = r.task == RestoreTask::SuperResolution;
    const auto input =
        sr ? image::resize(d.observed, ref.size(1), ref.size(2), {}).clamp(0.0, 1.0) : d.observed;
    row.degraded_psnr = eval::mean_psnr(input, ref);
    if (sr) row.degraded_luma_psnr = eval::luma_psnr(input, ref, r.scale);
    const auto start = std::chrono::steady_clock::now();
    const auto result = dip_restore(d.observed, r);
    row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    row.psnr = eval::mean_psnr(result.image, ref);
    if (sr) row.luma_psnr = eval::luma_psnr(result.image, ref, r.scale);
    row.iterations = result.iterations;
    row.auto_stopped = result.auto_stopped;
    row.lambda = result.lambda;
    row.noise_sigma = result.noise_sigma;
    for (const auto& p : result.history)
      if (p.psnr > row.best_psnr) {
        row.best_psnr = p.psnr;
        row.best_iteration = p.iteration;
      }
    rows.push_back(row);
    if (on_row) on_row(row);
  }
  return rows;
}

}  // namespace strata::train
