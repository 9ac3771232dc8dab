// Memory layout of module parameters.
#pragma once

#include <torch/nn/module.h>

namespace strata::nn {

/// Makes every 4-D parameter and buffer of `m` channels-last (NHWC memory), so that convolutions
/// fed channels-last inputs run without layout conversions (faster with cuDNN in fp16/bf16).
void to_channels_last(torch::nn::Module& m);

}  // namespace strata::nn
