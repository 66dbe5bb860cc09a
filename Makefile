# The two set-up commands of the README are `make run` and `make test`; everything
# they need (Debian packages, the pinned llama.cpp, the build) happens on the way.

BUILD ?= build
ASAN_BUILD ?= build-asan
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)

.PHONY: all deps build run test bench asan toy-models clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# The main job: a demo on a generated test model.
run: build
	$(BUILD)/ponder toy-model --preset bench-5m -o $(BUILD)/random-5m.gguf
	$(BUILD)/ponder generate -m $(BUILD)/random-5m.gguf -p "Hello" -n 4 --temp 0.8 --seed 1 --max-tokens 32

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	$(BUILD)/ponder bench

# The tests under AddressSanitizer and UndefinedBehaviorSanitizer.
asan: | deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPONDER_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

# Rebuilds every committed toy model from scratch (fixed seeds; LibTorch trainer).
toy-models:
	@scripts/install-deps.sh --trainer
	scripts/build-toy-models.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
