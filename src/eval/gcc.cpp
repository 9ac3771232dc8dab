#include "strata/eval/gcc.hpp"

#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "strata/core/error.hpp"
#include "strata/filter/gradient.hpp"
#include "strata/filter/registry.hpp"
#include "strata/image/tensor.hpp"

namespace strata::eval {

namespace {

struct Scores {
  double smoothing = 0.0, gcc = 0.0;
};

// Mean scores of `filter` (input image -> filtered) over `images`.
Scores score(const std::vector<torch::Tensor>& images,
             const std::function<torch::Tensor(const torch::Tensor&)>& filter) {
  Scores s;
  for (const auto& img : images) {
    const auto out = filter(img);
    s.smoothing += smoothing_degree(img, out);
    s.gcc += gradient_correlation(img - out, out);
  }
  const auto n = static_cast<double>(images.size());
  return {s.smoothing / n, s.gcc / n};
}

std::function<torch::Tensor(const torch::Tensor&)> classical(const GccMethod& m, double value) {
  const filter::FilterSpec& spec = filter::find_filter(m.filter);
  filter::ParamValues params{{m.parameter, value}};
  return [&spec, params](const torch::Tensor& img) {
    return filter::run_filter(spec, img, {}, params);
  };
}

// The parameter value whose mean smoothing on `images` is closest to `target` (log bisection).
double tune(const GccMethod& m, const std::vector<torch::Tensor>& images, double target,
            int steps) {
  double lo = std::log(m.low), hi = std::log(m.high);
  for (int i = 0; i < steps; ++i) {
    const double mid = 0.5 * (lo + hi);
    (score(images, classical(m, std::exp(mid))).smoothing < target ? lo : hi) = mid;
  }
  return std::exp(0.5 * (lo + hi));
}

}  // namespace

double gradient_correlation(const torch::Tensor& detail, const torch::Tensor& filtered) {
  return (filter::gradient_l1(detail) * filter::gradient_l1(filtered)).mean().item<double>();
}

double smoothing_degree(const torch::Tensor& input, const torch::Tensor& filtered) {
  const double before = filter::gradient_l1(input).sum().item<double>();
  check(before > 0.0, "", "smoothing_degree: the input has no gradient");
  return 1.0 - filter::gradient_l1(filtered).sum().item<double>() / before;
}

std::vector<GccMethod> default_gcc_methods() {
  return {{"l0", "lambda", 1e-4, 1.0},
          {"rtv", "lambda", 1e-4, 0.2},
          {"rgf", "sigma-s", 0.3, 30.0},
          {"mugif", "alpha-t", 1e-4, 1.0},
          {"guided", "eps", 1e-5, 10.0}};
}

GccReport run_gcc(const std::vector<std::string>& image_paths, models::HipeGuider& guider,
                  models::HipePeeler& peeler, const GccConfig& config, torch::Device device,
                  const std::function<void(const std::string&)>& progress) {
  check(!image_paths.empty(), "", "eval gcc: no images");
  check(config.level >= 1 && config.tune_images >= 1 && config.tune_steps >= 1, "",
        "eval gcc: level, tune images and tune steps must be >= 1");
  torch::NoGradGuard no_grad;
  image::ReadOptions options;
  options.mode = image::ChannelMode::Rgb;
  std::vector<torch::Tensor> images;
  for (const auto& path : image_paths)
    images.push_back(image::read_image(path, options).to(device));
  const auto say = [&progress](const std::string& line) {
    if (progress) progress(line);
  };

  GccReport report;
  report.images = static_cast<int>(images.size());
  const models::PeelOptions peel{config.level, {}};
  const Scores hipe = score(images, [&](const torch::Tensor& img) {
    return models::hipe_peel(guider, peeler, img, peel).levels.back();
  });
  report.target_smoothing = hipe.smoothing;
  report.rows.push_back(
      {"HIPe (level " + std::to_string(config.level) + ")", "", hipe.smoothing, hipe.gcc});
  say(report.rows.back().method + ": smoothing " + std::to_string(hipe.smoothing) + ", GCC " +
      std::to_string(hipe.gcc));

  const std::vector<torch::Tensor> tuning(
      images.begin(), images.begin() + std::min<std::size_t>(images.size(), config.tune_images));
  for (const auto& m : config.methods) {
    const double value = tune(m, tuning, hipe.smoothing, config.tune_steps);
    const Scores s = score(images, classical(m, value));
    std::ostringstream p;
    p << m.parameter << '=' << value;
    report.rows.push_back({m.filter, p.str(), s.smoothing, s.gcc});
    say(m.filter + " (" + p.str() + "): smoothing " + std::to_string(s.smoothing) + ", GCC " +
        std::to_string(s.gcc));
  }
  return report;
}

}  // namespace strata::eval
