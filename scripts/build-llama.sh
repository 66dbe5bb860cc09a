#!/usr/bin/env bash
# Builds the pinned llama.cpp once into a cache outside the repository and installs it
# there (static libraries, CMake package, llama-batched-bench). Later runs reuse it.
# Prints the install prefix.
#
#   scripts/build-llama.sh            the libraries and llama-batched-bench
#   scripts/build-llama.sh --server   also llama-server from the same source and build
#                                     (`make llama-server`: the server benchmarks and the
#                                     remote backend's real-server test, which CI runs)
#   scripts/build-llama.sh --speculative-examples
#                                     also llama-speculative and llama-lookup (its
#                                     examples; for docs/speculative.md's comparison only)
#
#   PONDER_CACHE      cache root (default: ~/.cache/ponder)
#   PONDER_LLAMA_SRC  an existing llama.cpp checkout at the pinned commit (skips npm)
set -euo pipefail

with_server=0
with_examples=0
case "${1:-}" in
  "") ;;
  --server) with_server=1 ;;
  --speculative-examples) with_examples=1 ;;
  *) echo "usage: scripts/build-llama.sh [--server | --speculative-examples]" >&2; exit 2 ;;
esac

readonly LLAMA_COMMIT=80fb11ac73e66d89eae2c6a91d8a77428fa733ed
readonly NPM_PACKAGE=node-llama-cpp@3.21.1
# Names the build options below in the cache directory: change it with them, so that a
# cache built another way is never reused.
readonly BUILD_TAG=threadpool

cache="${PONDER_CACHE:-$HOME/.cache/ponder}"
root="$cache/llama.cpp-${LLAMA_COMMIT:0:12}-$BUILD_TAG"
prefix="$root/install"
stamp="$prefix/.ponder-built"
server_stamp="$prefix/.ponder-built-server"
examples_stamp="$prefix/.ponder-built-speculative-examples"
build="$root/build"

src="${PONDER_LLAMA_SRC:-$root/src}"
common_stamp="$prefix/.ponder-common"

