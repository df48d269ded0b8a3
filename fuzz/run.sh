#!/usr/bin/env bash
# Builds misd's libFuzzer targets with clang++ (ASan + UBSan), replays the committed seed
# corpus and the crash regressions, then fuzzes each target for a bounded time.
#   bash fuzz/run.sh [seconds]      seconds of fuzzing per target (default 60; 0 = replay only)
# Environment: MISD_FUZZ_CXX (default clang++), MISD_FUZZ_BUILD (default build-fuzz),
#              MISD_FUZZ_TARGETS (space-separated subset of the targets below).
# New corpus entries go to $MISD_FUZZ_BUILD/corpus/<target> (the committed corpus under
# fuzz/corpus/ stays small and is only read); a crash leaves its input in
# $MISD_FUZZ_BUILD/artifacts/ and makes the script fail. Turn every crash into a committed
# file under tests/data/regressions/<target>/ with a test in tests/test_reliability.cpp.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
cxx="${MISD_FUZZ_CXX:-clang++}"
build="${MISD_FUZZ_BUILD:-build-fuzz}"
targets=(${MISD_FUZZ_TARGETS:-fuzz_npy fuzz_idx fuzz_mlp_dir fuzz_sequential_dir fuzz_cli_args})

if ! command -v "$cxx" >/dev/null; then
  echo "fuzz/run.sh: $cxx not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi
mkdir -p "$build/artifacts"
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -Iinclude -I/usr/include/eigen3 -Wall -Wextra)

build_one() {
  local t=$1 bin="$build/$1" start
  # Rebuild when the target, the library headers or the command line changed.
  if [ ! -x "$bin" ] || [ -n "$(find include fuzz examples/misd/command_line.hpp examples/misd/options.hpp -newer "$bin" \
                                  \( -name '*.hpp' -o -name '*.cpp' \) -print -quit)" ]; then
    echo "fuzz: building $t"
    start=$(date +%s)
    "$cxx" "${flags[@]}" "fuzz/$t.cpp" -o "$bin" -lz
    echo "fuzz: built $t in $(( $(date +%s) - start )) s"
  fi
}
# Two builds at a time (CI has two cores); any failed build fails the script.
jobs_max=${MISD_FUZZ_JOBS:-2}
pids=()
for t in "${targets[@]}"; do
  build_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs_max" ]; then
    wait "${pids[0]}"
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p"; done

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
common=(-rss_limit_mb=2048 -timeout=20 -max_len=8192 -print_final_stats=0)
status=0
for t in "${targets[@]}"; do
  bin="$build/$t"
  seeds=(fuzz/corpus/$t)
  [ -d "tests/data/regressions/$t" ] && seeds+=("tests/data/regressions/$t")
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  echo "fuzz: replaying ${seeds[*]} through $t"
  if ! "$bin" "${common[@]}" -runs=0 "${dict[@]}" "${seeds[@]}" >"$build/$t.replay.log" 2>&1; then
    echo "fuzz: $t FAILED on a committed input:" >&2
    tail -40 "$build/$t.replay.log" >&2
    status=1
    continue
  fi
  if [ "$seconds" -gt 0 ]; then
    mkdir -p "$build/corpus/$t"
    echo "fuzz: fuzzing $t for $seconds s"
    if ! "$bin" "${common[@]}" -max_total_time="$seconds" "${dict[@]}" \
         -artifact_prefix="$build/artifacts/$t-" "$build/corpus/$t" "${seeds[@]}" \
         >"$build/$t.fuzz.log" 2>&1; then
      echo "fuzz: $t found a crash (input under $build/artifacts/):" >&2
      tail -60 "$build/$t.fuzz.log" >&2
      status=1
      continue
    fi
    grep -E '^#[0-9]+.*DONE' "$build/$t.fuzz.log" | tail -1 | sed "s/^/fuzz: $t /" || true
  fi
done
exit $status
