// A residual connection around a Sequential, x + block(x) (He et al. 2016), as a module that the
// layer-streaming executor (strata/nn/streaming.hpp) recognises.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <utility>

#include "strata/nn/layers.hpp"

namespace strata::nn {

/// x + block(x); the block is registered as "block" (its weights are "block.<i>.…").
class ResidualImpl : public torch::nn::Module {
 public:
  explicit ResidualImpl(torch::nn::Sequential block)
      : block_(register_module("block", std::move(block))) {}

  torch::Tensor forward(const torch::Tensor& x) { return residual_forward(block_, x); }

  torch::nn::Sequential& block() { return block_; }

 private:
  torch::nn::Sequential block_;
};
TORCH_MODULE(Residual);

}  // namespace strata::nn
