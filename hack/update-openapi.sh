#!/usr/bin/env bash
# Regenerates apiserver/openapi from the k8s.io/api types skiff serves. The generator's version is the
# kube-openapi that go.mod pins, so the definitions match the library that serves them.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(go list -m -f '{{.Version}}' k8s.io/kube-openapi)
packages=(
  k8s.io/apimachinery/pkg/apis/meta/v1
  k8s.io/apimachinery/pkg/runtime
  k8s.io/apimachinery/pkg/version
  k8s.io/apimachinery/pkg/util/intstr
  k8s.io/apimachinery/pkg/api/resource
  k8s.io/api/core/v1
  k8s.io/api/apps/v1
  k8s.io/api/batch/v1
  k8s.io/api/autoscaling/v1
  k8s.io/api/autoscaling/v2
  k8s.io/api/coordination/v1
  k8s.io/api/discovery/v1
  k8s.io/api/events/v1
  k8s.io/api/policy/v1
  k8s.io/api/storage/v1
  k8s.io/api/scheduling/v1
  k8s.io/api/scheduling/v1alpha3
  k8s.io/api/rbac/v1
  k8s.io/api/networking/v1
  k8s.io/api/authentication/v1
  k8s.io/api/authorization/v1
)
go run "k8s.io/kube-openapi/cmd/openapi-gen@${version}" \
  --output-dir apiserver/openapi \
  --output-pkg github.com/skiffhq/skiff/apiserver/openapi \
  --output-file zz_generated.openapi.go \
  --go-header-file hack/boilerplate.go.txt \
  --report-filename /dev/null \
  "${packages[@]}"
