// misd/torch.hpp -- the LibTorch adapter (target misd::torch): torch::Tensor batches, nn::Module
// and TorchScript models. Not included by misd/misd.hpp; link misd::torch to use it.
#pragma once

#include "misd/torch/model.hpp"
#include "misd/torch/ops.hpp"
#include "misd/torch/script.hpp"
// The process group needs Gloo's headers, which LibTorch includes but does not ship (Debian:
// libgloo-dev); without them misd/torch.hpp leaves it out.
#if __has_include(<gloo/algorithm.h>)
#include "misd/torch/distributed.hpp"
#endif
