#!/usr/bin/env bash
# Builds the external binaries EasyService's tests and dev loop need, and
# caches them OUTSIDE the work tree, keyed by tool version:
#
#   ${EASYSERVICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/easyservice}/bin/<tool>-<version>/<binary>
#
# Tools:
#   kube  kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
#         (built from the k8s.io/kubernetes module; cold build ~10-25 min)
#   etcd  etcd server, built from hack/tools/etcd (its own Go module, pinned
#         there; the version key is the go.etcd.io/etcd/server/v3 version)
#   kwok  sigs.k8s.io/kwok/cmd/kwok
#
# Benchmark peer (make bench builds it; never built by default):
#   sample-apiserver  k8s.io/sample-apiserver (go install from the module proxy) at the version of
#                     the k8s.io/apiserver go.mod requires: the Wardle server that test/bench
#                     measures beside easyservice-apiserver
#
# Real-node tools (LOCAL_UP_NODE=real hack/local-up.sh; never built by default):
#   node     kubelet, kube-proxy: from the same k8s.io/kubernetes module, version and build as kube
#   crictl   sigs.k8s.io/cri-tools/cmd/crictl: the CRI client local-down removes a real node's
#            pods with
#   coredns  github.com/coredns/coredns (go install; hack/images.sh puts it in the node's CoreDNS
#            image; cold build ~4 min)
#
# Code generation tools (hack/update-codegen.sh builds them; never built by default):
#   protoc          a protoc stand-in in Go for go-to-protobuf, built from hack/tools/protoc (its
#                   own Go module; the version key is its protocompile version and a hash of the
#                   shim's source, so that an edited shim is rebuilt)
#   protoc-gen-gogo k8s.io/code-generator/cmd/go-to-protobuf/protoc-gen-gogo at the code-generator
#                   version go.mod requires
#   goimports       golang.org/x/tools/cmd/goimports, which go-to-protobuf runs
#
# Lint tools (make verify-lint and make verify-shellcheck install them; never built by default):
#   golangci-lint  github.com/golangci/golangci-lint/v2/cmd/golangci-lint (go install with the
#                  machine's Go; cold build ~2-4 min; configuration in .golangci.yml)
#   ShellCheck     tool name shellcheck: Debian's package, installed with apt-get like packages,
#                  only if missing, only as root (a clear error otherwise); it has no tool dir
#
# Debian packages (never installed by default):
#   packages  docker.io (dockerd, containerd, runc, the docker client), containernetworking-plugins,
#             iptables, conntrack, debootstrap, debian-archive-keyring and libcap2-bin: the Docker
#             engine that builds images (hack/docker.sh, hack/images.sh, make image) and a real
#             node's runtime.
#             Installed with apt-get, only those missing, only as root (a clear error otherwise).
#
# Usage:
#   hack/install-tools.sh [tool...]          build missing tools (no args = kube etcd kwok)
#   hack/install-tools.sh --print-dir <tool> print the tool's binary dir, no build
#   hack/install-tools.sh packages           install the missing Debian packages (root)
#   hack/install-tools.sh shellcheck         install Debian's shellcheck if missing (root)
#
# When a tool is already cached this only prints "cached: <dir>". Binaries are
# built into a temporary directory next to the cache, verified, and then
# renamed into place, so an interrupted build never leaves a partial binary.
# Functions are mostly invoked indirectly (step "$@", trap, install_${tool}),
# which shellcheck 0.9 misreports as unreachable code.
# shellcheck disable=SC2317
set -euo pipefail

KUBE_VERSION=v1.37.1
KWOK_VERSION=v0.8.0
CRICTL_VERSION=v1.37.0
COREDNS_VERSION=v1.15.0
GOIMPORTS_VERSION=v0.47.0
GOLANGCI_LINT_VERSION=v2.15.0
ALL_TOOLS=(kube etcd kwok)
CODEGEN_TOOLS=(protoc protoc-gen-gogo goimports)
NODE_TOOLS=(node crictl coredns)
BENCH_TOOLS=(sample-apiserver)
LINT_TOOLS=(golangci-lint shellcheck)
# Debian's docker.io brings dockerd 20.10, containerd 1.6, runc 1.1 and a docker client whose
# DOCKER_BUILDKIT=1 builds use BuildKit's built-in frontend (no image to pull); debootstrap and the
# archive keyring (to verify the mirror's Release file) make the golang stand-in's rootfs;
# libcap2-bin's setcap gives the CoreDNS image's binary its capability.
DEBIAN_PACKAGES=(docker.io containernetworking-plugins iptables conntrack debootstrap debian-archive-keyring
  libcap2-bin)
