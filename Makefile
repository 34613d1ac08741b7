# The two commands of README: `make demo` and `make test`. Both install any
# missing Debian packages first, then configure and build with CMake presets.
# `make test-arm` cross-compiles the whole engine (library, CLI, all tests) for
# aarch64 and runs the full test suite under qemu-user on `-cpu max` (dotprod)
# and the core + kernel tests on `-cpu cortex-a57` (no dotprod).
JOBS ?= $(shell nproc)
BIN := build/release/bin

.PHONY: deps build demo test test-asan test-arm fuzz bench format clean

deps:
	@scripts/install-deps.sh

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

demo: build
	@scripts/demo.sh $(BIN)/edgeformer

test: build
	@ctest --preset release

test-asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	@ctest --preset asan

test-arm:
	@scripts/install-deps.sh arm
	@cmake --preset aarch64 >/dev/null
	@cmake --build --preset aarch64 -j $(JOBS)
	@ctest --preset aarch64

fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)
	@scripts/run-fuzzers.sh build/fuzz/bin 20

format:
	@clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf build
