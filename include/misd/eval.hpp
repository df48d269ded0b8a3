// misd/eval.hpp -- umbrella for the evaluation protocol and its reports.
#pragma once

#include "misd/eval/protocol.hpp"
#include "misd/eval/report.hpp"
