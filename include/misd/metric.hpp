// misd/metric.hpp -- umbrella for the misclassification-detection metrics.
#pragma once

#include "misd/metric/aupr.hpp"
#include "misd/metric/aurc.hpp"
#include "misd/metric/auroc.hpp"
#include "misd/metric/fpr_at_tpr.hpp"
#include "misd/metric/risk_control.hpp"
#include "misd/metric/risk_coverage.hpp"
#include "misd/metric/summary.hpp"
#include "misd/metric/value.hpp"
