// Deep-image-prior restoration loop (thesis ch. 2; reference-facts §3.3): Adam on MSE through
// the task's forward model A: identity (denoise, deblock, enhance), the mask (inpaint) or a
// Lanczos-3 downsampler (sr); the network is the thesis's Decoder or one of the two baselines.
#include "strata/train/dip_restore.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <utility>

#include "strata/core/cuda_graph.hpp"
#include "strata/core/error.hpp"
#include "strata/eval/dip_measures.hpp"
#include "strata/eval/metrics.hpp"
#include "strata/image/resize.hpp"
#include "strata/models/dip_baselines.hpp"
#include "strata/train/adam.hpp"

namespace strata::train {

namespace {

constexpr std::int64_t kMultiple = 32;  // five ×2 upsamplings (and downsamplings) in every network

// The network's output side for an image side n: n rounded up to the multiple and at least 64,
// so that the 1/32-scale input (Decoder, Deep Decoder) or deepest level (Original) is at least
// 2×2: reflection padding needs that, and a 1×1 Deep Decoder input gives a constant image.
std::int64_t padded(std::int64_t n) {
  return std::max<std::int64_t>(64, (n + kMultiple - 1) / kMultiple * kMultiple);
}

// A network with its fixed input and its defaults (the published settings).
struct Network {
  torch::nn::AnyModule module;
  torch::Tensor z;
  double lr = 0.0, input_noise = 0.0;
};

// Decoder: the Fourier (or uniform) input at 1/32 of the output; Adam lr 1e-3 (reference-facts
// §3.2-3.3).
Network make_decoder(const RestoreOptions& o, int channels, std::int64_t h, std::int64_t w) {
  models::DipDecoderOptions net;
  net.out_channels = channels;
  net.lambda = o.lambda;
  net.upsampling = o.upsampling;
  net.spectral_norm = o.spectral_norm;
  net.compute_dtype = o.compute_dtype;
  net.channels_last = o.channels_last && o.device.is_cuda();
  if (o.gaussian_sigmas.size() == 1)
    net.sigmas.assign(static_cast<std::size_t>(net.levels), o.gaussian_sigmas.front());
  else if (!o.gaussian_sigmas.empty())
    net.sigmas = o.gaussian_sigmas;
  const auto zh = padded(h) / kMultiple, zw = padded(w) / kMultiple;
  const auto z = o.decoder_input == DecoderInput::Uniform
                     ? models::uniform_input(32, zh, zw, 0.1, o.seed)
                     : models::fourier_input(zh, zw, 32, o.seed);
  return {torch::nn::AnyModule(models::DipDecoder(net)), z, 1e-3, 0.0};
}

// Original deep image prior (denoising/inpainting setup): 32 channels of U[0, 0.1) at the output
// size, perturbed by N(0, (1/30)²) every iteration, Adam lr 0.01.
Network make_original(const RestoreOptions& o, int channels, std::int64_t h, std::int64_t w) {
  models::DipSkipOptions net;
  net.out_channels = channels;
  const auto z = models::uniform_input(32, padded(h), padded(w), 0.1, o.seed);
  return {torch::nn::AnyModule(models::DipSkip(net)), z, 0.01, 1.0 / 30.0};
}

// Deep Decoder: k = 128 channels of U[0, 0.1) at 1/32 of the output, Adam lr 0.01.
Network make_deep_decoder(const RestoreOptions& o, int channels, std::int64_t h, std::int64_t w) {
  models::DeepDecoderOptions net;
  net.out_channels = channels;
  const auto z =
      models::uniform_input(net.width, padded(h) / kMultiple, padded(w) / kMultiple, 0.1, o.seed);
  return {torch::nn::AnyModule(models::DeepDecoder(net)), z, 0.01, 0.0};
}

// The chosen network on the device, with the options' overrides of its defaults.
Network make_network(const RestoreOptions& o, int channels, std::int64_t h, std::int64_t w) {
  auto net = o.network == DipNetwork::Original      ? make_original(o, channels, h, w)
             : o.network == DipNetwork::DeepDecoder ? make_deep_decoder(o, channels, h, w)
                                                    : make_decoder(o, channels, h, w);
  net.module.ptr()->to(o.device);
  net.z = net.z.to(o.device);
  if (o.lr > 0.0) net.lr = o.lr;
  if (o.input_noise) net.input_noise = *o.input_noise;
  return net;
}

// The Decoder's λ when none is given; for denoising from the noise level estimated in the
// degraded image (its σ, 0-255, into noise_sigma).
double default_lambda(RestoreTask task, const torch::Tensor& degraded,
                      std::optional<double>& noise_sigma) {
  switch (task) {
    case RestoreTask::Denoise:
      noise_sigma = 255.0 * eval::estimate_noise_sigma(degraded);
      return denoise_lambda(*noise_sigma);
    case RestoreTask::Deblock: return 1.8;  // LIVE1 q 10/20/30: +0.1/+1.0/+1.2 dB over 1.4
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

// Whether an iteration can be recorded as a CUDA graph: no fresh input noise per iteration, and
// no host-built operators copied to the device inside it (the Lanczos downsampler's sparse
// matrix, the Gaussian upsampling taps).
bool capture_safe(const RestoreOptions& o, const Network& net) {
  return net.input_noise == 0.0 && o.task != RestoreTask::SuperResolution &&
         o.upsampling == models::Upsampling::Bilinear;
}

void check_inputs(const torch::Tensor& y, const RestoreOptions& o) {
  check(y.defined() && y.dim() == 3 && (y.size(0) == 1 || y.size(0) == 3), "",
        "dip_restore: expected a 1×H×W or 3×H×W image");
  check(y.size(1) >= 3 && y.size(2) >= 3, "",
        "dip_restore: the image must be at least 3×3 pixels (the stop measures' neighbourhoods)");
  check(o.max_iterations >= 1 && o.lr >= 0.0 && o.lambda >= 0.0 && o.input_noise.value_or(0) >= 0,
        "", "dip_restore: need max_iterations >= 1, lr >= 0, lambda >= 0, input_noise >= 0");
  check(o.network == DipNetwork::Decoder ||
            (o.lambda == 0.0 && o.upsampling == models::Upsampling::Bilinear &&
             o.compute_dtype == torch::kFloat32 && o.decoder_input == DecoderInput::Fourier),
        "",
        "dip_restore: lambda, Gaussian upsampling, the decoder input and reduced precision "
        "apply to the decoder network only");
  check(o.gaussian_sigmas.empty() || o.upsampling == models::Upsampling::Gaussian, "",
        "dip_restore: Gaussian σ (--gaussian-sigma) without Gaussian upsampling");
  const std::size_t levels = models::DipDecoderOptions{}.sigmas.size();
  check(o.gaussian_sigmas.size() <= 1 || o.gaussian_sigmas.size() == levels, "",
        "gaussian_sigmas (--gaussian-sigma): one σ for every level or one per level (" +
            std::to_string(levels) + ")");
  check(o.compute_dtype == torch::kFloat32 ||
            (o.compute_dtype == torch::kBFloat16 && o.device.is_cuda()),
        "", "dip_restore: compute in float32, or bfloat16 on a CUDA device (float16 overflows)");
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

DipNetwork parse_dip_network(const std::string& name) {
  if (name == "decoder") return DipNetwork::Decoder;
  if (name == "dip") return DipNetwork::Original;
  if (name == "deep-decoder") return DipNetwork::DeepDecoder;
  throw Error("", "unknown network '" + name + "' (decoder, dip, deep-decoder)");
}

double denoise_lambda(double noise_sigma) {
  constexpr std::array<std::pair<double, double>, 3> knots{{{15.0, 1.6}, {24.0, 1.4}, {45.0, 1.2}}};
  if (!(noise_sigma > knots.front().first)) return knots.front().second;  // NaN too
  for (std::size_t i = 1; i < knots.size(); ++i)
    if (noise_sigma < knots[i].first) {
      const auto [s0, l0] = knots[i - 1];
      const auto [s1, l1] = knots[i];
      return l0 + (l1 - l0) * (noise_sigma - s0) / (s1 - s0);
    }
  return knots.back().second;
}

RestoreResult dip_restore(const torch::Tensor& degraded, const RestoreOptions& options) {
  check_inputs(degraded, options);
  RestoreOptions o = options;
  RestoreResult result;
  if (o.lambda == 0.0 && o.network == DipNetwork::Decoder)
    o.lambda = default_lambda(o.task, degraded, result.noise_sigma);
  result.lambda = o.network == DipNetwork::Decoder ? o.lambda : 0.0;
  const auto y = degraded.to(o.device, torch::kFloat32).unsqueeze(0);
  if (o.task == RestoreTask::Inpaint) o.mask = o.mask.to(o.device, torch::kFloat32).unsqueeze(0);
  const std::int64_t c = y.size(1), h = y.size(2), w = y.size(3);
  const int factor = o.task == RestoreTask::SuperResolution ? o.scale : 1;
  const std::int64_t out_h = h * factor, out_w = w * factor;

  torch::manual_seed(static_cast<std::int64_t>(o.seed));
  auto net = make_network(o, static_cast<int>(c), out_h, out_w);
  std::vector<torch::Tensor> trainable;  // the Decoder's frozen convolution biases left out
  for (const auto& p : net.module.ptr()->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  Adam adam(trainable, net.lr);
  eval::AutoStop stop(static_cast<std::size_t>(o.stop_window), o.stop_epsilon);

  const auto target = o.task == RestoreTask::Inpaint ? y * o.mask : y;
  const auto reference = o.reference.defined() ? o.reference.to(o.device) : o.reference;
  const auto no_psnr = torch::zeros({}, y.options().dtype(torch::kFloat64));  // no reference
  // The per-iteration numbers stay on the device and are read in batches (one host sync per
  // batch); the outputs of the batch are kept so that an automatic stop inside it returns the
  // output of the very iteration where Eq. 2.8 held.
  const std::int64_t image_bytes = out_h * out_w * c * 4;
  const int batch = static_cast<int>(std::clamp<std::int64_t>((64LL << 20) / image_bytes, 1, 25));
  std::vector<torch::Tensor> outputs, numbers;  // numbers: (loss, psnr, ratio) per iteration
  torch::Tensor restored_fit;
  const auto flush = [&](int last_iteration) {
    const auto values = torch::stack(numbers).to(torch::kCPU, torch::kFloat64);
    const auto v = values.accessor<double, 2>();
    const int first = last_iteration - static_cast<int>(numbers.size()) + 1;
    for (std::size_t i = 0; i < numbers.size(); ++i) {
      RestoreProgress p;
      p.iteration = first + static_cast<int>(i);
      p.loss = v[static_cast<std::int64_t>(i)][0];
      p.psnr = reference.defined() ? v[static_cast<std::int64_t>(i)][1]
                                   : std::numeric_limits<double>::quiet_NaN();
      p.ratio = v[static_cast<std::int64_t>(i)][2];
      if (o.frequency_bands && factor == 1)
        p.fbc = eval::frequency_band_correspondence(outputs[i], y[0]);
      result.history.push_back(p);
      if (o.on_progress) o.on_progress(p);
      result.iterations = p.iteration;
      restored_fit = outputs[i];
      if (o.auto_stop && stop.push(p.ratio)) {  // Eq. 2.8
        result.auto_stopped = true;
        return true;
      }
    }
    outputs.clear();
    numbers.clear();
    return false;
  };
  // One iteration: the fitting step and the measures, all on the device; numbers = (loss,
  // psnr, ratio).
  struct Iteration {
    torch::Tensor image, numbers;
  };
  // The measures of the output (PSNR, the stop ratio: small kernels) run on a second stream beside
  // the backward pass.
  StreamBranch measures_branch(o.device);
  const auto iterate = [&]() -> Iteration {
    const auto z =
        net.input_noise > 0.0 ? net.z + torch::randn_like(net.z) * net.input_noise : net.z;
    const auto out = net.module.forward(z).narrow(2, 0, out_h).narrow(3, 0, out_w);  // crop
    const auto loss = torch::mse_loss(forward_model(out, o, h, w), target);
    const auto image = out.detach()[0];
    torch::Tensor psnr, ratio;
    measures_branch.run([&] {
      torch::NoGradGuard no_grad;
      psnr = reference.defined() ? eval::psnr_per_image(image.clamp(0.0, 1.0).unsqueeze(0),
                                                        reference.unsqueeze(0))[0]  // float64
                                 : no_psnr;
      ratio = eval::stop_ratio(image);
    });
    adam.zero_grad();
    loss.backward();
    adam.step();
    measures_branch.join();
    torch::NoGradGuard no_grad;
    return {image, torch::stack({loss.detach().to(torch::kFloat64), psnr, ratio})};
  };
  // On CUDA the iteration is recorded once as a CUDA graph after a few eager warm-up iterations
  // (the power iterations' cold start reads the host) and replayed; its outputs are copied out.
  std::unique_ptr<StepGraph> graph;
  if (o.cuda_graph && o.device.is_cuda() && StepGraph::supported() && capture_safe(o, net)) {
    graph = std::make_unique<StepGraph>(o.device);
    adam.count_on_device();
  }
  constexpr int kWarmUp = 3;
  Iteration recorded;
  for (int it = 1; it <= o.max_iterations; ++it) {
    Iteration current;
    if (!graph) {
      current = iterate();
    } else if (it <= kWarmUp) {
      graph->warm_up([&] { current = iterate(); });
    } else {
      if (it == kWarmUp + 1) graph->capture([&] { recorded = iterate(); });
      graph->replay();
      current = {recorded.image.clone(), recorded.numbers.clone()};
    }
    numbers.push_back(current.numbers);
    outputs.push_back(current.image);
    if ((static_cast<int>(numbers.size()) == batch || it == o.max_iterations) && flush(it)) break;
  }
  auto restored = restored_fit.clamp(0.0, 1.0);
  // Enhancement: the fit is a smoothed base; add the detail back (x + (x − base)).
  if (o.task == RestoreTask::Enhance) restored = (2.0 * y[0] - restored).clamp(0.0, 1.0);
  result.image = restored.cpu();
  return result;
}

}  // namespace strata::train
