// examples/misd/cmd_score.cpp -- 'misd score' (shared/spec/CLI.md). Not implemented yet.
#include "cli.hpp"

#include <iostream>

namespace misd_cli {
int cmd_score(int, char**) {
  std::cerr << "misd score: not available in this build yet\n";
  return 2;
}
} // namespace misd_cli
