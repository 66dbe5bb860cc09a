# The two set-up commands of the README are `make run` and `make test`; everything
# they need (Debian packages, the pinned llama.cpp, the build) happens on the way.

BUILD ?= build
ASAN_BUILD ?= build-asan
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)

.PHONY: all deps build run test bench llama-server bench-server asan toy-models clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# The main job: the adaptive default answers a demo question on the bundled toy reasoner.
DEMO_QUESTION ?= a=47; b=a*6; c=b-58; d=c+19; d?
run: build
	$(BUILD)/ponder run --verbose "$(DEMO_QUESTION)"

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	$(BUILD)/ponder bench

# llama-server built from the pinned llama.cpp, for the comparison below only (not part
# of `make test`: it is a long build).
llama-server: | deps
	scripts/build-llama.sh --server

# `ponder serve` against llama-server: latency and 8-sample throughput, one thread each
# (docs/server.md).
bench-server: build llama-server
	scripts/bench-server.py --ponder $(BUILD)/ponder

# The tests under AddressSanitizer and UndefinedBehaviorSanitizer (not the trainer:
# LibTorch is not built with them).
asan: | deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPONDER_SANITIZE=ON -DPONDER_BUILD_TRAINER=OFF $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

# Rebuilds every committed toy model from scratch (fixed seeds; LibTorch trainer).
toy-models: | deps
	BUILD=$(BUILD) scripts/build-toy-models.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
