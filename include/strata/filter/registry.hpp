// The catalogue of classical filters by name, with their parameters and defaults: what
// `strata filter NAME ...` and `strata filter --list` use, and a uniform way to call any filter.
#pragma once

#include <torch/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace strata::filter {

struct FilterParam {
  std::string name;  ///< as on the command line, e.g. "radius", "sigma-s"
  double default_value;
  std::string help;
  bool integer = false;
};

/// Parameter values by name (only those the caller sets; the rest take defaults).
using ParamValues = std::map<std::string, double>;

enum class GuideUse { None, Optional, Required };

struct FilterSpec {
  std::string name;
  std::string description;
  GuideUse guide = GuideUse::None;  ///< Optional: self-guided when no guide is given
  std::vector<FilterParam> params;
  /// Calls the filter; `guide` is undefined when none was given; `p` holds every parameter.
  std::function<torch::Tensor(const torch::Tensor& input, const torch::Tensor& guide,
                              const ParamValues& p)>
      apply;
};

/// Every filter, in the order `strata filter --list` prints them.
const std::vector<FilterSpec>& filter_catalogue();

/// The filter called `name`; throws strata::Error naming the known filters otherwise.
const FilterSpec& find_filter(const std::string& name);

/// Runs `spec` on `input` with `values` over the defaults. Throws strata::Error for a parameter
/// the filter does not take, a non-integer value for an integer parameter, or a missing or
/// unexpected guide.
torch::Tensor run_filter(const FilterSpec& spec, const torch::Tensor& input,
                         const torch::Tensor& guide, const ParamValues& values);

}  // namespace strata::filter
