// misd/xtensor.hpp -- the xtensor backend (target misd::xtensor): batches as xt::xtensor<S, 2>
// and a linear model over them. Not included by misd/misd.hpp; link misd::xtensor to use it.
#pragma once

#include "misd/xtensor/linear.hpp"
#include "misd/xtensor/ops.hpp"
