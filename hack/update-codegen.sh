#!/usr/bin/env bash
# Regenerates everything under pkg/generated, the zz_generated files of pkg/apis and the protobuf
# code of the versioned APIs (generated.proto, generated.pb.go and the protobuf struct tags of
# types.go) with k8s.io/code-generator at the version go.mod pins.
set -o errexit -o nounset -o pipefail

SCRIPT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "${SCRIPT_ROOT}"

# module_dir <module>: the directory of <module> in the module cache, at the version the go.mod of
# the current directory selects. go list -m prints an empty .Dir for a module the cache does not
# hold yet, and nothing else here downloads these modules (they are read as files, not built), so
# the module is downloaded first: on an empty module cache this is what makes the script work.
module_dir() {
  go mod download "$1"
  go list -m -f '{{.Dir}}' "$1"
}

CODEGEN_PKG=$(module_dir k8s.io/code-generator)
THIS_PKG=$(go list -m)
BOILERPLATE="${SCRIPT_ROOT}/hack/boilerplate.go.txt"
TMP_DIRS=()
trap 'rm -rf "${TMP_DIRS[@]}"' EXIT

# shellcheck source=/dev/null # kube_codegen.sh is in the module cache, not in this repository
source "${CODEGEN_PKG}/kube_codegen.sh"

# Protobuf: go-to-protobuf writes generated.proto into each package, runs protoc on it with
# protoc-gen-gogo, and rewrites the package's types with the field numbers it assigned (it keeps the
# numbers of existing protobuf tags). protoc is hack/tools/protoc, a stand-in written in Go, so that
# nothing but Go is needed; hack/install-tools.sh builds and caches it, protoc-gen-gogo and goimports.
gen_protobuf() {
  local tool tools_path="" proto_root api_dir apimachinery_dir gogo_dir
  for tool in protoc protoc-gen-gogo goimports; do
    hack/install-tools.sh "${tool}" >/dev/null
    tools_path+="$(hack/install-tools.sh --print-dir "${tool}"):"
  done
  (cd "${CODEGEN_PKG}" && GO111MODULE=on go install k8s.io/code-generator/cmd/go-to-protobuf)

  # go-to-protobuf looks for <output-dir>/<import path>/generated.proto, protoc resolves imports by
  # import path and protoc-gen-gogo writes <output-dir>/<import path>/generated.pb.go: one tree of
  # symlinks serves all three (our module, and the module cache dirs of the imported .proto files).
  proto_root=$(mktemp -d)
  TMP_DIRS+=("${proto_root}")
  mkdir -p "${proto_root}/${THIS_PKG%/*}" "${proto_root}/k8s.io" "${proto_root}/github.com/gogo"
  ln -s "${SCRIPT_ROOT}" "${proto_root}/${THIS_PKG}"
  # (gogo.proto, which the first pass of go-to-protobuf imports: the gogo/protobuf version that
  # code-generator's go.mod requires, the one its protoc-gen-gogo is built from.)
  api_dir=$(module_dir k8s.io/api)
  apimachinery_dir=$(module_dir k8s.io/apimachinery)
  gogo_dir=$(cd "${CODEGEN_PKG}" && module_dir github.com/gogo/protobuf)
  ln -s "${api_dir}" "${proto_root}/k8s.io/api"
  ln -s "${apimachinery_dir}" "${proto_root}/k8s.io/apimachinery"
  ln -s "${gogo_dir}" "${proto_root}/github.com/gogo/protobuf"

  # Only our versions are generated: '-' marks the packages whose types are read, not generated.
  local read_only pkg
  read_only=""
  for pkg in k8s.io/apimachinery/pkg/util/intstr k8s.io/apimachinery/pkg/api/resource \
    k8s.io/apimachinery/pkg/runtime/schema k8s.io/apimachinery/pkg/runtime \
    k8s.io/apimachinery/pkg/apis/meta/v1 k8s.io/api/core/v1; do
    read_only+="${read_only:+,}-${pkg}"
  done
  PATH="${tools_path}${PATH}" "${GOBIN}/go-to-protobuf" \
    --go-header-file "${BOILERPLATE}" \
    --output-dir "${proto_root}" \
    --proto-import "${proto_root}" \
    --apimachinery-packages "${read_only}" \
    --packages "${THIS_PKG}/pkg/apis/easyservice/v1,${THIS_PKG}/pkg/apis/easyservice/v1beta1"
}
gen_protobuf

kube::codegen::gen_helpers \
    --boilerplate "${BOILERPLATE}" \
    "${SCRIPT_ROOT}/pkg/apis"

# kube_codegen.sh passes meta/v1, runtime, version and resource to openapi-gen but not intstr,
# which core/v1 and our ports reference: it is an extra package here.
# Known API rule violations are recorded (and reviewed) rather than silently ignored.
report="${SCRIPT_ROOT}/hack/api-rule-violations.list"
kube::codegen::gen_openapi \
    --output-dir "${SCRIPT_ROOT}/pkg/generated/openapi" \
    --output-pkg "${THIS_PKG}/pkg/generated/openapi" \
    --output-model-name-file "zz_generated.model_name.go" \
    --extra-pkgs k8s.io/apimachinery/pkg/util/intstr \
    --extra-pkgs k8s.io/api/core/v1 \
    --extra-pkgs k8s.io/api/autoscaling/v1 \
    --report-filename "${report}" \
    ${UPDATE_API_KNOWN_VIOLATIONS:+--update-report} \
    --boilerplate "${BOILERPLATE}" \
    "${SCRIPT_ROOT}/pkg/apis"

kube::codegen::gen_client \
    --with-watch \
    --with-applyconfig \
    --applyconfig-openapi-schema <(go run "${THIS_PKG}/pkg/generated/openapi/cmd/models-schema") \
    --output-dir "${SCRIPT_ROOT}/pkg/generated" \
    --output-pkg "${THIS_PKG}/pkg/generated" \
    --boilerplate "${BOILERPLATE}" \
    "${SCRIPT_ROOT}/pkg/apis"
