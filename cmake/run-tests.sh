#!/usr/bin/env bash
# The README's test command: installs what is missing (Debian packages), configures,
# builds and runs every test. Used as-is by CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS=0
bash cmake/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
# Benchmarks are not built here (CI time); bench/README.md says how to build and run them.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMISD_BUILD_BENCHMARKS="${MISD_BUILD_BENCHMARKS:-OFF}"
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 900
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
  ctest --preset asan -j"$jobs"
  echo "run-tests: AddressSanitizer build and tests done at ${SECONDS} s"
  cmake --preset tsan
  cmake --build --preset tsan -j"$jobs"
  ctest --preset tsan
  echo "run-tests: ThreadSanitizer done at ${SECONDS} s"
fi
bash fuzz/run.sh "${MISD_FUZZ_SECONDS:-20}"
echo "run-tests: fuzzing done at ${SECONDS} s"
