#!/usr/bin/env bash
# Installs, from Debian's packages, whatever misd needs that is not already present.
# Idempotent: when everything is installed it changes nothing and installs nothing.
#   bash cmake/install-deps.sh            core + tests + demo + LibTorch adapter
#   MISD_NO_TORCH=1 bash cmake/install-deps.sh   skip libtorch-dev / python3-torch
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  libeigen3-dev xtensor-dev xtl-dev nlohmann-json3-dev
  doctest-dev libbenchmark-dev zlib1g-dev libjpeg-dev libcli11-dev
  dataset-fashion-mnist gnuplot-nox
  python3 python3-numpy python3-sklearn python3-scipy python3-mpmath python3-pil
  clang libclang-rt-14-dev valgrind
)
if [ "${MISD_NO_TORCH:-0}" != 1 ]; then
  # libgloo-dev: the Gloo headers that c10d's ProcessGroupGloo.hpp includes (misd/torch/distributed.hpp)
  packages+=(libtorch-dev python3-torch libgloo-dev)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
