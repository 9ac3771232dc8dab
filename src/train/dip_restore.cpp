// Deep-image-prior restoration loop (thesis ch. 2; reference-facts §3.3): Adam on MSE through
// the task's forward model A: identity (denoise, deblock, enhance), the mask (inpaint) or a
// Lanczos-3 downsampler (sr).
#include "strata/train/dip_restore.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "strata/core/error.hpp"
#include "strata/eval/dip_measures.hpp"
#include "strata/eval/metrics.hpp"
#include "strata/image/resize.hpp"

namespace strata::train {

namespace {

constexpr std::int64_t kMultiple = 32;  // five ×2 upsamplings

std::int64_t round_up(std::int64_t n) { return (n + kMultiple - 1) / kMultiple * kMultiple; }

double default_lambda(RestoreTask task) {
  switch (task) {
    case RestoreTask::Inpaint: return 1.6;
    case RestoreTask::Enhance: return 1.0;
    default: return 1.4;
  }
}

// The task's forward model A applied to the network output (1×C×H_out×W_out).
torch::Tensor forward_model(const torch::Tensor& out, const RestoreOptions& o, std::int64_t h,
                            std::int64_t w) {
  if (o.task == RestoreTask::SuperResolution)
    return image::resize(out, h, w, {image::Interpolation::Lanczos3, true});
  if (o.task == RestoreTask::Inpaint) return out * o.mask;
  return out;
}

void check_inputs(const torch::Tensor& y, const RestoreOptions& o) {
  check(y.defined() && y.dim() == 3 && (y.size(0) == 1 || y.size(0) == 3), "",
        "dip_restore: expected a 1×H×W or 3×H×W image");
  check(o.max_iterations >= 1 && o.lr > 0.0 && o.lambda >= 0.0, "",
        "dip_restore: need max_iterations >= 1, lr > 0, lambda >= 0");
  if (o.task == RestoreTask::SuperResolution)
    check(o.scale >= 2 && o.scale <= 16, "", "dip_restore: sr scale must be in 2..16");
  if (o.task == RestoreTask::Inpaint)
    check(o.mask.defined() && o.mask.dim() == 3 && o.mask.size(0) == 1 &&
              o.mask.size(1) == y.size(1) && o.mask.size(2) == y.size(2),
          "", "dip_restore: inpainting needs a 1×H×W mask of the image's size");
}

}  // namespace

RestoreTask parse_restore_task(const std::string& name) {
  if (name == "denoise") return RestoreTask::Denoise;
  if (name == "deblock") return RestoreTask::Deblock;
  if (name == "inpaint") return RestoreTask::Inpaint;
  if (name == "sr") return RestoreTask::SuperResolution;
  if (name == "enhance") return RestoreTask::Enhance;
  throw Error("",
              "unknown restoration task '" + name + "' (denoise, deblock, inpaint, sr, enhance)");
}

RestoreResult dip_restore(const torch::Tensor& degraded, const RestoreOptions& options) {
  check_inputs(degraded, options);
  RestoreOptions o = options;
  if (o.lambda == 0.0) o.lambda = default_lambda(o.task);
  const auto y = degraded.to(o.device, torch::kFloat32).unsqueeze(0);
  if (o.task == RestoreTask::Inpaint) o.mask = o.mask.to(o.device, torch::kFloat32).unsqueeze(0);
  const std::int64_t c = y.size(1), h = y.size(2), w = y.size(3);
  const int factor = o.task == RestoreTask::SuperResolution ? o.scale : 1;
  const std::int64_t out_h = h * factor, out_w = w * factor;

  torch::manual_seed(static_cast<std::int64_t>(o.seed));
  models::DipDecoderOptions net_options;
  net_options.out_channels = static_cast<int>(c);
  net_options.lambda = o.lambda;
  net_options.upsampling = o.upsampling;
  net_options.spectral_norm = o.spectral_norm;
  models::DipDecoder net(net_options);
  net->to(o.device);
  // The input is 1/32 of the output size, at least 2×2 so that reflection padding applies.
  const auto z_side = [](std::int64_t n) {
    return std::max<std::int64_t>(2, round_up(n) / kMultiple);
  };
  const auto z = models::fourier_input(z_side(out_h), z_side(out_w), 32, o.seed).to(o.device);
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(o.lr));
  eval::AutoStop stop(static_cast<std::size_t>(o.stop_window), o.stop_epsilon);

  RestoreResult result;
  torch::Tensor out;
  for (int it = 1; it <= o.max_iterations; ++it) {
    out = net->forward(z).narrow(2, 0, out_h).narrow(3, 0, out_w);  // crop the padding
    const auto loss = torch::mse_loss(forward_model(out, o, h, w),
                                      o.task == RestoreTask::Inpaint ? y * o.mask : y);
    adam.zero_grad();
    loss.backward();
    adam.step();
    torch::NoGradGuard no_grad;
    const auto image = out.detach()[0];
    RestoreProgress p;
    p.iteration = it;
    p.loss = loss.item<double>();
    p.psnr = o.reference.defined()
                 ? eval::mean_psnr(image.clamp(0.0, 1.0), o.reference.to(o.device))
                 : std::numeric_limits<double>::quiet_NaN();
    p.ratio = eval::blur_effect(image) / std::max(eval::mlv_sharpness(image), 1e-12);
    if (o.frequency_bands && factor == 1) p.fbc = eval::frequency_band_correspondence(image, y[0]);
    result.history.push_back(p);
    if (o.on_progress) o.on_progress(p);
    result.iterations = it;
    if (o.auto_stop && stop.push(p.ratio)) {  // Eq. 2.8
      result.auto_stopped = true;
      break;
    }
  }
  auto restored = out.detach()[0].clamp(0.0, 1.0);
  // Enhancement: the fit is a smoothed base; add the detail back (x + (x − base)).
  if (o.task == RestoreTask::Enhance) restored = (2.0 * y[0] - restored).clamp(0.0, 1.0);
  result.image = restored.cpu();
  return result;
}

}  // namespace strata::train
