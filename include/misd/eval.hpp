// misd/eval.hpp -- umbrella for the evaluation protocol and its reports (JSON and files:
// misd/eval/report_io.hpp, component misd::io).
#pragma once

#include "misd/eval/protocol.hpp"
#include "misd/eval/report.hpp"
