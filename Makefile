# Eddy: the two commands that matter are `make run` and `make test`.
PRESET ?= dev
BUILD_DIR := build
JOBS ?= $(shell nproc)
DEPS_STAMP := $(BUILD_DIR)/.deps-installed

.PHONY: all deps build test test-unit test-e2e run stop bench bench-nexmark bench-smoke fuzz release package deploy-test release-checks format clean

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
# `make bench-smoke`, not here; so do the deployment tests (label deploy, `make deploy-test`).
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600 -LE "bench|deploy"

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

# `make package`: the Debian package build/release/eddy_<version>_<arch>.deb of the release
# build (deploy/package/make-deb.sh): the binaries, the libraries, headers and CMake package
# that `cmake --install` puts in /usr, the example job word_count.so, the systemd units and
# /etc/eddy/eddy.yaml of deploy/ec2. Only what it installs is built. Its tests:
# `ctest --test-dir build/release -L deploy` (docs/deploy-ec2.md).
EDDY_PACKAGE_TARGETS := eddy eddy-jobmanager eddy-taskmanager eddy_proto eddy_common eddy_fs \
  eddy_api eddy_connectors word_count
# The release tree: configure, then build the targets that follow; ctest in it.
RELEASE_BUILD = cmake --preset release && cmake --build --preset release -j $(JOBS) --target
RELEASE_CTEST = ctest --test-dir $(BUILD_DIR)/release --no-tests=error --output-on-failure
package: $(DEPS_STAMP)
	$(RELEASE_BUILD) $(EDDY_PACKAGE_TARGETS)
	deploy/package/make-deb.sh $(BUILD_DIR)/release

# The deployment tests (ctest label deploy, tests/deploy/): the .deb in a fresh Debian root,
# systemd units, cloud-init, the Kubernetes manifests and the container image, from the
# release tree and its package. CI runs them (.ci/run).
deploy-test: package
	$(RELEASE_CTEST) -L deploy

# CI's optimized half (.ci/run): what bench-smoke and deploy-test build, the .deb, then both
# ctest labels in one run, two tests at a time: the deployment tests wait mostly on apt,
# mmdebstrap and buildah while a bench computes. No two bench tests run at once (resource
# lock eddy-bench), nor the two deployment tests that share a Debian root.
release-checks: $(DEPS_STAMP)
	$(RELEASE_BUILD) eddy-bench-smoke $(EDDY_PACKAGE_TARGETS)
	deploy/package/make-deb.sh $(BUILD_DIR)/release
	$(RELEASE_CTEST) -L "bench|deploy" -j $(JOBS)

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
	$(RELEASE_BUILD) eddy-bench-smoke
	$(RELEASE_CTEST) -L bench

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

# `make image`: the container image eddy:<version> (deploy/container/Containerfile, see
# deploy/container/README.md), compiled from this source tree inside the image build (about
# 20 min on 2 cores), with buildah if present, else docker or podman.
# `make image EDDY_BUILD=prebuilt` packs build/release/eddy_<version>_<arch>.deb of
# `make package` instead. IMAGE=name:tag names it otherwise.
IMAGE_VERSION := $(shell sed -n 's/^project.eddy VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
IMAGE ?= eddy:$(IMAGE_VERSION)
EDDY_BUILD ?= source
.PHONY: image
image:
	@set -e; \
	if [ "$(EDDY_BUILD)" = prebuilt ]; then \
	  ctx=$(BUILD_DIR)/release; ign=; \
	  ls $$ctx/eddy_*.deb >/dev/null 2>&1 || { echo "make image: no $$ctx/eddy_*.deb; run 'make package'" >&2; exit 1; }; \
	else ctx=.; ign="--ignorefile deploy/container/Containerfile.dockerignore"; fi; \
	args="--build-arg EDDY_BUILD=$(EDDY_BUILD) --build-arg EDDY_VERSION=$(IMAGE_VERSION)"; \
	args="$$args --build-arg EDDY_REVISION=$$(git rev-parse HEAD 2>/dev/null || true)"; \
	args="$$args -f deploy/container/Containerfile -t $(IMAGE)"; \
	if command -v buildah >/dev/null; then set -x; buildah bud $$ign $$args $$ctx; \
	elif command -v docker >/dev/null; then set -x; docker build $$args $$ctx; \
	elif command -v podman >/dev/null; then set -x; podman build $$ign $$args $$ctx; \
	else echo "make image: needs buildah, docker or podman" >&2; exit 1; fi
