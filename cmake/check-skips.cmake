# cmake -DJUNIT=<file> [-DALLOWED=<regex>] -P cmake/check-skips.cmake
#
# Fails when a test of a CTest run was skipped (SKIP_RETURN_CODE: tests/skip.hpp, the
# Python checks' exit 77) or disabled, unless its name matches ALLOWED (a CMake regular
# expression; empty: none is allowed). JUNIT is the run's `ctest --output-junit` file.
# cmake/run-tests.sh (CI) runs it after each ctest: CTest counts a skipped test as not
# failed, so a machine where a dataset or a Python package is missing would otherwise
# report green without having run the tests that need it.
if(NOT DEFINED JUNIT OR NOT EXISTS "${JUNIT}")
  message(FATAL_ERROR "check-skips: no JUnit file '${JUNIT}' (ctest --output-junit)")
endif()
file(READ "${JUNIT}" xml)
string(REPLACE ";" "," xml "${xml}") # one list element per test case below
string(REGEX MATCHALL "<testcase [^>]*>[^<]*(<skipped [^>]*>)?[^<]*(<system-out>[^<]*)?" cases
       "${xml}")
list(LENGTH cases total)
if(total EQUAL 0)
  message(FATAL_ERROR "check-skips: ${JUNIT} lists no test at all")
endif()
set(bad "")
set(allowed "")
set(n_allowed 0)
foreach(c IN LISTS cases)
  string(REGEX REPLACE "^<testcase name=\"([^\"]*)\".*" "\\1" name "${c}")
  string(REGEX MATCH "status=\"([a-z]*)\"" _ "${c}")
  set(status "${CMAKE_MATCH_1}")
  if(status STREQUAL "run" OR status STREQUAL "fail")
    continue() # a failure is ctest's to report
  endif()
  # Why, as the test said it ("SKIPPED: why" from tests/skip.hpp, "SKIP: why" from the
  # Python checks).
  set(why "")
  if(c MATCHES "<system-out>[^<]*SKIP(PED)?: ([^\n]*)")
    set(why " -- ${CMAKE_MATCH_2}")
  endif()
  if(NOT "${ALLOWED}" STREQUAL "" AND name MATCHES "${ALLOWED}")
    string(APPEND allowed "\n  ${name} (${status}, allowed)${why}")
    math(EXPR n_allowed "${n_allowed} + 1")
  else()
    string(APPEND bad "\n  ${name} (${status})${why}")
  endif()
endforeach()
if(NOT allowed STREQUAL "")
  message(STATUS "check-skips: skipped as allowed by '${ALLOWED}':${allowed}")
endif()
if(NOT bad STREQUAL "")
  message(FATAL_ERROR
          "check-skips: tests that were expected to run did not (${JUNIT}):${bad}\n"
          "Install what they need (cmake/install-deps.sh), or allow them by name with "
          "MISD_ALLOWED_SKIPS='<regex>'.")
endif()
math(EXPR n_run "${total} - ${n_allowed}")
message(STATUS "check-skips: ${n_run} of ${total} tests ran, ${n_allowed} skipped as allowed (${JUNIT})")
