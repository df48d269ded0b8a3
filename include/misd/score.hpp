// misd/score.hpp -- umbrella for the confidence scores and the method registry.
#pragma once

#include "misd/score/combined.hpp"
#include "misd/score/logit_scores.hpp"
#include "misd/score/method.hpp"
#include "misd/score/posthoc.hpp"
#include "misd/score/preprocess.hpp"
#include "misd/score/relu.hpp"
