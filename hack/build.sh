#!/usr/bin/env bash
# Builds the static easyservice-apiserver binary. The Makefile (make build) and the Dockerfile both
# run this script, so the image holds exactly what make build proves.
#   hack/build.sh OUTPUT_DIR [VERSION]
set -o errexit -o nounset -o pipefail

out=${1:?usage: hack/build.sh OUTPUT_DIR [VERSION]}
version=${2:-${VERSION:-v0.0.0-dev}}
if [[ ! ${version} =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]]; then
  echo "hack/build.sh: version ${version} is not a semantic version (vX.Y.Z...)" >&2
  exit 1
fi
build_date=${SOURCE_DATE_EPOCH:+$(date -u -d "@${SOURCE_DATE_EPOCH}" +%Y-%m-%dT%H:%M:%SZ)}
build_date=${build_date:-1970-01-01T00:00:00Z}

# component-base's version is the Kubernetes libraries' (k8s.io/apiserver v0.X.Y is Kubernetes v1.X.Y):
# the generic server derives the effective version and feature gates from it. Ours is separate.
kube_version=$(go list -m -f '{{.Version}}' k8s.io/apiserver)
kube_version=v1.${kube_version#v0.}
base=k8s.io/component-base/version
ldflags="-s -w -X github.com/easyservice/easyservice/pkg/version.Version=${version}"
ldflags+=" -X ${base}.gitVersion=${kube_version} -X ${base}.gitTreeState=clean -X ${base}.buildDate=${build_date}"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=${kube_version}"

mkdir -p "${out}"
CGO_ENABLED=0 go build -trimpath -ldflags "${ldflags}" -o "${out}/easyservice-apiserver" ./cmd/easyservice-apiserver
