#include "strata/filter/registry.hpp"

#include <torch/torch.h>

#include <cmath>

#include "strata/core/error.hpp"
#include "strata/filter/bilateral.hpp"
#include "strata/filter/box.hpp"
#include "strata/filter/global.hpp"
#include "strata/filter/guided.hpp"

namespace strata::filter {

namespace {

using Tensor = torch::Tensor;

int as_int(const ParamValues& p, const char* name) { return static_cast<int>(p.at(name)); }

FilterParam radius(double def) { return {"radius", def, "window radius r (pixels)", true}; }
FilterParam eps(double def) { return {"eps", def, "regularisation ε (on [0,1] intensities)"}; }
FilterParam sigma_s(double def) { return {"sigma-s", def, "spatial σ (pixels)"}; }
FilterParam sigma_r(double def) { return {"sigma-r", def, "range σ (on [0,1] intensities)"}; }

// Self-guidance when the user gives no guide.
const Tensor& guide_or_self(const Tensor& input, const Tensor& guide) {
  return guide.defined() ? guide : input;
}

Tensor umgf(const Tensor& in, const Tensor& g, const ParamValues& p, AmountFunction amount) {
  UmgfOptions o;
  o.amount = amount;
  o.lowpass_boxes = as_int(p, "boxes");
  return unsharp_mask_guided_filter(in, guide_or_self(in, g), as_int(p, "radius"),
                                    p.at(amount == AmountFunction::Guided ? "eps" : "lambda"), o);
}

std::vector<FilterSpec> make_catalogue() {
  std::vector<FilterSpec> c;
  c.push_back({"box",
               "box mean over a (2r+1)² window clipped at the borders, O(1) per pixel",
               GuideUse::None,
               {radius(4)},
               [](const Tensor& in, const Tensor&, const ParamValues& p) {
                 return box_filter(in, as_int(p, "radius"));
               }});
  c.push_back({"gaussian",
               "separable Gaussian blur (radius ceil(3σ), reflected borders)",
               GuideUse::None,
               {{"sigma", 2.0, "standard deviation σ (pixels)"}},
               [](const Tensor& in, const Tensor&, const ParamValues& p) {
                 return gaussian_blur(in, p.at("sigma"));
               }});
  c.push_back(
      {"unsharp",
       "unsharp masking x + amount·(x − Gaussian(x))",
       GuideUse::None,
       {{"sigma", 2.0, "standard deviation σ (pixels)"}, {"amount", 1.0, "amount of detail added"}},
       [](const Tensor& in, const Tensor&, const ParamValues& p) {
         return unsharp_mask(in, p.at("sigma"), p.at("amount"));
       }});
  c.push_back(
      {"bilateral",
       "bilateral filter (joint bilateral with --guide)",
       GuideUse::Optional,
       {sigma_s(3.0), sigma_r(0.1), {"radius", -1, "window radius (-1: round(1.5σs))", true}},
       [](const Tensor& in, const Tensor& g, const ParamValues& p) {
         return g.defined()
                    ? joint_bilateral_filter(in, g, p.at("sigma-s"), p.at("sigma-r"),
                                             as_int(p, "radius"))
                    : bilateral_filter(in, p.at("sigma-s"), p.at("sigma-r"), as_int(p, "radius"));
       }});
  c.push_back({"guided",
               "guided filter (He et al. 2010); gray or colour guide, self-guided by "
               "default",
               GuideUse::Optional,
               {radius(8), eps(0.01)},
               [](const Tensor& in, const Tensor& g, const ParamValues& p) {
                 return guided_filter(in, guide_or_self(in, g), as_int(p, "radius"), p.at("eps"));
               }});
  c.push_back({"fast-guided",
               "fast guided filter (He & Sun 2015), coefficients at 1/s size",
               GuideUse::Optional,
               {radius(8), eps(0.01), {"subsample", 4, "subsampling factor s", true}},
               [](const Tensor& in, const Tensor& g, const ParamValues& p) {
                 return fast_guided_filter(in, guide_or_self(in, g), as_int(p, "radius"),
                                           p.at("eps"), as_int(p, "subsample"));
               }});
  c.push_back({"weighted-guided",
               "weighted guided filter (Li et al. 2015, thesis Eq. 3.6)",
               GuideUse::Optional,
               {radius(8), {"lambda", 0.01, "regularisation λ"}},
               [](const Tensor& in, const Tensor& g, const ParamValues& p) {
                 return weighted_guided_filter(in, guide_or_self(in, g), as_int(p, "radius"),
                                               p.at("lambda"));
               }});
  const FilterParam boxes{"boxes", 2, "boxes cascaded in the low-pass F_L", true};
  c.push_back({"umgf",
               "unsharp-mask guided filter, amount from the guided filter (Eq. 3.15)",
               GuideUse::Optional,
               {radius(8), eps(0.0004), boxes},
               [](const Tensor& in, const Tensor& g, const ParamValues& p) {
                 return umgf(in, g, p, AmountFunction::Guided);
               }});
  c.push_back({"umgf-wgf",
               "unsharp-mask guided filter, amount from the weighted guided filter",
               GuideUse::Optional,
               {radius(8), {"lambda", 0.0004, "regularisation λ"}, boxes},
               [](const Tensor& in, const Tensor& g, const ParamValues& p) {
                 return umgf(in, g, p, AmountFunction::WeightedGuided);
               }});
  c.push_back({"rgf",
               "rolling guidance filter (Zhang et al. 2014)",
               GuideUse::None,
               {sigma_s(3.0), sigma_r(0.1), {"iters", 4, "iterations", true}},
               [](const Tensor& in, const Tensor&, const ParamValues& p) {
                 return rolling_guidance_filter(in, p.at("sigma-s"), p.at("sigma-r"),
                                                as_int(p, "iters"));
               }});
  c.push_back({"l0",
               "L0 gradient minimisation (Xu et al. 2011), FFT solver",
               GuideUse::None,
               {{"lambda", 0.02, "smoothing weight λ"}, {"kappa", 2.0, "β growth factor κ"}},
               [](const Tensor& in, const Tensor&, const ParamValues& p) {
                 L0Options o;
                 o.lambda = p.at("lambda");
                 o.kappa = p.at("kappa");
                 return l0_smooth(in, o);
               }});
  const RtvOptions rtv_defaults;
  c.push_back({"rtv",
               "relative total variation (Xu et al. 2012), PCG solver",
               GuideUse::None,
               {{"lambda", rtv_defaults.lambda, "smoothing weight λ"},
                {"sigma", rtv_defaults.sigma, "texture scale σ (pixels)"},
                {"sharpness", rtv_defaults.epsilon_s, "sharpness ε_s"},
                {"iters", static_cast<double>(rtv_defaults.iterations), "iterations", true}},
               [](const Tensor& in, const Tensor&, const ParamValues& p) {
                 RtvOptions o;
                 o.lambda = p.at("lambda");
                 o.sigma = p.at("sigma");
                 o.epsilon_s = p.at("sharpness");
                 o.iterations = as_int(p, "iters");
                 return relative_total_variation(in, o);
               }});
  const MugifOptions mu;  // defaults of the library API
  c.push_back({"mugif",
               "mutually guided image filtering (Guo et al. 2018); self-guided by default",
               GuideUse::Optional,
               {{"alpha-t", mu.alpha_target, "target smoothing weight α_t"},
                {"alpha-r", -1.0,
                 "reference weight α_r (-1: equal to α_t, the paper's mutual/self-guided mode; "
                 "0: static reference)"},
                {"iters", static_cast<double>(mu.iterations), "iterations", true}},
               [](const Tensor& in, const Tensor& g, const ParamValues& p) {
                 MugifOptions o;
                 o.alpha_target = p.at("alpha-t");
                 // α_r < 0: α_r = α_t; without a guide this is the paper's self-guided mode.
                 const double alpha_r = p.at("alpha-r");
                 o.alpha_reference = alpha_r < 0 ? o.alpha_target : alpha_r;
                 o.iterations = as_int(p, "iters");
                 return mutually_guided_filter(in, guide_or_self(in, g), o);
               }});
  return c;
}

std::string known_names() {
  std::string names;
  for (const auto& f : filter_catalogue()) names += (names.empty() ? "" : ", ") + f.name;
  return names;
}

}  // namespace

const std::vector<FilterSpec>& filter_catalogue() {
  static const std::vector<FilterSpec> catalogue = make_catalogue();
  return catalogue;
}

const FilterSpec& find_filter(const std::string& name) {
  for (const auto& f : filter_catalogue())
    if (f.name == name) return f;
  throw Error("", "unknown filter '" + name + "' (known: " + known_names() + ")");
}

torch::Tensor run_filter(const FilterSpec& spec, const torch::Tensor& input,
                         const torch::Tensor& guide, const ParamValues& values) {
  ParamValues p;
  for (const auto& param : spec.params) p[param.name] = param.default_value;
  for (const auto& [name, value] : values) {
    const auto it = p.find(name);
    check(it != p.end(), "", "filter '" + spec.name + "' has no parameter --" + name);
    const FilterParam& param = *std::find_if(spec.params.begin(), spec.params.end(),
                                             [&](const FilterParam& f) { return f.name == name; });
    check(std::isfinite(value) && (!param.integer || value == std::floor(value)), "",
          "--" + name + " must be " + (param.integer ? "an integer" : "a finite number"));
    it->second = value;
  }
  check(spec.guide != GuideUse::None || !guide.defined(), "",
        "filter '" + spec.name + "' takes no guide");
  check(spec.guide != GuideUse::Required || guide.defined(), "",
        "filter '" + spec.name + "' needs a guide (--guide)");
  return spec.apply(input, guide, p);
}

}  // namespace strata::filter
