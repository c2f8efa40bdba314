# The two commands a new user types: `make run` and `make test`. `make` builds build/clustertls.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build setup run test limbo bench sanitize clean format

all: build

setup:
	@scripts/setup

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# Set-up, build, then the main job: a CA, a server and a client certificate in ./demo.
run: setup build
	@if [ -e demo/ca/ca.crt ]; then \
	  echo "demo/ already holds a quickstart (remove it to start again):"; \
	  $(BUILD)/clustertls inspect demo/ca/ca.crt; \
	else \
	  $(BUILD)/clustertls quickstart --out demo; \
	fi

# Set-up, build, every test (unit + integration) through ctest.
test: setup build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# x509-limbo: prints "limbo: N passed, M failed".
limbo: build
	$(BUILD)/limbo_harness ../shared/testdata/x509-limbo/limbo.json \
	  --known-failures tools/limbo/known_failures.txt --results $(BUILD)/limbo-results.json

bench: setup
	cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release
	cmake --build build-bench -j $(JOBS)
	bench/run.sh build-bench

# Unit tests under ASan + UBSan.
sanitize: setup
	cmake -S . -B build-asan -G Ninja -DCLUSTERTLS_SANITIZE=ON -DCLUSTERTLS_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS) -L unit

format:
	clang-format -i $$(git ls-files 'src/*.h' 'src/*.cc' 'bench/*.cc' 'tools/*.cc')

clean:
	rm -rf $(BUILD) build-asan build-bench
