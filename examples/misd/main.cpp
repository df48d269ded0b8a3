// examples/misd/main.cpp -- the misd command-line tool.
// Exit status: 0 success; 1 bad data or I/O failure; 2 bad usage.
#include "command_line.hpp"
#ifdef MISD_WITH_TORCH
#include "score_torch.hpp"
#endif

#include "misd/error.hpp"

#include <iostream>
#include <string>

namespace {
int run(const misd_cli::command_line& c) {
  const std::string cmd = c.command();
  if (cmd == "metrics")
    return misd_cli::cmd_metrics(c.metrics);
  if (cmd == "threshold")
    return misd_cli::cmd_threshold(c.threshold);
  if (cmd == "score") {
#ifdef MISD_WITH_TORCH
    if (misd_cli::is_torchscript(c.score.model)) // the LibTorch adapter (score_torch.cpp)
      return misd_cli::cmd_score_torch(c.score);
#endif
    return misd_cli::cmd_score(c.score);
  }
  if (cmd == "train")
    return misd_cli::cmd_train(c.train);
  if (cmd == "corrupt")
    return misd_cli::cmd_corrupt(c.corrupt);
  return misd_cli::cmd_demo(c.demo);
}
} // namespace

int main(int argc, char** argv) {
  misd_cli::command_line c;
  try {
    if (const auto status = c.parse(argc, argv, std::cout))
      return *status;
  } catch (const misd_cli::usage_error& e) {
    const std::string cmd = c.command();
    std::cerr << "misd" << (cmd.empty() ? "" : " " + cmd) << ": " << e.what() << "\n";
    if (cmd.empty())
      std::cerr << c.help();
    return 2;
  }
  try {
    return run(c);
  } catch (const misd_cli::usage_error& e) {
    std::cerr << "misd " << c.command() << ": " << e.what() << "\n";
    return 2;
  } catch (const misd::invalid_argument& e) {
    std::cerr << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) { // misd::data_error, I/O failures
    std::cerr << e.what() << "\n";
    return 1;
  }
}
