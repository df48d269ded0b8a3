#!/usr/bin/env bash
# The README's test command: installs what is missing (Debian packages), configures,
# builds and runs every test. Used as-is by CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS=0
bash cmake/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
# Benchmarks are not built here (CI time); bench/README.md says how to build and run them.
# A test that cannot run here (a dataset or a Python package missing) exits 77 and CTest
# reports it as skipped, not passed (tests/skip.hpp). Every test is expected to run, so any
# skip fails this script (cmake/check-skips.cmake) unless its name matches
# MISD_ALLOWED_SKIPS (a CMake regex); with MISD_NO_TORCH=1 (no python3-torch installed) the
# comparisons with PyTorch are allowed to skip. No test needs a GPU.
allowed_skips="${MISD_ALLOWED_SKIPS:-}"
if [ "${MISD_NO_TORCH:-0}" = 1 ]; then
  allowed_skips="${allowed_skips:+$allowed_skips|}^(test_mlp_io_torch|sequential_torch_export|sequential_torch_check|score_torch_e2e)\$"
fi
check_skips() { cmake -DJUNIT="$1" -DALLOWED="$allowed_skips" -P cmake/check-skips.cmake; }

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMISD_BUILD_BENCHMARKS="${MISD_BUILD_BENCHMARKS:-OFF}"
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 900 \
  --output-junit "$PWD/build/ctest-junit.xml"
check_skips build/ctest-junit.xml
echo "run-tests: build and tests done at ${SECONDS} s"

# The test suite again under AddressSanitizer + UBSan (CMakePresets.json "asan": -O1, tests
# only, no LibTorch; test_workspace_alloc counts allocations there through ASan's allocation
# hook instead of replacing malloc), then the concurrency test under ThreadSanitizer
# ("tsan"), then the fuzzers: replay of the committed corpus and regressions, and
# MISD_FUZZ_SECONDS (default 20, to keep the whole CI run under 30 minutes on 2 cores) of
# fuzzing per target. MISD_SKIP_SANITIZERS=1 / MISD_FUZZ_SECONDS=0 shorten a local run.
if [ "${MISD_SKIP_SANITIZERS:-0}" != 1 ]; then
  cmake --preset asan
  cmake --build --preset asan -j"$jobs"
  ctest --preset asan -j"$jobs" --output-junit "$PWD/build-asan/ctest-junit.xml"
  check_skips build-asan/ctest-junit.xml
  echo "run-tests: AddressSanitizer build and tests done at ${SECONDS} s"
  cmake --preset tsan
  cmake --build --preset tsan -j"$jobs"
  ctest --preset tsan
  echo "run-tests: ThreadSanitizer done at ${SECONDS} s"
fi
bash fuzz/run.sh "${MISD_FUZZ_SECONDS:-20}"
echo "run-tests: fuzzing done at ${SECONDS} s"
