# Eddy: the two commands that matter are `make run` and `make test`.
PRESET ?= dev
BUILD_DIR := build
JOBS ?= $(shell nproc)
DEPS_STAMP := $(BUILD_DIR)/.deps-installed

.PHONY: all deps build test test-unit test-e2e run stop bench bench-nexmark bench-smoke fuzz release format clean

all: build

$(DEPS_STAMP): deploy/install-deps.sh
	./deploy/install-deps.sh
	@mkdir -p $(BUILD_DIR) && touch $@

deps:
	./deploy/install-deps.sh

$(BUILD_DIR)/build.ninja: CMakeLists.txt CMakePresets.json $(DEPS_STAMP)
	cmake --preset $(PRESET)

build: $(DEPS_STAMP) $(BUILD_DIR)/build.ninja
	cmake --build --preset $(PRESET) -j $(JOBS)

# Bench programs are ctests too (label bench, a small run each); they run optimized in
# `make bench-smoke`, not here.
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600 -LE bench

test-unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L unit

test-e2e: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L e2e

run: build
	@./deploy/local/cluster.sh stop >/dev/null 2>&1 || true
	./deploy/local/cluster.sh start 2
	@echo
	$(BUILD_DIR)/bin/eddy cluster
	@echo
	./deploy/local/run-example.sh
	@echo
	@echo "REST API:  http://127.0.0.1:8081/overview  (jobs: http://127.0.0.1:8081/jobs/overview)"
	@echo "Stop with: deploy/local/cluster.sh stop"

stop:
	./deploy/local/cluster.sh stop

release: $(DEPS_STAMP)
	cmake --preset release && cmake --build --preset release -j $(JOBS)

# `make bench`: the pipeline table. `make bench-nexmark`: every Nexmark query as the COST loop,
# on `eddy local` and on a local cluster of processes (heap and RocksDB state), events/s per
# core next to the loop's, and q0/q5 latency (bench/nexmark/run.py, about 5 min on 2 cores;
# options via NEXMARK_ARGS, e.g. NEXMARK_ARGS="--queries q0,q5 --markdown nexmark.md").
bench: release
	build/release/bin/eddy-bench-pipeline

bench-nexmark: release
	python3 bench/nexmark/run.py --bin-dir $(BUILD_DIR)/release/bin \
	  --examples-dir $(BUILD_DIR)/release/examples --checkpoint-interval 1s --recovery \
	  $(NEXMARK_ARGS)

# Every bench program once on a small input (ctest label bench, bench/CMakeLists.txt), in the
# optimized build: what CI runs so that no benchmark breaks unseen.
# Only what those tests run is built (the eddy-bench-smoke target), not every test program.
bench-smoke: $(DEPS_STAMP)
	cmake --preset release && cmake --build --preset release -j $(JOBS) --target eddy-bench-smoke
	ctest --test-dir $(BUILD_DIR)/release -L bench --no-tests=error --output-on-failure

# The libFuzzer targets of tests/fuzz (clang, ASan + UBSan; the fuzz preset in build/fuzz):
# saved regression inputs once, then each target FUZZ_SECONDS on a copy of its seed corpus,
# two at a time (tests/fuzz/README.md).
FUZZ_SECONDS ?= 60
fuzz: $(DEPS_STAMP)
	cmake --preset fuzz && cmake --build --preset fuzz -j $(JOBS)
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
