# skiff's build. `make run` builds and starts a single-node cluster; `make test` runs every test.

VERSION    ?= v1.37.2
COMMIT     := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BUILD_DATE := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
VERSION_PKG := k8s.io/component-base/version
LDFLAGS := -s -w \
	-X $(VERSION_PKG).gitVersion=$(VERSION)+skiff.$(COMMIT) \
	-X $(VERSION_PKG).gitMajor=1 \
	-X $(VERSION_PKG).gitMinor=37 \
	-X $(VERSION_PKG).gitCommit=$(COMMIT) \
	-X $(VERSION_PKG).gitTreeState=clean \
	-X $(VERSION_PKG).buildDate=$(BUILD_DATE)
DATA_DIR ?= /var/lib/skiff
GO_TEST_FLAGS ?=

.PHONY: build run test unit e2e generate vet bench clean

build:
	go build -ldflags "$(LDFLAGS)" -o bin/skiff ./cmd/skiff
	./hack/ensure-cc.sh
	CGO_ENABLED=1 go build -ldflags "-s -w" -o bin/skiff-shim ./cmd/skiff-shim

run: build
	./bin/skiff server --data-dir $(DATA_DIR)

# test installs what the tests need, then runs unit, integration and end-to-end tests.
test: build
	./hack/test-setup.sh
	go vet ./...
	SKIFF_BIN=$(CURDIR)/bin/skiff HELM=$(CURDIR)/bin/tools/helm go test $(GO_TEST_FLAGS) -count=1 -timeout 30m ./...

generate:
	./hack/update-openapi.sh

bench: build
	go run ./hack/bench -skiff $(CURDIR)/bin/skiff

clean:
	rm -rf bin
