// misd/misd.hpp -- everything except optional backends (LibTorch: misd/torch.hpp).
#pragma once

#include "misd/attack/fgsm.hpp"
#include "misd/attack/pgd.hpp"
#include "misd/box.hpp"
#include "misd/concepts.hpp"
#include "misd/eigen/linear.hpp"
#include "misd/eigen/mlp.hpp"
#include "misd/eigen/ops.hpp"
#include "misd/error.hpp"
#include "misd/gradient_check.hpp"
#include "misd/radius/options.hpp"
#include "misd/radius/rr_bs.hpp"
#include "misd/radius/rr_fast.hpp"
#include "misd/version.hpp"
#include "misd/xtensor/linear.hpp"
#include "misd/xtensor/ops.hpp"
#include "misd/train.hpp"
