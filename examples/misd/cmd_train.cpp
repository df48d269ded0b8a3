// examples/misd/cmd_train.cpp -- 'misd train' (shared/spec/CLI.md). Not implemented yet.
#include "cli.hpp"

#include <iostream>

namespace misd_cli {
int cmd_train(int, char**) {
  std::cerr << "misd train: not available in this build yet\n";
  return 2;
}
} // namespace misd_cli
