// tests/skip.hpp -- a skip CTest reports as a skip. A test case that cannot run here (a
// dataset or a Python package missing) calls skip_test(why): the program prints why and
// exits with CTest's SKIP_RETURN_CODE (77), so CTest lists the test as "Skipped" in its
// summary instead of counting it as passed, and cmake/run-tests.sh fails when a test it
// expects to run was skipped (cmake/check-skips.cmake). Such cases belong to a doctest test
// suite that tests/CMakeLists.txt registers as a CTest test of its own (misd_add_test's
// NEEDS), so that the other cases of the program still run. Deliberately light: no misd or
// doctest headers.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace misd_test {

/// CTest's SKIP_RETURN_CODE for every test that can skip.
inline constexpr int skip_exit_code = 77;

/// Ends the test program as skipped. Nothing after it runs, so call it before making
/// anything whose destructor matters (a temp_dir is left behind otherwise).
[[noreturn]] inline void skip_test(const std::string& why) {
  std::printf("SKIPPED: %s\n", why.c_str());
  std::fflush(nullptr);
  std::_Exit(skip_exit_code);
}

} // namespace misd_test
