# Thin entry points; CMake does the work. See README.md.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
# `make fuzz`: seconds per fuzz target (make test gives each 35).
FUZZ_SECONDS ?= 600

.PHONY: all deps configure build demo test fuzz bench-cpu gpu-check clean

all: build

deps:
	@tools/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	$(BUILD)/tools/sparsa demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Every libFuzzer target for FUZZ_SECONDS each, in its own tree (build-fuzz).
fuzz:
	SPARSA_FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/fuzz_all.sh

bench-cpu: build
	bench/cpu/run.sh $(BUILD)

gpu-check:
	cuda/gpu_check.sh

clean:
	rm -rf $(BUILD)
