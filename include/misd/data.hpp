// misd/data.hpp -- data I/O (component misd::io): NPY arrays (xtensor) and MNIST-family IDX
// files (Eigen; gzip through zlib).
#pragma once

#include "misd/data/idx.hpp"
#include "misd/data/npy.hpp"
