#!/usr/bin/env bash
# Installs the Debian packages ponder's build and tests need; skips what is already there.
# LibTorch is among them because the test suite builds the toy-model trainer and runs a
# smoke training (the runtime never links it).
set -euo pipefail

packages=(build-essential cmake ninja-build git pkg-config
  nlohmann-json3-dev libssl-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
  libspdlog-dev libcpp-httplib-dev gnuplot-nox clang libclang-rt-14-dev
  # Without OpenBLAS, Debian's LibTorch falls back to the reference BLAS (10x slower).
  libtorch-dev libopenblas0-pthread
  # The live page's browser test drives headless Chromium (tests/page; about 80 s to install).
  chromium)
command -v npm >/dev/null || packages+=(npm)  # fetches the pinned llama.cpp source and the openai client test's package
command -v node >/dev/null || packages+=(nodejs)  # runs the openai client against `ponder serve`

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
