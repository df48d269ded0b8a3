// fuzz/fuzz_cli_args.cpp -- libFuzzer target: the misd tool's argument parser
// (examples/misd/cli.hpp, misd_cli::args). The input is split at NUL bytes into argv.
// Parsing and every accessor must succeed or throw misd_cli::usage_error (exit status 2).
#include "../examples/misd/cli.hpp"

#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> words{"misd", "score"};
  std::string cur;
  for (std::size_t k = 0; k < size; ++k) {
    if (data[k] == 0) {
      words.push_back(cur);
      cur.clear();
    } else {
      cur += static_cast<char>(data[k]);
    }
  }
  words.push_back(cur);
  std::vector<char*> argv;
  for (auto& w : words)
    argv.push_back(w.data());
  argv.push_back(nullptr);
  const int argc = static_cast<int>(words.size());
  try {
    const misd_cli::args a(
        argc, argv.data(), 2,
        {"model", "inputs", "method", "labels", "out", "temperature", "budget", "seed", "format"},
        {"help", "quick", "verbose"});
    for (const char* name : {"model", "temperature", "budget", "seed", "format", "help", "nope"}) {
      (void)a.has(name);
      (void)a.get(name);
      try {
        (void)a.required(name);
      } catch (const misd_cli::usage_error&) {
      }
      try {
        (void)a.number(name, 1.0);
      } catch (const misd_cli::usage_error&) {
      }
      try {
        (void)a.integer(name, 1);
      } catch (const misd_cli::usage_error&) {
      }
      if (auto v = a.get(name))
        (void)misd_cli::args::split(*v);
    }
  } catch (const misd_cli::usage_error&) {
  }
  return 0;
}
