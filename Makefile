# easyservice-apiserver: build, test, verify, generate.
SHELL := /usr/bin/env bash -o errexit -o nounset -o pipefail

OUTPUT_DIR ?= _output
BIN_DIR    := $(OUTPUT_DIR)/bin
# A semantic version (component-base requires one): the release tag, else v0.1.0-dev+<commit>.
VERSION    ?= $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null || echo "v0.1.0-dev+$$(git rev-parse --short HEAD 2>/dev/null || echo unknown)")
# An image tag may not hold '+' (v0.1.0-dev+abc1234 becomes v0.1.0-dev-abc1234).
IMAGE      ?= easyservice/easyservice-apiserver:$(subst +,-,$(VERSION))
# The docker client for make image (hack/docker.sh env sets Debian's), and extra docker build flags,
# e.g. DOCKER_BUILD_FLAGS="--build-arg GOPROXY=https://proxy.example.com --network host".
DOCKER ?= docker
DOCKER_BUILD_FLAGS ?=
# The kubectl make deploy and make undeploy run, on the cluster of its current context (KUBECONFIG).
# The local plane's env file sets the kubectl that matches it (source _output/local-up/env).
KUBECTL ?= kubectl
# Test flags; e.g. make test GOTEST_FLAGS=-v
GOTEST_FLAGS ?=

.PHONY: all
all: build

## build: the static binary, into $(BIN_DIR)/ (the same command the Dockerfile runs)
.PHONY: build
build:
	hack/build.sh $(BIN_DIR) $(VERSION)

## image: the container image (Dockerfile: hack/build.sh in golang, then distroless/static:nonroot); needs a Docker engine
## with BuildKit; DOCKER_BUILD_FLAGS adds docker build flags (e.g. --build-arg GOLANG_IMAGE=... BASE_IMAGE=... GOPROXY=...)
.PHONY: image
image:
	DOCKER_BUILDKIT=1 $(DOCKER) build $(DOCKER_BUILD_FLAGS) --build-arg VERSION=$(VERSION) --build-arg SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || echo 0) -t $(IMAGE) .

## deploy-certs: the install's certificates and caBundle, into artifacts/deploy/generated (go run ./hack/gen-certs; keeps valid ones)
.PHONY: deploy-certs
deploy-certs:
	go run ./hack/gen-certs -out artifacts/deploy/generated

## deploy: install into the cluster of the current kubectl context (deploy-certs, then kubectl apply -k artifacts/deploy);
## KUBECTL=<path> for another kubectl than the one on PATH
.PHONY: deploy
deploy: deploy-certs
	$(KUBECTL) apply -k artifacts/deploy

## undeploy: uninstall, APIServices first (so discovery and namespace deletion never wait on a missing server); deletes the namespace, etcd's data included
.PHONY: undeploy
undeploy:
	$(KUBECTL) delete apiservice v1.app.easyservice.io v1beta1.app.easyservice.io --ignore-not-found
	$(KUBECTL) delete -k artifacts/deploy --ignore-not-found

## test: verify, then every test level (unit with the fuzz seed corpora, integration, e2e, the in-cluster install, benchmark smoke)
.PHONY: test
test: verify test-unit test-integration test-e2e test-cluster test-bench-smoke

## test-unit: unit and registry tests (in-process etcd), the fault harness's history checks on made-up histories, and the
## checked-in seed corpus (f.Add, testdata/fuzz) of every fuzz target, run as ordinary tests: deterministic, no -fuzz
.PHONY: test-unit
test-unit:
	go test -race $(GOTEST_FLAGS) ./cmd/... ./pkg/... ./internal/... ./hack/... ./test/harness/... ./test/localplane/...

# The Go native fuzz targets: decode → default → convert → validate for both versions.
FUZZ_PKG     := ./pkg/apis/easyservice/install
FUZZ_TARGETS := FuzzDecodeV1 FuzzDecodeV1beta1
FUZZTIME     ?= 5m

## fuzz: explore beyond the seed corpus, each fuzz target for FUZZTIME (5m). Not part of make test: what a
## time-boxed run covers depends on the machine's load. A failing input lands in testdata/fuzz: commit it,
## and test-unit runs it from then on
.PHONY: fuzz
fuzz:
	for target in $(FUZZ_TARGETS); do go test -run '^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZTIME) $(FUZZ_PKG); done

## test-integration: the real server command in-process, over HTTPS, on an in-process etcd
.PHONY: test-integration
test-integration:
	go test -race $(GOTEST_FLAGS) ./test/integration/...

## test-e2e: a fresh local control plane on free ports (hack/local-up.sh), tests through kube-apiserver
## with the real kubectl, then hack/local-down.sh; E2E_LOCAL_UP_DIR=<dir> reuses a running plane.
## Builds and caches the control plane's binaries first (10-25 minutes the first time, then seconds).
.PHONY: test-e2e
test-e2e:
	hack/install-tools.sh
	go test -count=1 -timeout=45m $(GOTEST_FLAGS) ./test/e2e/...