# How long apt-get waits for another apt or dpkg (e.g. a second run of this script) to let go.
APT_LOCK_TIMEOUT=600

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ETCD_MODULE_DIR=${REPO_ROOT}/hack/tools/etcd
PROTOC_MODULE_DIR=${REPO_ROOT}/hack/tools/protoc
CACHE_ROOT=${EASYSERVICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/easyservice}
BIN_ROOT=${CACHE_ROOT}/bin

usage() {
  cat <<EOF
usage: $0 [tool...]            build and cache tools (default: ${ALL_TOOLS[*]})
       $0 --print-dir <tool>   print the directory holding <tool>'s binaries
tools: ${ALL_TOOLS[*]} ${CODEGEN_TOOLS[*]} ${NODE_TOOLS[*]} ${LINT_TOOLS[*]} ${BENCH_TOOLS[*]} packages
cache: ${BIN_ROOT}/<tool>-<version>/
EOF
}

die() {
  echo "install-tools: error: $*" >&2
  exit 1
}

# etcd's version is whatever hack/tools/etcd/go.mod pins (read without
# invoking go, so --print-dir and the cached path stay fast).
etcd_version() {
  local v
  v=$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }
           $1 == "require" && $2 == "go.etcd.io/etcd/server/v3" { print $3; exit }' \
    "${ETCD_MODULE_DIR}/go.mod")
  [[ -n ${v} ]] || die "cannot find go.etcd.io/etcd/server/v3 in ${ETCD_MODULE_DIR}/go.mod"
  echo "${v}"
}

# module_version <go.mod> <module>: the version <go.mod> requires of <module>, read without go.
module_version() {
  local v
  v=$(awk -v m="$2" '$1 == m { print $2; exit }
                     $1 == "require" && $2 == m { print $3; exit }' "$1")
  [[ -n ${v} ]] || die "cannot find $2 in $1"
  echo "${v}"
}

# The shim's version: protocompile's, and a hash of the shim's source and pins.
protoc_version() {
  local v sum
  v=$(module_version "${PROTOC_MODULE_DIR}/go.mod" github.com/bufbuild/protocompile)
  sum=$(cd "${PROTOC_MODULE_DIR}" && cat main.go go.mod go.sum | sha256sum)
  echo "${v}-${sum:0:12}"
}

tool_version() {
  case $1 in
    kube | node) echo "${KUBE_VERSION}" ;;
    etcd) etcd_version ;;
    kwok) echo "${KWOK_VERSION}" ;;
    crictl) echo "${CRICTL_VERSION}" ;;
    coredns) echo "${COREDNS_VERSION}" ;;
    protoc) protoc_version ;;
    protoc-gen-gogo) module_version "${REPO_ROOT}/go.mod" k8s.io/code-generator ;;
    sample-apiserver) module_version "${REPO_ROOT}/go.mod" k8s.io/apiserver ;;
    goimports) echo "${GOIMPORTS_VERSION}" ;;
    golangci-lint) echo "${GOLANGCI_LINT_VERSION}" ;;
    packages | shellcheck) echo debian ;;
    *) die "unknown tool '$1' (known: ${ALL_TOOLS[*]} ${CODEGEN_TOOLS[*]} ${NODE_TOOLS[*]} ${LINT_TOOLS[*]} ${BENCH_TOOLS[*]} packages)" ;;
  esac
}

tool_binaries() {
  case $1 in
    kube) echo kube-apiserver kube-controller-manager kube-scheduler kubectl ;;
    node) echo kubelet kube-proxy ;;
    etcd) echo etcd ;;
    kwok) echo kwok ;;
    crictl | coredns | protoc | protoc-gen-gogo | goimports | golangci-lint | sample-apiserver) echo "$1" ;;
    *) die "unknown tool '$1' (known: ${ALL_TOOLS[*]} ${CODEGEN_TOOLS[*]} ${NODE_TOOLS[*]} ${LINT_TOOLS[*]} ${BENCH_TOOLS[*]} packages)" ;;
  esac
}

tool_dir() {
  local version
  version=$(tool_version "$1")
  echo "${BIN_ROOT}/$1-${version}"
}

