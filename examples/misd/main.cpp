// examples/misd/main.cpp -- the misd command-line tool.
// Exit status: 0 success; 1 bad data or I/O failure; 2 bad usage.
#include "cli.hpp"

#include "misd/error.hpp"

#include <cstring>
#include <iostream>
#include <string>

namespace {
constexpr const char* usage_text =
    "usage: misd <command> [options]\n"
    "commands:\n"
    "  metrics  --confidence C.npy --correct Y.npy [--format table|json]\n"
    "  score    --model M --inputs X.npy --method METHOD [--labels Y.npy] [--out S.npy] ...\n"
    "  train    --dataset fashion-mnist --objective standard|rat|at|reverse-at --out M ...\n"
    "  demo     [--quick] [--out-dir DIR]\n"
    "Run 'misd <command> --help' for a command's options.\n";
}

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::cout << usage_text;
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "metrics")
      return misd_cli::cmd_metrics(argc, argv);
    if (cmd == "score")
      return misd_cli::cmd_score(argc, argv);
    if (cmd == "train")
      return misd_cli::cmd_train(argc, argv);
    if (cmd == "demo")
      return misd_cli::cmd_demo(argc, argv);
    std::cerr << "misd: unknown command '" << cmd << "'\n" << usage_text;
    return 2;
  } catch (const misd_cli::usage_error& e) {
    std::cerr << "misd " << cmd << ": " << e.what() << "\n";
    return 2;
  } catch (const misd::invalid_argument& e) {
    std::cerr << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) { // misd::data_error, I/O failures
    std::cerr << e.what() << "\n";
    return 1;
  }
}
