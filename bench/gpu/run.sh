#!/usr/bin/env bash
# GPU check of the LibTorch adapter (misd::torch), for a machine with a CUDA GPU and a
# pip-installed torch, in one call: builds test_torch, bench_torch and quality_torch against
# that torch (bench/gpu/CMakeLists.txt), runs test_torch on the device and checks its exit
# status (a crash at exit fails the run), measures misd next to the PyTorch reference harness
# (ref_throughput.py) on the same WRN weights at batches 128 and 512, and trains a Fashion-MNIST
# CNN with PyTorch to compare MSR / RR-Fast / RR-BS under fp32, TF32 and bf16 (quality_torch).
#
#   bash bench/gpu/run.sh                            # cuda, WRN-28-10, 3x32x32
#   bash bench/gpu/run.sh --device cpu --model small # dry run on CPU (WRN-10-1, small batches)
#   bash bench/gpu/run.sh --sections tests,small     # some of: tests, wrn, small, quality
#
# Environment: MISD_ANCHORS_DIR (required for the wrn and small sections: the folder holding the
# PyTorch reference harness ref_throughput.py, which is not part of this repository; without
# it those sections are skipped and say so), MISD_DEPS_DIR (eigen3/ and doctest/ header
# folders where the machine lacks them; default .deps in the repo root), MISD_FMNIST_DIR (the
# dataset-fashion-mnist files; default .gpudata in the repo root, then
# /usr/share/datasets/fashion-mnist; the quality step is skipped, and says so, without them),
# PYTHON (default python3), MISD_GPU_BUILD_DIR (default build-gpu-check in the repo root),
# OUT (logs and results copied there).
# Preparing a bare GPU machine from a Debian one (repo root; these folders are git-ignored):
#   mkdir -p .deps .gpudata && cp -r /usr/include/eigen3 /usr/include/doctest .deps/ && \
#   cp /usr/share/datasets/fashion-mnist/*.gz .gpudata/ && \
#   printf '/.deps/\n/.gpudata/\n' >> .git/info/exclude
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
device=cuda model=wrn batches=128,512 reps=10 ref_reps=1 epochs=15 sections=tests,wrn,small,quality
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --batch) batches=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --sections) sections=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$model" in
  wrn) depth=28 widen=10 ;;
  small) depth=10 widen=1 batches=16,32 reps=2 epochs=1 ;;
  *) echo "run.sh: --model wrn|small" >&2; exit 2 ;;
esac
big=${batches##*,}
on() { case ",$sections," in *",$1,"*) return 0 ;; esac; return 1; }

anchors=${MISD_ANCHORS_DIR:-}
if [ -n "$anchors" ] && [ ! -f "$anchors/ref_throughput.py" ]; then
  echo "run.sh: MISD_ANCHORS_DIR=$anchors holds no ref_throughput.py" >&2
  exit 1
fi
if [ -z "$anchors" ] && { on wrn || on small; }; then
  echo "== sections wrn and small skipped: MISD_ANCHORS_DIR (the PyTorch reference harness) is not set"
  sections=$(echo ",$sections," | sed 's/,wrn,/,/; s/,small,/,/; s/^,//; s/,$//')
fi
fmnist=${MISD_FMNIST_DIR:-}
if [ -n "$fmnist" ] && [ ! -f "$fmnist/train-images-idx3-ubyte.gz" ]; then
  echo "run.sh: MISD_FMNIST_DIR=$fmnist holds no train-images-idx3-ubyte.gz" >&2
  exit 1
fi
if [ -z "$fmnist" ]; then
  for d in "$repo/.gpudata" /usr/share/datasets/fashion-mnist; do
    if [ -f "$d/t10k-images-idx3-ubyte.gz" ]; then fmnist=$d; break; fi
  done
fi
py=${PYTHON:-python3}
build=${MISD_GPU_BUILD_DIR:-$repo/build-gpu-check}
deps=${MISD_DEPS_DIR:-$repo/.deps}
out=${OUT:-$build/out}
mkdir -p "$build" "$out"
# Whatever happens, the results so far and the crash traces come back in $out.
copy_out() {
  cp "$build/table.md" "$out/" 2>/dev/null
  (cd "$build" && tar czf "$out/results.tgz" $(ls *.json *.log table.md 2>/dev/null)) 2>/dev/null
  return 0
}
trap copy_out EXIT
trap 'echo "run.sh: terminated"; exit 143' TERM INT
prefix=$("$py" -c 'import torch;print(torch.utils.cmake_prefix_path)') || exit 1
echo "== torch $("$py" -c 'import torch;print(torch.__version__, "cuda", torch.cuda.is_available())'), sections $sections"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
t0=$(date +%s)
stamp() { echo "== [$(( $(date +%s) - t0 )) s] $*"; }

gen=()
if command -v ninja >/dev/null; then gen=(-G Ninja); fi
cmake -S "$repo/bench/gpu" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DMISD_DEPS_DIR="$deps" -DMISD_TEST_PYTHON="$(command -v "$py")" \
  > "$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j"${MISD_JOBS:-$(nproc)}" > "$build/build.log" 2>&1 || { tail -n 40 "$build/build.log"; exit 1; }
cc -shared -fPIC -O1 -o "$build/segv_trace.so" "$repo/bench/gpu/segv_trace.c" || exit 1
stamp "configured and built"

