#!/usr/bin/env bash
# GPU check of the LibTorch adapter (misd::torch), for a machine with a CUDA GPU and a
# pip-installed torch. Configures bench/gpu/ against that torch, builds test_torch and
# bench_torch, runs the tests on the device (MISD_TEST_DEVICE), exports the anchor's WRN to
# TorchScript with ref_throughput.py's own weights, and prints misd's throughput next to
# shared/anchors/ref_throughput.py run in the same call.
#
#   bash bench/gpu/run.sh                            # cuda, WRN-28-10, 3x32x32, batch 512, fp32
#   bash bench/gpu/run.sh --device cpu --model small # dry run on CPU in seconds (WRN-10-1, batch 16)
#
# Environment: MISD_ANCHORS_DIR (default: ../shared/anchors from the repo root, then
# shared/anchors inside it), MISD_DEPS_DIR (eigen3/ and doctest/ header folders where the
# machine lacks them; default .deps in the repo root), PYTHON (default python3),
# MISD_GPU_BUILD_DIR (default build-gpu-check in the repo root), OUT (results copied there).
# Preparing a bare GPU machine from a Debian one (repo root):
#   mkdir -p .deps && cp -r /usr/include/eigen3 /usr/include/doctest .deps/ && \
#   mkdir -p shared && cp -r ../shared/anchors shared/ && printf '/.deps/\n/shared/\n' >> .git/info/exclude
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
device=cuda model=wrn batch=512 reps=10 ref_reps=2 skip_tests=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --ref-reps) ref_reps=$2; shift 2 ;;
    --skip-tests) skip_tests=1; shift ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$model" in
  wrn) depth=28 widen=10 ;;
  small) depth=10 widen=1; [ "$batch" = 512 ] && batch=16; [ "$reps" = 10 ] && reps=2; ref_reps=1 ;;
  *) echo "run.sh: --model wrn|small" >&2; exit 2 ;;
esac

anchors=${MISD_ANCHORS_DIR:-}
if [ -z "$anchors" ]; then
  for d in "$repo/../shared/anchors" "$repo/shared/anchors"; do
    if [ -f "$d/ref_throughput.py" ]; then anchors=$d; break; fi
  done
fi
if [ -z "$anchors" ] || [ ! -f "$anchors/ref_throughput.py" ]; then
  echo "run.sh: ref_throughput.py not found (looked in ../shared/anchors and shared/anchors from $repo; set MISD_ANCHORS_DIR)" >&2
  exit 1
fi
py=${PYTHON:-python3}
build=${MISD_GPU_BUILD_DIR:-$repo/build-gpu-check}
deps=${MISD_DEPS_DIR:-$repo/.deps}
prefix=$("$py" -c 'import torch;print(torch.utils.cmake_prefix_path)')
echo "== torch $("$py" -c 'import torch;print(torch.__version__, "cuda", torch.cuda.is_available())'), anchors $anchors"

gen=()
if command -v ninja >/dev/null; then gen=(-G Ninja); fi
t0=$(date +%s)
cmake -S "$repo/bench/gpu" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DMISD_DEPS_DIR="$deps" -DMISD_TEST_PYTHON="$(command -v "$py")" \
  > "$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j"${MISD_JOBS:-$(nproc)}" 2>&1 | tail -n 20
echo "== configured and built in $(( $(date +%s) - t0 )) s"

status=0
if [ "$skip_tests" = 0 ] && [ -x "$build/test_torch" ]; then
  echo "== test_torch on $device"
  MISD_TEST_DEVICE=$device "$build/test_torch" || status=1
fi

mkdir -p "$build/models"
"$py" "$repo/bench/gpu/export_models.py" --anchors "$anchors" --depth "$depth" --widen "$widen" \
  --out "$build/models/wrn-$depth-$widen.pt"
echo "== misd (LibTorch adapter)"
"$build/bench_torch" --model "$build/models/wrn-$depth-$widen.pt" --device "$device" \
  --batch "$batch" --shape 3,32,32 --reps "$reps" | tee "$build/misd.json"
echo "== PyTorch reference (ref_throughput.py)"
PYTHONUNBUFFERED=1 "$py" "$anchors/ref_throughput.py" --device "$device" --batch "$batch" \
  --reps "$reps" --ref-reps "$ref_reps" --depth "$depth" --widen "$widen" | tee "$build/ref.json"
"$py" "$repo/bench/gpu/table.py" "$build/misd.json" "$build/ref.json" | tee "$build/table.md"
if [ -n "${OUT:-}" ]; then cp "$build/misd.json" "$build/ref.json" "$build/table.md" "$OUT/" || true; fi
echo "== total $(( $(date +%s) - t0 )) s"
exit $status
