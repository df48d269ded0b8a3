// tests/thrown_message.hpp -- the message of the exception a call throws, for the tests that
// check what an error says.
#pragma once

#include <doctest/doctest.h>

#include <string>

namespace misd_test {

/// The message of the exception `f` throws, checked to be of type E.
template <class E, class F>
std::string thrown_message(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  FAIL("expected exception not thrown");
  return {};
}

} // namespace misd_test