status=0
if on tests; then
  # The TorchScript files test_torch loads, exported once beforehand (MISD_TEST_TORCH_MODELS).
  rm -rf "$build/test-models" && mkdir -p "$build/test-models"
  "$py" "$repo/tests/python/export_torch_test_models.py" "$build/test-models" || exit 1
  # Each run's exit status counts, not only its checks: a crash at exit fails the script.
  # A run that crashes is repeated under segv_trace.so for its native backtrace.
  run_test() { # name, env..., -- args...
    local name=$1; shift
    local envs=(); while [ "$1" != -- ]; do envs+=("$1"); shift; done; shift
    env "${envs[@]}" MISD_TEST_DEVICE="$device" "$build/test_torch" "$@" > "$build/$name.log" 2>&1
    local rc=$?
    tail -n 3 "$build/$name.log"
    echo "   test_torch $name: exit status $rc"
    if [ $rc -ne 0 ]; then
      status=1
      env "${envs[@]}" MISD_TEST_DEVICE="$device" LD_PRELOAD="$build/segv_trace.so" \
        "$build/test_torch" "$@" > "$build/$name.trace.log" 2>&1
      grep -v '^\[doctest\]' "$build/$name.trace.log" | tail -n 40
    fi
  }
  stamp "test_torch on $device"
  run_test all "MISD_TEST_TORCH_MODELS=$build/test-models" --
  run_test torchscript "MISD_TEST_TORCH_MODELS=$build/test-models" -- -tc='TorchScript*'
  run_test badinput "MISD_TEST_TORCH_MODELS=$build/test-models" -- -tc='bad input*'
  run_test empty "MISD_TEST_TORCH_MODELS=$build/test-models" -- -tc='no such test'
  # What crashed test_torch at exit when it exported its models itself: a LibTorch program
  # without misd (exit_probe) with and without a std::system call, before or after CUDA use.
  stamp "exit_probe (diagnostic: exit status of each variant)"
  probe() {
    "$build/exit_probe" "$build/test-models/conv.pt" "$device" "$@" > "$build/probe.log" 2>&1
    echo "   exit_probe $*: exit status $?"
  }
  probe
  probe --static-dir
  probe --system true
  probe --system true --after
  probe --system "$py -c 'import torch'"
fi

if on wrn || on small; then
mkdir -p "$build/models"
"$py" "$repo/bench/gpu/export_models.py" --anchors "$anchors" --depth "$depth" --widen "$widen" \
  --out "$build/models/wrn-$depth-$widen.pt" || exit 1
wrn=("$build/bench_torch" --model "$build/models/wrn-$depth-$widen.pt" --device "$device" --shape 3,32,32)
fi
if on wrn; then
stamp "misd (LibTorch adapter), TF32 as PyTorch's defaults"
"${wrn[@]}" --batch "$batches" --reps "$reps" --steps 2,3 | tee "$build/misd.json"
stamp "misd, channels-last + bf16 autocast"
"${wrn[@]}" --batch "$batches" --reps "$reps" --steps 2,3 --channels-last --bf16 | tee "$build/misd-bf16.json"
stamp "misd, strict fp32 and TF32 everywhere, batch $big"
"${wrn[@]}" --batch "$big" --reps "$reps" --tf32 off | tee "$build/misd-fp32.json"
"${wrn[@]}" --batch "$big" --reps "$reps" --tf32 on | tee "$build/misd-tf32.json"
stamp "PyTorch reference (ref_throughput.py)"
PYTHONUNBUFFERED=1 "$py" "$anchors/ref_throughput.py" --device "$device" --batch ${batches//,/ } \
  --reps "$reps" --ref-reps "$ref_reps" --depth "$depth" --widen "$widen" | tee "$build/ref.json"
"$py" "$repo/bench/gpu/table.py" "$build/ref.json" "$build/misd.json" "$build/misd-bf16.json" \
  "$build/misd-fp32.json" "$build/misd-tf32.json" | tee "$build/table.md"
fi
if on small; then
  stamp "WRN at batch 16: RR-BS with steps_per_pass 2 and 3 (where a pass is not yet saturated)"
  "${wrn[@]}" --batch 16 --reps "$reps" --steps 2,3 | tee "$build/misd-16.json"
  PYTHONUNBUFFERED=1 "$py" "$anchors/ref_throughput.py" --device "$device" --batch 16 \
    --reps "$reps" --ref-reps "$ref_reps" --depth "$depth" --widen "$widen" | tee "$build/ref-16.json"
  "$py" "$repo/bench/gpu/table.py" "$build/ref-16.json" "$build/misd-16.json" | tee -a "$build/table.md"
fi

if ! on quality; then
  :
elif [ -n "$fmnist" ]; then
  stamp "Fashion-MNIST CNN: trained with PyTorch, scored under fp32 / TF32 / bf16"
  "$py" "$repo/bench/gpu/train_fmnist_cnn.py" --data "$fmnist" --out "$build/cnn" \
    --epochs "$epochs" --device "$device" || exit 1
  "$build/quality_torch" --model "$build/cnn/cnn.pt" --inputs "$build/cnn/test_x.f32" \
    --labels "$build/cnn/test_y.i64" --shape 1,28,28 --device "$device" --batch 1000 \
    | tee "$build/quality.json"
  "$py" "$repo/bench/gpu/table.py" --quality "$build/quality.json" | tee -a "$build/table.md"
  stamp "RR-BS steps_per_pass where a pass costs little more for more rows: the CNN, small batches"
  "$build/bench_torch" --model "$build/cnn/cnn.pt" --device "$device" --shape 1,28,28 \
    --batch 16,128 --reps "$reps" --steps 2,3,4 | tee "$build/misd-cnn.json"
else
  echo "== quality step skipped: no Fashion-MNIST files (MISD_FMNIST_DIR, .gpudata/)"
fi
stamp "total; exit status $status"
exit $status
