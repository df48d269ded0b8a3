// examples/misd/cmd_metrics.cpp -- 'misd metrics' (shared/spec/CLI.md). Not implemented yet.
#include "cli.hpp"

#include <iostream>

namespace misd_cli {
int cmd_metrics(int, char**) {
  std::cerr << "misd metrics: not available in this build yet\n";
  return 2;
}
} // namespace misd_cli
