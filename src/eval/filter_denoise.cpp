#include "strata/eval/filter_denoise.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "strata/core/error.hpp"
#include "strata/eval/metrics.hpp"
#include "strata/filter/guided.hpp"
#include "strata/image/tensor.hpp"

namespace strata::eval {

namespace {

using torch::Tensor;

// Reads RGB images and turns portrait ones to landscape (the filters and PSNR are invariant under
// transposition), so that the whole set stacks into one N×3×H×W tensor.
Tensor load_landscape(const std::vector<std::string>& paths) {
  check(!paths.empty(), "", "no images to evaluate");
  std::vector<Tensor> images;
  image::ReadOptions ro;
  ro.mode = image::ChannelMode::Rgb;
  for (const auto& path : paths) {
    Tensor img = image::read_image(path, ro);
    if (img.size(1) > img.size(2)) img = img.transpose(1, 2).contiguous();
    check(images.empty() || img.sizes() == images.front().sizes(), path,
          "all images must have one size (up to rotation) for this benchmark");
    images.push_back(img);
  }
  return torch::stack(images);
}

// Additive Gaussian noise N(0, (σ/255)²), image i drawn from seed + i on the CPU (so results do
// not depend on the device), not clipped.
Tensor add_noise(const Tensor& clean, double sigma, std::uint64_t seed) {
  std::vector<Tensor> noisy;
  for (std::int64_t i = 0; i < clean.size(0); ++i) {
    auto gen = at::detail::createCPUGenerator(seed + static_cast<std::uint64_t>(i));
    const Tensor n = torch::randn(clean[i].sizes(), gen, torch::kFloat32) * (sigma / 255.0);
    noisy.push_back(clean[i] + n.to(clean.device()));
  }
  return torch::stack(noisy);
}

// Each channel filtered with itself as the guide.
Tensor denoise(DenoiseMethod m, const Tensor& noisy, int radius, double eps,
               filter::UmgfOptions umgf) {
  const auto s = noisy.sizes();
  const Tensor x = noisy.reshape({s[0] * s[1], 1, s[2], s[3]});
  umgf.amount = m == DenoiseMethod::UmgfWeighted ? filter::AmountFunction::WeightedGuided
                                                 : filter::AmountFunction::Guided;
  Tensor y;
  switch (m) {
    case DenoiseMethod::Guided: y = filter::guided_filter(x, x, radius, eps); break;
    case DenoiseMethod::WeightedGuided:
      y = filter::weighted_guided_filter(x, x, radius, eps);
      break;
    default: y = filter::unsharp_mask_guided_filter(x, x, radius, eps, umgf); break;
  }
  return y.reshape(s);
}

// Mean PSNR over the set of one (method, radius, eps), filtering `batch` images at a time.
double score(DenoiseMethod m, const Tensor& noisy, const Tensor& clean, int radius, double eps,
             const filter::UmgfOptions& umgf, const FilterDenoiseConfig& config) {
  double sum = 0.0;
  for (std::int64_t i = 0; i < noisy.size(0); i += config.batch) {
    const auto n = std::min<std::int64_t>(config.batch, noisy.size(0) - i);
    Tensor out = denoise(m, noisy.narrow(0, i, n), radius, eps, umgf);
    if (config.clip_output) out = out.clamp(0.0, 1.0);
    sum += psnr_per_image(out, clean.narrow(0, i, n)).sum().item<double>();
  }
  return sum / static_cast<double>(noisy.size(0));
}

bool is_umgf(DenoiseMethod m) {
  return m == DenoiseMethod::UmgfGuided || m == DenoiseMethod::UmgfWeighted;
}

// The UMGF variants to search for method m: the configured F_L × ā grid, or the default alone.
std::vector<filter::UmgfOptions> umgf_variants(DenoiseMethod m, const FilterDenoiseConfig& config) {
  if (!is_umgf(m)) return {filter::UmgfOptions{}};
  std::vector<filter::UmgfOptions> variants;
  for (int boxes : config.umgf_lowpass_boxes)
    for (bool smooth : config.umgf_smooth_amount) {
      filter::UmgfOptions o;
      o.lowpass_boxes = boxes;
      o.smooth_amount = smooth;
      variants.push_back(o);
    }
  return variants;
}

GridResult grid_search(DenoiseMethod m, const Tensor& noisy, const Tensor& clean,
                       const FilterDenoiseConfig& config) {
  GridResult best{0, 0.0, -std::numeric_limits<double>::infinity(), {}};
  for (const auto& umgf : umgf_variants(m, config))
    for (int r : config.radii)
      for (double s : config.eps_sqrt) {
        const double p = score(m, noisy, clean, r, s * s, umgf, config);
        if (p > best.psnr) best = {r, s * s, p, umgf};
      }
  return best;
}

}  // namespace

const char* method_name(DenoiseMethod m) {
  switch (m) {
    case DenoiseMethod::Guided: return "GF";
    case DenoiseMethod::UmgfGuided: return "Ours+GF";
    case DenoiseMethod::WeightedGuided: return "WGF";
    case DenoiseMethod::UmgfWeighted: return "Ours+WGF";
  }
  return "?";
}

DenoiseMethod parse_denoise_method(const std::string& name) {
  if (name == "gf") return DenoiseMethod::Guided;
  if (name == "umgf-gf") return DenoiseMethod::UmgfGuided;
  if (name == "wgf") return DenoiseMethod::WeightedGuided;
  if (name == "umgf-wgf") return DenoiseMethod::UmgfWeighted;
  throw Error("", "unknown method '" + name + "' (use gf, umgf-gf, wgf, umgf-wgf)");
}

std::vector<FilterDenoiseRow> run_filter_denoise(
    const std::vector<std::string>& image_paths, const FilterDenoiseConfig& config,
    torch::Device device, const std::function<void(const std::string&)>& progress) {
  check(config.batch > 0 && !config.radii.empty() && !config.eps_sqrt.empty() &&
            !config.umgf_lowpass_boxes.empty() && !config.umgf_smooth_amount.empty(),
        "", "empty grid or bad batch size");
  torch::NoGradGuard no_grad;
  const Tensor clean = load_landscape(image_paths).to(device);
  check(clean.size(0) > 0, "", "no images");
  std::vector<FilterDenoiseRow> rows;
  for (double sigma : config.sigmas) {
    const Tensor noisy = add_noise(clean, sigma, config.seed);
    FilterDenoiseRow row{sigma, mean_psnr(noisy, clean), config.methods, {}};
    for (DenoiseMethod m : config.methods) {
      row.best.push_back(grid_search(m, noisy, clean, config));
      if (progress) {
        std::ostringstream line;
        line << "sigma " << sigma << " " << method_name(m) << ": " << row.best.back().psnr
             << " dB (r " << row.best.back().radius << ", eps " << row.best.back().eps << ")";
        progress(line.str());
      }
    }
    rows.push_back(row);
  }
  return rows;
}

}  // namespace strata::eval
