// misd/io.hpp -- the file formats (target misd::io: xtensor, nlohmann_json, zlib): NPY arrays,
// MNIST-family IDX files (gzip through zlib), MLP and sequential model directories, atomic
// file and directory replacement, and the evaluation report as JSON, CSV and JSON files.
// Not included by misd/misd.hpp; link misd::io to use it.
#pragma once

#include "misd/data/idx.hpp"
#include "misd/data/npy.hpp"
#include "misd/detail/atomic_write.hpp"
#include "misd/eigen/mlp_io.hpp"
#include "misd/eigen/sequential_io.hpp"
#include "misd/eval/report_io.hpp"
