// fuzz/fuzz_cli_args.cpp -- libFuzzer target: the misd tool's command line
// (examples/misd/command_line.hpp, misd_cli::command_line on CLI11). The input is split at NUL
// bytes into argv after "misd". Parsing must succeed, print help, or throw
// misd_cli::usage_error (exit status 2); nothing else may escape.
#include "../examples/misd/command_line.hpp"

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> words{"misd"};
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
  misd_cli::command_line c;
  std::ostringstream help;
  try {
    (void)c.parse(argc, argv.data(), help);
    (void)c.command();
  } catch (const misd_cli::usage_error&) {
    (void)c.command();
  }
  return 0;
}
