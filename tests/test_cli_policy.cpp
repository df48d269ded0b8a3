// tests/test_cli_policy.cpp -- the CLI rows of docs/error_policy.md: the misd tool run as a
// child process on bad usage and bad files. Each case asserts the exit status and a message
// substring; a child killed by a signal (crash, sanitizer abort) fails the test.
#include <doctest/doctest.h>

#include "misd/data/npy.hpp"
#include "temp_dir.hpp"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#ifndef MISD_TOOL_PATH
#error "MISD_TOOL_PATH must name the misd executable"
#endif

namespace fs = std::filesystem;

namespace {
struct outcome {
  bool signalled = false;
  int signal = 0;
  int status = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

struct scratch {
  misd_test::temp_dir dir{"misd-test-cli-policy-"};
  /// Runs misd with exactly these arguments (no shell), stdout/stderr to files.
  outcome run(std::vector<std::string> args) const {
    const auto out = dir.path() / "out", err = dir.path() / "err";
    std::fflush(nullptr); // or the child would flush our buffered output a second time
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      if (!std::freopen(out.c_str(), "w", stdout) || !std::freopen(err.c_str(), "w", stderr))
        ::_exit(127);
      std::vector<char*> argv{const_cast<char*>(MISD_TOOL_PATH)};
      for (auto& a : args)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(MISD_TOOL_PATH, argv.data());
      ::_exit(127);
    }
    int st = 0;
    REQUIRE(::waitpid(pid, &st, 0) == pid);
    outcome o;
    o.signalled = WIFSIGNALED(st);
    o.signal = o.signalled ? WTERMSIG(st) : 0;
    o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    o.out = slurp(out);
    o.err = slurp(err);
    return o;
  }
  template <class T>
  std::string npy(const std::string& name, const std::vector<T>& v) const {
    const auto p = dir.path() / name;
    const std::size_t shape[1] = {v.size()};
    misd::data::write_npy<T>(p, v, shape);
    return p.string();
  }
  std::string raw(const std::string& name, const std::string& bytes) const {
    const auto p = dir.path() / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p.string();
  }
};

void expect(const outcome& o, int status, const std::string& needle) {
  INFO("stderr: ", o.err);
  REQUIRE_FALSE(o.signalled); // a crash is never an acceptable outcome
  CHECK(o.status == status);
  CHECK(o.err.find(needle) != std::string::npos);
}
} // namespace

TEST_CASE("C1 unknown command: exit 2 naming it") {
  scratch s;
  expect(s.run({"frobnicate"}), 2, "unknown command 'frobnicate'");
}

TEST_CASE("C2 unknown option: exit 2 naming it") {
  scratch s;
  expect(s.run({"metrics", "--bogus", "1"}), 2, "misd metrics: unknown option --bogus");
  expect(s.run({"metrics", "--bogus=1"}), 2, "unknown option --bogus");
}

TEST_CASE("C3 option without its value, or given twice: exit 2") {
  scratch s;
  expect(s.run({"metrics", "--confidence"}), 2, "option --confidence needs a value");
  expect(s.run({"metrics", "--format", "json", "--format=table"}), 2,
         "option --format given twice");
}

TEST_CASE("C4 required option missing, or a positional argument: exit 2") {
  scratch s;
  const auto c = s.npy<double>("c.npy", {0.1, 0.9});
  expect(s.run({"metrics", "--confidence", c}), 2, "missing required option --correct");
  expect(s.run({"metrics", "stray"}), 2, "unexpected argument 'stray'");
}

TEST_CASE("C5 option value out of its set: exit 2") {
  scratch s;
  const auto c = s.npy<double>("c.npy", {0.1, 0.9});
  const auto y = s.npy<std::uint8_t>("y.npy", {1, 0});
  expect(s.run({"metrics", "--confidence", c, "--correct", y, "--format", "xml"}), 2,
         "--format must be 'table' or 'json', got 'xml'");
}

TEST_CASE("C6 input file missing: exit 1 naming the file") {
  scratch s;
  const auto y = s.npy<std::uint8_t>("y.npy", {1, 0});
  const auto missing = (s.dir.path() / "missing.npy").string();
  expect(s.run({"metrics", "--confidence", missing, "--correct", y}), 1, missing);
  expect(s.run({"metrics", "--confidence", missing, "--correct", y}), 1, "cannot open");
}

TEST_CASE("C7 malformed NPY (bad magic, truncated): exit 1 naming the file and offset") {
  scratch s;
  const auto y = s.npy<std::uint8_t>("y.npy", {1, 0});
  const auto bad = s.raw("bad.npy", "PK\x03\x04 this is a zip file");
  expect(s.run({"metrics", "--confidence", bad, "--correct", y}), 1, "bad magic at byte offset 0");
  const auto good = s.npy<double>("good.npy", {0.1, 0.9});
  const std::string b = slurp(good);
  const auto cut = s.raw("cut.npy", b.substr(0, b.size() - 3));
  expect(s.run({"metrics", "--confidence", cut, "--correct", y}), 1,
         "truncated data: expected 16 bytes");
}

TEST_CASE("C8 NaN confidence: exit 1 naming the file and index") {
  scratch s;
  const auto c = s.npy<double>("c.npy", {0.1, std::numeric_limits<double>::quiet_NaN(), 0.3});
  const auto y = s.npy<std::uint8_t>("y.npy", {1, 0, 1});
  expect(s.run({"metrics", "--confidence", c, "--correct", y}), 1, "value at index 1 is NaN");
}

TEST_CASE("C9 confidence and correctness of different lengths: exit 1 naming both sizes") {
  scratch s;
  const auto c = s.npy<double>("c.npy", {0.1, 0.2, 0.3});
  const auto y = s.npy<std::uint8_t>("y.npy", {1, 0});
  expect(s.run({"metrics", "--confidence", c, "--correct", y}), 1,
         "has 3 values but correctness file");
}

TEST_CASE("C10 empty input: exit 1") {
  scratch s;
  const auto c = s.npy<double>("c.npy", {});
  const auto y = s.npy<std::uint8_t>("y.npy", {});
  expect(s.run({"metrics", "--confidence", c, "--correct", y}), 1, "is empty (0 examples)");
}

TEST_CASE("C11 correctness not 0/1: exit 1 naming the index") {
  scratch s;
  const auto c = s.npy<double>("c.npy", {0.1, 0.2});
  const auto y = s.npy<std::int64_t>("y.npy", {1, 7});
  expect(s.run({"metrics", "--confidence", c, "--correct", y}), 1, "index 1");
}

TEST_CASE("C12 degenerate metrics (no errors): exit 0, 'undefined' with the reason") {
  scratch s;
  const auto c = s.npy<double>("c.npy", {0.1, 0.2});
  const auto y = s.npy<std::uint8_t>("y.npy", {1, 1});
  const auto o = s.run({"metrics", "--confidence", c, "--correct", y});
  expect(o, 0, "auroc is undefined: AUROC is undefined: no misclassified examples");
  CHECK(o.out.find("| auroc | undefined |") != std::string::npos);
  const auto j = s.run({"metrics", "--confidence", c, "--correct", y, "--format", "json"});
  CHECK(j.out.find("\"auroc\":null") != std::string::npos);
}
