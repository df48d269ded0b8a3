// misd/torch.hpp -- the LibTorch adapter (target misd::torch): torch::Tensor batches, nn::Module
// and TorchScript models. Not included by misd/misd.hpp; link misd::torch to use it.
#pragma once

#include "misd/torch/model.hpp"
#include "misd/torch/ops.hpp"
#include "misd/torch/script.hpp"
#include "misd/torch/distributed.hpp"
