// misd/misd.hpp -- the core (target misd::misd, needs only Eigen): concepts, attacks, radius
// estimators, scores, metrics, the evaluation protocol, training and the Eigen backend.
// The other components have umbrellas of their own: misd/io.hpp (files: NPY, IDX, model
// directories, JSON reports; misd::io), misd/xtensor.hpp (xtensor batches; misd::xtensor) and
// misd/torch.hpp (LibTorch; misd::torch).
#pragma once

#include "misd/attack/fgsm.hpp"
#include "misd/attack/pgd.hpp"
#include "misd/box.hpp"
#include "misd/concepts.hpp"
#include "misd/eigen/layers.hpp"
#include "misd/eigen/linear.hpp"
#include "misd/eigen/mlp.hpp"
#include "misd/eigen/ops.hpp"
#include "misd/eigen/sequential.hpp"
#include "misd/error.hpp"
#include "misd/eval.hpp"
#include "misd/gradient_check.hpp"
#include "misd/metric.hpp"
#include "misd/model_adapter.hpp"
#include "misd/radius/boundary_refine.hpp"
#include "misd/radius/deepfool.hpp"
#include "misd/radius/options.hpp"
#include "misd/radius/result.hpp"
#include "misd/radius/rr_bs.hpp"
#include "misd/radius/rr_fast.hpp"
#include "misd/radius/rr_iter.hpp"
#include "misd/radius/rr_refine.hpp"
#include "misd/radius/workspace.hpp"
#include "misd/score.hpp"
#include "misd/train.hpp"
#include "misd/version.hpp"