# llama.cpp's `common` library (its Jinja chat templates, which the engine uses for
# thinking-mode control) is built with the rest but its install rule copies the archive
# only: put its headers and the archive it needs beside it. A cache built before this
# step gets it from its build directory, without building anything again.
install_common() {
  local from
  [[ -f "$build/CMakeCache.txt" ]] || return 1
  from=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
  [[ -d "$from/common" && -f "$build/common/libllama-common-base.a" ]] || return 1
  rm -rf "$prefix/include/llama-common"
  mkdir -p "$prefix/include/llama-common/jinja"
  install -m 644 "$from"/common/*.h "$prefix/include/llama-common/"
  install -m 644 "$from"/common/jinja/*.h "$prefix/include/llama-common/jinja/"
  install -m 644 "$build/common/libllama-common-base.a" "$prefix/lib/"
  touch "$common_stamp"
}

if [[ -f "$stamp" && ( $with_server == 0 || -f "$server_stamp" ) && ( $with_examples == 0 || -f "$examples_stamp" ) ]]; then
  if [[ -f "$common_stamp" ]] || install_common; then
    echo "$prefix"
    exit 0
  fi
  echo "build-llama: $root has no build directory to take llama.cpp's common headers from; building again" >&2
  rm -f "$stamp"
fi
mkdir -p "$root"

# A build directory answers only to the source it was configured from: reuse that one.
if [[ -z "${PONDER_LLAMA_SRC:-}" && ! -d "$src/.git" && -f "$build/CMakeCache.txt" ]]; then
  configured=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
  if [[ -n "$configured" && -d "$configured/.git" ]]; then src="$configured"; fi
fi
if [[ ! -d "$src/.git" ]]; then
  # The npm package carries llama.cpp's git release as a bundle: no other download.
  echo "build-llama: fetching $NPM_PACKAGE" >&2
  work="$root/npm"
  rm -rf "$work" && mkdir -p "$work"
  (cd "$work" && npm pack --silent "$NPM_PACKAGE" >/dev/null &&
    tar xzf node-llama-cpp-*.tgz package/llama/gitRelease.bundle)
  git clone --quiet "$work/package/llama/gitRelease.bundle" "$src"
  rm -rf "$work"
fi
actual=$(git -C "$src" rev-parse HEAD)
if [[ "$actual" != "$LLAMA_COMMIT" ]]; then
  git -C "$src" -c advice.detachedHead=false checkout --quiet "$LLAMA_COMMIT" ||
    { echo "build-llama: $src is at $actual, need $LLAMA_COMMIT" >&2; exit 1; }
fi

jobs=$(nproc)

# llama-server for the comparison benchmark: tools on just for it (no web UI, nothing
# downloaded), then off again so that the libraries' build stays as it was.
build_server() {
  echo "build-llama: building llama-server ${LLAMA_COMMIT:0:12} with $jobs jobs (once)" >&2
  cmake -S "$src" -B "$build" -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF >>"$root/configure.log"
  cmake --build "$build" -j "$jobs" --target llama-server >"$root/build-server.log"
  cmake -S "$src" -B "$build" -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF >>"$root/configure.log"
  mkdir -p "$prefix/bin"
  install -m 755 "$build/bin/llama-server" "$prefix/bin/llama-server"
  touch "$server_stamp"
}

# llama-speculative and llama-lookup, the same way: examples on just for them, then off.
build_examples() {
  echo "build-llama: building llama-speculative and llama-lookup ${LLAMA_COMMIT:0:12} with $jobs jobs (once)" >&2
  cmake -S "$src" -B "$build" -DLLAMA_BUILD_EXAMPLES=ON >>"$root/configure.log"
  cmake --build "$build" -j "$jobs" --target llama-speculative llama-lookup >"$root/build-examples.log"
  cmake -S "$src" -B "$build" -DLLAMA_BUILD_EXAMPLES=OFF >>"$root/configure.log"
  mkdir -p "$prefix/bin"
  install -m 755 "$build/bin/llama-speculative" "$prefix/bin/llama-speculative"
  install -m 755 "$build/bin/llama-lookup" "$prefix/bin/llama-lookup"
  touch "$examples_stamp"
}

if [[ -f "$stamp" ]]; then
  if [[ $with_server == 1 ]]; then build_server; fi
  if [[ $with_examples == 1 ]]; then build_examples; fi
  echo "$prefix"
  exit 0
fi

# GGML_OPENMP=OFF: ggml's own threadpool, which the engine attaches to each context,
# decodes both the toy models and the naive loop ~20% faster than OpenMP's barriers
# (docs/speed.md).
echo "build-llama: building llama.cpp ${LLAMA_COMMIT:0:12} with $jobs jobs (once)" >&2
cmake -S "$src" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DBUILD_SHARED_LIBS=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
  -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON \
  -DGGML_OPENMP=OFF \
  -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_COMMON=ON >"$root/configure.log"
cmake --build "$build" -j "$jobs" --target llama llama-common llama-batched-bench >"$root/build.log"
# Tools stay out of the install (it would want all of them built): turn them off,
# which rebuilds nothing, then install the libraries and copy the one tool we use.
cmake -S "$src" -B "$build" -DLLAMA_BUILD_TOOLS=OFF >>"$root/configure.log"
cmake --build "$build" -j "$jobs" --target llama llama-common >>"$root/build.log"
cmake --install "$build" >"$root/install.log"
mkdir -p "$prefix/bin"
install -m 755 "$build/bin/llama-batched-bench" "$prefix/bin/llama-batched-bench"
install_common || { echo "build-llama: installing llama.cpp's common headers failed" >&2; exit 1; }
touch "$stamp"
if [[ $with_server == 1 ]]; then build_server; fi
if [[ $with_examples == 1 ]]; then build_examples; fi
echo "$prefix"
