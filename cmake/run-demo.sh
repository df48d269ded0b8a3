#!/usr/bin/env bash
# The README's demo command: installs what is missing (Debian packages), builds the misd
# tool and runs 'misd demo'. Arguments go to the demo, e.g. --quick or --out-dir DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs" --target misd_tool
./build/examples/misd demo "$@"
