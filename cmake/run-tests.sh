#!/usr/bin/env bash
# The README's test command: installs what is missing (Debian packages), configures,
# builds and runs every test. Used as-is by CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 900
