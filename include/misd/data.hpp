// misd/data.hpp -- data I/O: NPY arrays (xtensor) and MNIST-family IDX files (Eigen).
#pragma once

#include "misd/data/idx.hpp"
#include "misd/data/npy.hpp"