is_cached() {
  local dir=$1 tool=$2 b
  for b in $(tool_binaries "${tool}"); do
    [[ -f ${dir}/${b} && -x ${dir}/${b} ]] || return 1
  done
}

# step <description> <command...>: print the step, run it, print elapsed time.
# (The command runs directly, not under `||`, so `set -e` stays in force inside
# it; a failure is reported by the EXIT trap.)
CURRENT_STEP=""
STEP_START=0
step() {
  CURRENT_STEP=$1
  shift
  echo "==> ${CURRENT_STEP}"
  STEP_START=${SECONDS}
  "$@"
  echo "    done in $((SECONDS - STEP_START))s"
  CURRENT_STEP=""
}

TMP_DIRS=()
on_exit() {
  local rc=$? d
  if ((rc != 0)) && [[ -n ${CURRENT_STEP} ]]; then
    echo "    FAILED after $((SECONDS - STEP_START))s (exit ${rc}): ${CURRENT_STEP}" >&2
  fi
  for d in "${TMP_DIRS[@]}"; do
    if [[ -n ${d} && -d ${d} ]]; then rm -rf "${d}"; fi
  done
  return "${rc}"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# new_tmp_dir <var> <name>: create a temp dir under the cache root (same
# filesystem as the final location, so the final mv is an atomic rename),
# register it for cleanup, and store its path in <var>.
new_tmp_dir() {
  local d
  mkdir -p "${CACHE_ROOT}/tmp"
  d=$(mktemp -d "${CACHE_ROOT}/tmp/$2.XXXXXX")
  TMP_DIRS+=("${d}")
  printf -v "$1" '%s' "${d}"
}

# Common build environment: host platform, no workspace, module mode. GOFLAGS
# from the caller (e.g. -buildvcs=false) is kept; every flag the builds rely on
# is passed explicitly on the command line, which takes precedence.
go_env() {
  env -u GOOS -u GOARCH -u GOBIN GOWORK=off GO111MODULE=on CGO_ENABLED=0 "$@"
}

# ---------------------------------------------------------------------------
# kube
# ---------------------------------------------------------------------------
kube_prepare_source() { # <src dir>
  local src=$1 json mod_dir staging_version
  json=$(cd "${src}" && go_env go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}")
  mod_dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"${json}")
  [[ -n ${mod_dir} && -d ${mod_dir} ]] || die "go mod download gave no Dir: ${json}"
  # The module cache is read-only; work on a writable copy.
  cp -R "${mod_dir}/." "${src}/"
  chmod -R u+w "${src}"
  rm -rf "${src}/vendor" "${src}"/go.work*
  # The module zip has no staging/src tree: point every staging replace at
  # the published module of the matching version (v1.X.Y -> v0.X.Y). All of
  # them are kept (incl. sample-*), otherwise the build asks for v0.0.0.
  staging_version=v0.${KUBE_VERSION#v1.}
  sed -E -i "s#=>[[:space:]]*\./staging/src/(k8s\.io/[A-Za-z0-9._-]+)[[:space:]]*\$#=> \1 ${staging_version}#" \
    "${src}/go.mod"
  if grep -q '\./staging/' "${src}/go.mod"; then
    die "unrewritten ./staging replace left in go.mod"
  fi
  # Build date = the release's module timestamp, so builds are reproducible.
  sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' \
    "$(sed -n 's/^[[:space:]]*"Info": "\(.*\)",\{0,1\}$/\1/p' <<<"${json}")" >"${src}/.build-date"
}

kube_build() { # <src dir> <out dir> <package...>
  local src=$1 out=$2 major minor build_date ldflags=(-s -w) p k
  major=${KUBE_VERSION#v}
  major=${major%%.*}
  minor=${KUBE_VERSION#v*.}
  minor=${minor%%.*}
  build_date=$(cat "${src}/.build-date")
  build_date=${build_date:-1970-01-01T00:00:00Z}
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    for k in "gitVersion=${KUBE_VERSION}" "gitMajor=${major}" "gitMinor=${minor}" \
      "gitTreeState=clean" "buildDate=${build_date}" "gitCommit="; do
      ldflags+=(-X "${p}.${k}")
    done
  done
  # (gitCommit is unknown from the module zip; empty beats "$Format:%H$".)
  # Same tags as upstream's non-debug release builds (hack/lib/golang.sh).
  (cd "${src}" && go_env go build -mod=mod -trimpath \
    -tags selinux,notest,grpcnotrace \
    -ldflags "${ldflags[*]}" \
    -o "${out}/" \
    "${@:3}")
}

# kube_verify_versions <out dir> <binary...>: each binary reports exactly KUBE_VERSION.
kube_verify_versions() {
  local out=$1 b v
  for b in "${@:2}"; do
    v=$("${out}/${b}" --version)
    echo "    ${b}: ${v}"
    [[ ${v} == "Kubernetes ${KUBE_VERSION}" ]] || die "${b} --version: want 'Kubernetes ${KUBE_VERSION}', got '${v}'"
  done
}

kube_verify() { # <out dir>
  local out=$1 v
  kube_verify_versions "${out}" kube-apiserver kube-controller-manager kube-scheduler
  v=$("${out}/kubectl" version --client 2>&1 | head -n1)
  echo "    kubectl: ${v}"
  [[ ${v} == *"${KUBE_VERSION}"* ]] || die "kubectl version --client: want ${KUBE_VERSION}, got '${v}'"
}

# install_from_kubernetes <tool> <out dir> <how long cold> <verify function> <binary...>: build
# cmd/<binary> of k8s.io/kubernetes@KUBE_VERSION. kube and node share the source preparation and the
# build flags, and the Go build cache makes the second of them much faster than the first.
install_from_kubernetes() {
  local tool=$1 out=$2 cold=$3 verify=$4 src b pkgs=()
  shift 4
  for b in "$@"; do pkgs+=("./cmd/${b}"); done
  new_tmp_dir src "${tool}-${KUBE_VERSION}-src"
  step "${tool}: fetch k8s.io/kubernetes@${KUBE_VERSION} and prepare writable source" \
    kube_prepare_source "${src}"
  step "${tool}: go build $* (cold: ${cold})" kube_build "${src}" "${out}" "${pkgs[@]}"
  step "${tool}: verify versions" "${verify}" "${out}"
  rm -rf "${src}"
}

install_kube() { # <out dir>
  install_from_kubernetes kube "$1" "10-25 min" kube_verify \
    kube-apiserver kube-controller-manager kube-scheduler kubectl
}

node_verify() { kube_verify_versions "$1" kubelet kube-proxy; }

install_node() { # <out dir>
  install_from_kubernetes node "$1" "5-15 min, less after kube" node_verify kubelet kube-proxy
}

# ---------------------------------------------------------------------------
# etcd
# ---------------------------------------------------------------------------
etcd_build() { # <out dir>
  (cd "${ETCD_MODULE_DIR}" && go_env go build -mod=readonly -trimpath -ldflags "-s -w" -o "$1/etcd" .)
}

etcd_verify() { # <out dir> <version>
  local v
  v=$("$1/etcd" --version)
  printf '    %s\n' "${v//$'\n'/$'\n'    }"
  grep -qx "etcd Version: ${2#v}" <<<"${v}" || die "etcd --version does not report ${2#v}"
}

install_etcd() { # <out dir>
  local out=$1 version
  version=$(etcd_version)
  step "etcd: go build go.etcd.io/etcd/server/v3@${version} (hack/tools/etcd)" etcd_build "${out}"
  step "etcd: verify version" etcd_verify "${out}" "${version}"
}

# ---------------------------------------------------------------------------
# kwok
# ---------------------------------------------------------------------------
# go_install_tool <out dir> <package@version>: go install into <out dir>, in module mode with the
# tool's own go.mod.
go_install_tool() {
  (cd "$1" && go_env GOBIN="$1" go install -trimpath -ldflags "-s -w" "$2")
}

kwok_build() { # <out dir>
  go_install_tool "$1" "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"
}

kwok_verify() { # <out dir>
  local v
  v=$("$1/kwok" --version)
  echo "    ${v}"
  [[ ${v} == *"${KWOK_VERSION#v}"* ]] || die "kwok --version does not report ${KWOK_VERSION}: '${v}'"
}

install_kwok() { # <out dir>
  step "kwok: go install sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}" kwok_build "$1"
  step "kwok: verify version" kwok_verify "$1"
}

# ---------------------------------------------------------------------------
# crictl
# ---------------------------------------------------------------------------
crictl_verify() { # <out dir>
  local v
  v=$("$1/crictl" --version)
  echo "    ${v}"
  [[ ${v} == *"${CRICTL_VERSION}"* ]] || die "crictl --version does not report ${CRICTL_VERSION}: '${v}'"
}

# crictl's version is set at link time, as its Makefile does (otherwise it reports "unknown").
crictl_build() { # <out dir>
  (cd "$1" && go_env GOBIN="$1" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=${CRICTL_VERSION}" \
    "sigs.k8s.io/cri-tools/cmd/crictl@${CRICTL_VERSION}")
}

install_crictl() { # <out dir>
  step "crictl: go install sigs.k8s.io/cri-tools/cmd/crictl@${CRICTL_VERSION}" crictl_build "$1"
  step "crictl: verify version" crictl_verify "$1"
}

# ---------------------------------------------------------------------------
# coredns
# ---------------------------------------------------------------------------
coredns_verify() { # <out dir>
  local v
  v=$("$1/coredns" -version)
  printf '    %s\n' "${v//$'\n'/$'\n'    }"
  grep -q "^CoreDNS-${COREDNS_VERSION#v}\$" <<<"${v}" || die "coredns -version does not report ${COREDNS_VERSION}"
}

install_coredns() { # <out dir>
  step "coredns: go install github.com/coredns/coredns@${COREDNS_VERSION} (cold: ~4 min)" \
    go_install_tool "$1" "github.com/coredns/coredns@${COREDNS_VERSION}"
  step "coredns: verify version" coredns_verify "$1"
}

# ---------------------------------------------------------------------------
# protoc (the shim), protoc-gen-gogo, goimports
# ---------------------------------------------------------------------------
protoc_build() { # <out dir>
  (cd "${PROTOC_MODULE_DIR}" && go_env go build -mod=readonly -trimpath -ldflags "-s -w" -o "$1/protoc" .)
}

install_protoc() { # <out dir>
  step "protoc: go build hack/tools/protoc (a protoc stand-in, $(protoc_version))" protoc_build "$1"
}

install_protoc-gen-gogo() { # <out dir>
  local pkg
  pkg=k8s.io/code-generator/cmd/go-to-protobuf/protoc-gen-gogo@$(tool_version protoc-gen-gogo)
  step "protoc-gen-gogo: go install ${pkg}" go_install_tool "$1" "${pkg}"
}

install_goimports() { # <out dir>
  step "goimports: go install golang.org/x/tools/cmd/goimports@${GOIMPORTS_VERSION}" \
    go_install_tool "$1" "golang.org/x/tools/cmd/goimports@${GOIMPORTS_VERSION}"
}

# ---------------------------------------------------------------------------
# sample-apiserver (test/bench's peer)
# ---------------------------------------------------------------------------
# Its published module has no replace directives, so go install pkg@version works (unlike etcd's).
install_sample-apiserver() { # <out dir>
  step "sample-apiserver: go install k8s.io/sample-apiserver@$(tool_version sample-apiserver)" \
    go_install_tool "$1" "k8s.io/sample-apiserver@$(tool_version sample-apiserver)"
}

# ---------------------------------------------------------------------------
# golangci-lint
# ---------------------------------------------------------------------------
# go install from the module proxy with the machine's Go (golangci-lint must be built with a Go at
# least as new as the code it lints); the version it reports comes from the module's build info.
golangci_lint_verify() { # <out dir>
  local v
  v=$("$1/golangci-lint" version)
  echo "    ${v}"
  [[ ${v} == *"version ${GOLANGCI_LINT_VERSION#v} "* ]] ||
    die "golangci-lint version does not report ${GOLANGCI_LINT_VERSION}: '${v}'"
}

install_golangci-lint() { # <out dir>
  step "golangci-lint: go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@${GOLANGCI_LINT_VERSION} (cold: ~2-4 min)" \
    go_install_tool "$1" "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@${GOLANGCI_LINT_VERSION}"
  step "golangci-lint: verify version" golangci_lint_verify "$1"
}

# ---------------------------------------------------------------------------
# packages, shellcheck (Debian)
# ---------------------------------------------------------------------------
# missing_packages <package...>: those dpkg does not have installed, one per line.
missing_packages() {
  local p status
  for p in "$@"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "${p}" 2>/dev/null || true)
    [[ ${status} == installed ]] || echo "${p}"
  done
}

# install_debian <name> <package...>: apt-get install those of the packages that are missing, as
# root only (a clear error otherwise). <name> is the tool name (packages, shellcheck) for messages.
install_debian() {
  local name=$1 missing lock_fd start
  shift
  if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    die "${name}: not a Debian system (no dpkg-query/apt-get); install the equivalents of: $*"
  fi
  mapfile -t missing < <(missing_packages "$@")
  if ((${#missing[@]} == 0)); then
    echo "installed: $*"
    return 0
  fi
  ((EUID == 0)) ||
    die "${name}: missing Debian packages ${missing[*]}; installing them needs root: sudo apt-get install ${missing[*]}"
  # One run at a time (apt's own locks make a second apt-get fail, or wait only for the dpkg lock);
  # then look again: the run we waited for may have installed them.
  mkdir -p "${CACHE_ROOT}"
  exec {lock_fd}>"${CACHE_ROOT}/.packages.lock"
  flock "${lock_fd}"
  mapfile -t missing < <(missing_packages "$@")
  if ((${#missing[@]} > 0)); then
    start=${SECONDS}
    echo "==> ${name}: apt-get install ${missing[*]}"
    # A fresh machine has no package lists; an old list may name versions the mirror dropped.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="${APT_LOCK_TIMEOUT}" -qq update
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="${APT_LOCK_TIMEOUT}" -qq -y \
      --no-install-recommends install "${missing[@]}" >/dev/null
    mapfile -t missing < <(missing_packages "$@")
    ((${#missing[@]} == 0)) || die "${name}: still missing after apt-get install: ${missing[*]}"
    echo "==> ${name}: installed in $((SECONDS - start))s"
  fi
  exec {lock_fd}>&-
  echo "installed: $*"
}

# ---------------------------------------------------------------------------
install_tool() { # <tool>
  local tool=$1 dir version out lock_fd b start
  case ${tool} in
    packages)
      install_debian packages "${DEBIAN_PACKAGES[@]}"
      return
      ;;
    shellcheck)
      install_debian shellcheck shellcheck
      return
      ;;
  esac
  dir=$(tool_dir "${tool}")
  if is_cached "${dir}" "${tool}"; then
    echo "cached: ${dir}"
    return 0
  fi
  command -v go >/dev/null || die "go not found in PATH"
  version=$(tool_version "${tool}")
  mkdir -p "${BIN_ROOT}"
  # Serialize concurrent installs of the same tool; re-check once we own it.
  if command -v flock >/dev/null; then
    exec {lock_fd}>"${BIN_ROOT}/.${tool}-${version}.lock"
    flock "${lock_fd}"
    if is_cached "${dir}" "${tool}"; then
      echo "cached: ${dir}"
      exec {lock_fd}>&-
      return 0
    fi
    # We own this tool+version: leftovers of killed earlier builds can go.
    rm -rf "${CACHE_ROOT}/tmp/${tool}-${version}-"*
  fi
  start=${SECONDS}
  echo "==> ${tool} ${version}: building into ${dir}"
  new_tmp_dir out "${tool}-${version}-out"
  "install_${tool}" "${out}"
  mkdir -p "${dir}"
  for b in $(tool_binaries "${tool}"); do
    [[ -x ${out}/${b} ]] || die "${tool}: build produced no ${b}"
    mv -f "${out}/${b}" "${dir}/${b}" # same filesystem: atomic rename
  done
  rm -rf "${out}"
  echo "==> ${tool} ${version}: installed in $((SECONDS - start))s: ${dir}"
  [[ -z ${lock_fd:-} ]] || exec {lock_fd}>&-
}

main() {
  local tools=() t
  while (($# > 0)); do
    case $1 in
      -h | --help)
        usage
        return 0
        ;;
      --print-dir)
        [[ $# -eq 2 ]] || {
          usage >&2
          return 2
        }
        [[ $2 != packages && $2 != shellcheck ]] || die "$2: Debian packages have no tool dir"
        tool_dir "$2"
        return 0
        ;;
      -*)
        usage >&2
        return 2
        ;;
      *)
        tool_version "$1" >/dev/null # validates the name
        tools+=("$1")
        ;;
    esac
    shift
  done
  ((${#tools[@]} > 0)) || tools=("${ALL_TOOLS[@]}")
  for t in "${tools[@]}"; do
    install_tool "${t}"
  done
}

main "$@"
exit