## test-cluster: the in-cluster install as a user runs it, on a real node of the local plane (test/cluster, root): make image
## from the Dockerfile (hack/images.sh server: local stand-in bases, modules served offline), loaded into the node, make deploy,
## EasyServices on real pods, faults under load, make undeploy, then local-down and the host checked. Without root, it says so
## and its tests skip. CLUSTER_LOCAL_UP_DIR=<dir> runs it on a real-node plane already up.
.PHONY: test-cluster
test-cluster:
	@if [[ $$(id -u) -ne 0 ]]; then \
	  echo "test-cluster: not root: the real node (network namespace, cgroups, containerd, kubelet) needs root; its tests skip"; \
	else \
	  hack/install-tools.sh packages kube etcd node crictl coredns && hack/images.sh; \
	fi
	go test -count=1 -timeout=90m $(GOTEST_FLAGS) ./test/cluster/...

## bench: the benchmarks (test/bench, docs/benchmarks.md) on a fresh local control plane: EasyService via aggregation
## and direct, a CRD twin, ConfigMaps, the etcd floor, the peer k8s.io/sample-apiserver via aggregation and direct, and the
## controller, interleaved over 3 rounds. Results in $(OUTPUT_DIR)/bench. BENCH_FLAGS=-mode=medium for a fifth of the counts;
## -local-up-dir=<dir> for a running plane. The tools, the peer included, are built and cached first: the run reaches no network.
BENCH_FLAGS ?=
BENCH_TOOLS := kube etcd kwok sample-apiserver
.PHONY: bench
bench:
	hack/install-tools.sh $(BENCH_TOOLS)
	cd test/bench && go run . -out $(OUTPUT_DIR)/bench $(BENCH_FLAGS)

## test-bench-smoke: the benchmark harness with tiny counts on a fresh local plane (TestBenchSmoke), so that it cannot rot;
## BENCH_LOCAL_UP_DIR=<dir> reuses a running plane
.PHONY: test-bench-smoke
test-bench-smoke:
	hack/install-tools.sh $(BENCH_TOOLS)
	cd test/bench && go test -count=1 -timeout=20m $(GOTEST_FLAGS) ./...

## verify: gofmt, go vet, generated code, go.mod tidiness (the server's module and test/bench's), golangci-lint, shellcheck
.PHONY: verify
verify: verify-gofmt verify-vet verify-codegen verify-mod verify-lint verify-shellcheck

.PHONY: verify-gofmt
verify-gofmt:
	@out=$$(gofmt -l cmd pkg internal test hack); if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: verify-vet
verify-vet:
	go vet ./...
	cd test/bench && go vet ./...

.PHONY: verify-codegen
verify-codegen:
	hack/verify-codegen.sh

.PHONY: verify-mod
verify-mod:
	go mod tidy -diff
	cd test/bench && go mod tidy -diff

## verify-lint: golangci-lint (.golangci.yml: errcheck, errorlint, govet, ineffassign, nolintlint, revive, staticcheck,
## unused) over every Go module of the repository (LINT_MODULES: the server, test/bench, hack/tools/*, hack/images/etcd);
## hack/install-tools.sh builds and caches the pinned version first
LINT_MODULES := . test/bench hack/tools/etcd hack/tools/protoc hack/images/etcd
.PHONY: verify-lint
verify-lint:
	hack/install-tools.sh golangci-lint
	@lint="$$(hack/install-tools.sh --print-dir golangci-lint)/golangci-lint"; rc=0; \
	  for m in $(LINT_MODULES); do \
	    echo "cd $$m && golangci-lint run ./..."; (cd "$$m" && "$$lint" run ./...) || rc=1; \
	  done; \
	  exit "$$rc"

## verify-shellcheck: shellcheck over every shell script in the repository (*.sh, and files with a sh or bash #! line,
## e.g. .ci/run); hack/install-tools.sh shellcheck installs Debian's package first if it is missing (root)
.PHONY: verify-shellcheck
verify-shellcheck:
	hack/install-tools.sh shellcheck
	@scripts=(); while IFS= read -r -d '' f; do \
	  if [[ $$f == *.sh ]] || { [[ -f $$f ]] && head -n1 -- "$$f" | grep -qE '^#!.*[/ ](ba)?sh([[:space:]]|$$)'; }; then scripts+=("$$f"); fi; \
	done < <(git ls-files -z); \
	echo "shellcheck -x $${scripts[*]}"; shellcheck -x "$${scripts[@]}"

## update-codegen: regenerate pkg/generated and the zz_generated files
.PHONY: update-codegen
update-codegen:
	hack/update-codegen.sh

.PHONY: clean
clean:
	rm -rf $(OUTPUT_DIR)

.PHONY: help
help:
	@grep -E '^## ' $(MAKEFILE_LIST) | sed 's/^## //'

## local-up: a local control plane (etcd, kube-apiserver, kcm, scheduler, kwok nodes) serving EasyService as an aggregated API;
## LOCAL_UP_NODE=real: a real node (containerd, kubelet, kube-proxy, CoreDNS) in a network namespace instead (root); env vars in hack/local-up.sh
.PHONY: local-up
local-up:
	hack/local-up.sh

## local-down: stop exactly the processes make local-up started (logs stay in LOCAL_UP_DIR/logs); a real node is taken
## down whole and the host checked against local-up's snapshot (hack/local/host-state.sh)
.PHONY: local-down
local-down:
	hack/local-down.sh
