#!/usr/bin/env bash
# Installs what the tests need beyond Go: a helm v3 built from the Go module proxy (into bin/tools), a C
# toolchain for skiff-shim (cgo), and checks for the real kubectl the end-to-end tests drive.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM_VERSION=${HELM_VERSION:-v3.22.0}
tools="$PWD/bin/tools"
mkdir -p "$tools"
if ! "$tools/helm" version --short 2>/dev/null | grep -q "^${HELM_VERSION}"; then
  echo "building helm ${HELM_VERSION}"
  GOBIN="$tools" GOFLAGS=-buildvcs=false go install \
    -ldflags "-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" \
    "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
fi
./hack/ensure-cc.sh
if ! command -v kubectl >/dev/null; then
  echo "kubectl is needed on PATH for the end-to-end tests" >&2
  exit 1
fi
