// bench/radius_calls.cpp -- one call of a method, for instruction counts under callgrind:
//   valgrind --tool=callgrind --instr-atstart=no ./radius_calls <method> <batch> [threads]
// method: raw | forward | rr-fast | rr-bs | rr-refine; threads: radius_options::threads
// (default 1; with --separate-threads=yes callgrind counts each thread apart). A warm-up call runs
// first (outside the measurement) so that workspaces are sized; only the second call is counted.
#include "bench_common.hpp"

#include <valgrind/callgrind.h>

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace misd_bench;

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr,
                 "usage: radius_calls raw|forward|rr-fast|rr-bs|rr-refine BATCH [THREADS]\n");
    return 2;
  }
  const std::string m = argv[1];
  const Eigen::Index n = std::stol(argv[2]);
  const model_type model = anchor_mlp();
  const batch x = images(n);
  misd::rr_refine_options o;
  o.box = misd::input_box{0, 1};
  o.threads = argc == 4 ? std::stoi(argv[3]) : 1;
  const misd::rr_bs_options bs_o{o};
  const misd::rr_fast_options fast_o{o};
  misd::radius_workspace<const model_type> ws;
  misd::radius_result r;
  model_type::scratch_type s;
  batch z;
  raw_chain raw(model, n);
  auto call = [&] {
    if (m == "raw")
      raw.run(x);
    else if (m == "forward")
      model.logits_into(x, n, z, s);
    else if (m == "rr-fast")
      misd::rr_fast(model, x, fast_o, ws, r);
    else if (m == "rr-bs")
      misd::rr_bs(model, x, bs_o, ws, r);
    else if (m == "rr-refine")
      misd::rr_refine(model, x, o, ws, r);
    else
      throw std::runtime_error("unknown method " + m);
  };
  call();
  if (std::getenv("MISD_CALLGRIND_ALL_THREADS") != nullptr) {
    // Instrumentation (global) without the collection toggle (per thread): with
    // --collect-atstart=yes --separate-threads=yes every thread's share of the call is
    // counted, e.g. the workers' with threads = 2.
    CALLGRIND_START_INSTRUMENTATION;
    call();
    CALLGRIND_STOP_INSTRUMENTATION;
  } else {
    CALLGRIND_START_INSTRUMENTATION;
    CALLGRIND_TOGGLE_COLLECT;
    call();
    CALLGRIND_TOGGLE_COLLECT;
    CALLGRIND_STOP_INSTRUMENTATION;
  }
  std::printf("%s batch %ld: example-forwards %zu\n", m.c_str(), long(n), r.example_forwards);
}
