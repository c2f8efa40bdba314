# The two commands a new user types: `make run` and `make test`. `make` builds build/clustertls.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build binary setup run test limbo bench sanitize fuzz clean format

all: build

setup:
	@scripts/setup

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

# Everything: the binary, unit tests, the limbo harness and the benchmarks.
build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# The clustertls binary alone (what `make run` needs).
binary: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target clustertls

# Set-up, build, then the main job: the control plane. `init` makes a cluster in ./demo the
# first time (its root passphrase and admin password are printed once, never written to disk
# in plaintext), then `serve` runs the HTTPS API on 127.0.0.1:9443 until Ctrl-C.
DEMO_FQDN ?= demo.clustertls.test
run: setup binary
	@if [ -e demo/clustertls.json ]; then \
	  echo "demo/ already holds a cluster (remove demo/ to start again; the admin password was printed by its init)"; \
	else \
	  $(BUILD)/clustertls init --data-dir demo --fqdn $(DEMO_FQDN) || exit 1; \
	fi
	$(BUILD)/clustertls serve --data-dir demo

# Set-up, build, every test (unit + integration) through ctest.
test: setup build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# x509-limbo: prints "limbo: N passed, M failed".
limbo: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target limbo_harness
	$(BUILD)/limbo_harness tests/limbo/limbo.json \
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

# libFuzzer targets (tests/fuzz/README.md): build-fuzz with clang, only the fuzz targets and the
# libraries they link, then each target for FUZZ_SECONDS with its seed corpus; fails on a crash.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= csr pem certificate crl ocsp_request cert_summary router api_body instances \
  names pkcs12 private_key agent_state
fuzz: setup
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCLUSTERTLS_FUZZ=ON \
	  -DCLUSTERTLS_BENCH=OFF
	cmake --build build-fuzz -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

format:
	clang-format -i $$(git ls-files 'src/*.h' 'src/*.cc' 'bench/*.cc' 'tools/*.cc')

clean:
	rm -rf $(BUILD) build-asan build-bench build-fuzz
