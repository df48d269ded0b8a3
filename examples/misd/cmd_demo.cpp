// examples/misd/cmd_demo.cpp -- 'misd demo' (shared/spec/CLI.md). Not implemented yet.
#include "cli.hpp"

#include <iostream>

namespace misd_cli {
int cmd_demo(int, char**) {
  std::cerr << "misd demo: not available in this build yet\n";
  return 2;
}
} // namespace misd_cli
