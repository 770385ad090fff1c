# rbox — see README.md. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN := bin/rbox
ROOTFS := testdata/rootfs
FUZZTIME ?= 20s

.PHONY: help build test unit integration demo testdata testdata-debian lint fuzz bench bench-smoke vmtest provision clean oci-deps ocitest ocitest-rbox

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/rbox, bin/rbox-pull and bin/rbox-runtime (static, trimmed paths)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/rbox
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(BIN)-pull ./cmd/rbox-pull
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/rbox-runtime ./cmd/rbox-runtime

testdata: $(ROOTFS)/bin/busybox ## build the busybox rootfs in testdata/rootfs (no root needed)

$(ROOTFS)/bin/busybox: testdata/mkrootfs.sh
	@if [ "$$(id -u)" = 0 ]; then scripts/provision.sh packages; fi
	sh testdata/mkrootfs.sh $(ROOTFS)

testdata-debian: ## as root: a root-owned minbase Debian in testdata/debian, cached (debootstrap from the host's apt mirror)
	tests/vm/vm.sh rootfs testdata/debian

demo: ## run rbox on the bundled busybox rootfs (as root on a fresh machine: provisions and runs as a test user)
	@scripts/demo.sh

unit: ## unit tests and fuzz seeds, with the race detector
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /tests/)

integration: build ## integration tests: the built binary as an unprivileged user
	scripts/integration.sh

test: ## everything CI runs: lint, unit, integration, the OCI suites (as root), bench-smoke, and as root or in CI the cgroup VM tests
	@if [ "$$(id -u)" = 0 ]; then scripts/provision.sh && tests/oci/deps.sh; fi
	$(MAKE) lint
	$(MAKE) unit
	$(MAKE) integration
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) ocitest-rbox; \
	elif [ "$${CI:-}" = true ]; then echo "make test: ocitest-rbox needs root (containerd, the root half of the validation suite)" >&2; exit 1; \
	else echo "make test: ocitest-rbox skipped: the OCI suites need root (run 'make ocitest-rbox' as root)"; fi
	$(MAKE) bench-smoke
	@if [ "$$(id -u)" = 0 ] || [ "$${CI:-}" = true ]; then $(MAKE) vmtest; \
	else echo "make test: vmtest skipped: building the VM image needs root (run 'make vmtest' as root)"; fi

bench: build ## start, network, filesystem, memory and scale beside bwrap, crun, runc, podman (as root: runs as the test user)
	bench/run.sh

bench-smoke: build ## each benchmark once on small data: the harness works (part of make test)
	bench/run.sh --smoke

vmtest: build ## cgroup v2 limits in a Debian VM with systemd (QEMU, no KVM; as root it installs qemu and builds the image)
	tests/vm/vmtest.sh

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

fuzz: ## run every fuzz target for FUZZTIME each
	@for t in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$t/*_test.go | sed 's/func //'); do \
	    echo "== $$t $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$t || exit 1; done; done

# The OCI runtime suites (docs/OCI.md): runtime-tools validation, rootless
# podman, podman's own system tests, containerd's ctr and CRI paths, run
# against RUNTIME. The suites' own guards decide pass or fail: MIN_ROOT and
# MIN_ROOTLESS of validation.sh pass through from the environment, the
# minimum of each bats file is podman-bats.sh's MIN.
RUNTIME ?= /usr/sbin/runc
OCI_SUITES ?= validation podman podman-bats containerd
oci-deps: ## as root: the OCI suites' packages and tools (runtime-tools, podman's system tests, crictl) into .cache/oci
	tests/oci/deps.sh

ocitest: oci-deps ## as root: the OCI suites (OCI_SUITES) against RUNTIME (default runc; the rootless parts run as RBOX_TEST_USER)
	RUNTIME='$(RUNTIME)' OCI_SUITES='$(OCI_SUITES)' tests/oci/run.sh

# What make test runs: all four suites against bin/rbox-runtime, all six
# files of podman's system tests. CI's budget for make test is 90 minutes
# on a fresh machine; measured here: provisioning about 10 (apt), the rest
# of make test about 4 (230 s in the last CI runs), oci-deps 1.5 plus its
# module downloads, validation 3.5, podman.sh 5, containerd.sh 1,
# podman-bats.sh 21 (rbox-runtime, load 1-3; runc took 40 under a load of
# 6): 50 to 70 minutes in all. OCI_BATS_FILES narrows the files by hand.
OCI_BATS_FILES ?= 030-run 045-start 050-stop 055-rm 075-exec 130-kill
ocitest-rbox: build oci-deps ## as root: the OCI suites against bin/rbox-runtime (part of make test; OCI_BATS_FILES: podman's system test files)
	RUNTIME=bin/rbox-runtime OCI_SUITES='$(OCI_SUITES)' FILES='$(OCI_BATS_FILES)' tests/oci/run.sh

provision: ## as root: install packages, create the test users, open /dev/net/tun and /dev/fuse
	scripts/provision.sh

clean: ## remove built binaries and the generated rootfs
	rm -rf bin $(ROOTFS) testdata/vm testdata/debian testdata/debian.log
