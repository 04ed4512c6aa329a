#!/usr/bin/env bash
# Builds the container images of the real-node plane and of the image test, and caches each as a
# `docker save` tarball in the tool cache, keyed by its version and a hash of its inputs:
#
#   ${EASYSERVICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/easyservice}/images/<image>-<version>-<hash>.tar
#
# Images (sources under hack/images/); the node's, built by default:
#   pause               the pod sandbox (containerd's sandbox_image): a static Go binary FROM
#                       scratch that waits for SIGINT/SIGTERM and reaps orphans as PID 1
#   etcd                a stand-in for registry.k8s.io/etcd:<version>-0, the install's etcd: etcd
#                       and etcdctl built from go.etcd.io/etcd (the version hack/images/etcd/go.mod
#                       pins) in /usr/local/bin, FROM scratch
#   coredns             registry.k8s.io/coredns/coredns:<version>: CoreDNS built by
#                       `hack/install-tools.sh coredns`, FROM scratch, user 65532, allowed to bind
#                       port 53 (file capability cap_net_bind_service, as upstream's image)
#   webapp              the EasyService children's image of the cluster tests: answers every HTTP
#                       GET with a fixed line and its host name (the pod's name)
# Built on demand:
#   golang-standin      a local stand-in for golang:<GO_VERSION> (the Dockerfile's): a Debian
#                       bookworm minbase root filesystem (debootstrap from the Debian mirror,
#                       cached) and that Go toolchain (the host's GOROOT when its version matches
#                       exactly, else golang.org/toolchain from the module proxy)
#   distroless-standin  a local stand-in for gcr.io/distroless/static:nonroot: the same users,
#                       files and directories, from the same root filesystem; no shell
#   server              the server image, built by `make image` from the repository's Dockerfile on
#                       the two stand-ins, with the module downloads served offline (below), and
#                       tagged as the install references it (artifacts/deploy/base/kustomization.yaml)
#
# Usage:
#   hack/images.sh [image...]   build the missing images (no args: the node's), print what it has
#   hack/images.sh --list       print the image names
#
# For each image it prints one line on stdout, "<image> <reference> <tarball>", e.g.
#   pause easyservice.local/pause:1.0 /root/.cache/easyservice/images/pause-1.0-0123456789ab.tar
#   etcd registry.k8s.io/etcd:3.7.0-0 /root/.cache/easyservice/images/etcd-3.7.0-0-0123456789ab.tar
# and logs to stderr. A cached image costs no Docker engine: nothing starts. To build, it uses the
# caller's engine (DOCKER_HOST, DOCKER; see hack/docker.sh) or runs itself under
# `hack/docker.sh run`, which starts the private dockerd for the build and stops it afterwards.
# A node loads a tarball with `ctr -n k8s.io images import <tarball>` (containerd) or
# `docker load -i <tarball>`.
#
# server: `make image` runs with DOCKER_BUILD_FLAGS naming the stand-ins (GOLANG_IMAGE, BASE_IMAGE)
# and GOPROXY, a module proxy on 127.0.0.1 (hack/images/goproxy, for the build's duration) that
# serves the host's module download cache and refuses the checksum database, with --network host:
# the build reaches no network, and fails if go.sum lacks a hash. The image is rebuilt every time
# (BuildKit's cache makes an unchanged one take seconds) and saved when its ID changed.
#
# Environment (optional):
#   DEBIAN_MIRROR          the mirror debootstrap uses (default http://deb.debian.org/debian)
#   GOPROXY_PORT           the offline module proxy's port (default 23580; a fixed one, so that
#                          BuildKit's cache of the build survives; a free one if it is taken)
#   EASYSERVICE_CACHE      the tool cache (default ~/.cache/easyservice)
# Functions are mostly invoked indirectly (build_"$image"), which shellcheck misreports as
# unreachable code.
# shellcheck disable=SC2317
set -o errexit -o nounset -o pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC_ROOT=${REPO_ROOT}/hack/images
CACHE_ROOT=${EASYSERVICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/easyservice}
IMAGE_ROOT=${CACHE_ROOT}/images

# Our own images' versions: bump on a change users of the reference should notice.
PAUSE_VERSION=1.0
WEBAPP_VERSION=1.0
# The revision of registry.k8s.io/etcd's tags (<etcd version>-<revision>) the install names.
ETCD_IMAGE_REVISION=0
# The stand-ins' Debian release: the one golang:<version> (bookworm variant) and distroless/static
# (debian12) are built from.
DEBIAN_SUITE=bookworm
DEBIAN_INCLUDE=ca-certificates,netbase,tzdata
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
GOPROXY_PORT=${GOPROXY_PORT:-23580}

ALL_IMAGES=(pause etcd coredns webapp golang-standin distroless-standin server)
DEFAULT_IMAGES=(pause etcd coredns webapp)

die() {
  echo "images.sh: error: $*" >&2
  exit 1
}

log() {
  echo "images.sh: $*" >&2
}

# hash_of <file or text...>: a short hash of the files (names relative to the repository, and
# contents) and of the other arguments as text.
hash_of() {
  local a files=() texts=() sum
  for a in "$@"; do
    if [[ -f ${a} ]]; then
      files+=("${a#"${REPO_ROOT}"/}")
    else
      texts+=("${a}")
    fi
  done
  sum=$({
    if ((${#files[@]} > 0)); then
      (cd "${REPO_ROOT}" && sha256sum "${files[@]}")
    fi
    printf '%s\n' "${texts[@]}"
  } | sha256sum)
  echo "${sum:0:12}"
}

# go_version: the host's Go toolchain version (asked once: `go env` is slow).
GO_VERSION_CACHED=
go_version() {
  [[ -n ${GO_VERSION_CACHED} ]] || GO_VERSION_CACHED=$(go env GOVERSION)
  echo "${GO_VERSION_CACHED}"
}

# dockerfile_go_version: the Go version the repository's Dockerfile pins (ARG GO_VERSION=...).
dockerfile_go_version() {
  local v
  v=$(sed -n 's/^ARG GO_VERSION=\(.*\)$/\1/p' "${REPO_ROOT}/Dockerfile")
  [[ -n ${v} ]] || die "no ARG GO_VERSION=... in ${REPO_ROOT}/Dockerfile"
  echo "${v}"
}

# etcd_version: the etcd server version hack/images/etcd/go.mod pins, without the v.
etcd_version() {
  local v
  v=$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }' "${SRC_ROOT}/etcd/go.mod")
  [[ -n ${v} ]] || die "no go.etcd.io/etcd/server/v3 in ${SRC_ROOT}/etcd/go.mod"
  echo "${v#v}"
}

# coredns_dir: where hack/install-tools.sh keeps (or will keep) the coredns binary,
# <cache>/bin/coredns-<version>.
coredns_dir() {
  "${REPO_ROOT}/hack/install-tools.sh" --print-dir coredns
}

coredns_version() {
  local dir
  dir=$(coredns_dir)
  echo "${dir##*/coredns-}"
}

# server_ref: the server image's reference in the install (its images: entry's name and newTag).
server_ref() {
  local kustomization=${REPO_ROOT}/artifacts/deploy/base/kustomization.yaml name tag
  name=$(sed -n 's/^- name: \(easyservice\/easyservice-apiserver\)$/\1/p' "${kustomization}")
  tag=$(sed -n '/^- name: easyservice\/easyservice-apiserver$/,/^-/ s/^  newTag: \(.*\)$/\1/p' "${kustomization}")
  [[ -n ${name} && -n ${tag} ]] || die "no easyservice/easyservice-apiserver image with a newTag in ${kustomization}"
  echo "${name}:${tag}"
}

# image_ref <image>: the reference the image is tagged with.
image_ref() {
  case $1 in
    pause) echo "easyservice.local/pause:${PAUSE_VERSION}" ;;
    etcd) echo "registry.k8s.io/etcd:$(etcd_version)-${ETCD_IMAGE_REVISION}" ;;
    coredns) echo "registry.k8s.io/coredns/coredns:$(coredns_version)" ;;
    webapp) echo "easyservice.local/webapp:${WEBAPP_VERSION}" ;;
    golang-standin) echo "easyservice.local/golang:$(dockerfile_go_version)-${DEBIAN_SUITE}" ;;
    distroless-standin) echo "easyservice.local/distroless-static:nonroot" ;;
    server) server_ref ;;
    *) die "unknown image '$1' (known: ${ALL_IMAGES[*]})" ;;
  esac
}

# image_key <image>: <version>-<hash of the inputs>. The inputs are the image's sources, the Go
# toolchain that builds its binary, and the function that builds it.
image_key() {
  case $1 in
    pause)
      echo "${PAUSE_VERSION}-$(hash_of "${SRC_ROOT}/pause/main.go" "${SRC_ROOT}/pause/Dockerfile" \
        "$(go_version)" "$(declare -f build_binary_image build_pause)")"
      ;;
    etcd)
      echo "$(etcd_version)-${ETCD_IMAGE_REVISION}-$(hash_of "${SRC_ROOT}"/etcd/{main.go,tools.go,go.mod,go.sum,Dockerfile} \
        "$(go_version)" "$(declare -f build_binary_image build_etcd)")"
      ;;
    coredns)
      echo "$(coredns_version)-$(hash_of "${SRC_ROOT}/coredns/Dockerfile" \
        "$(go_version)" "$(declare -f build_coredns)")"
      ;;
    webapp)
      echo "${WEBAPP_VERSION}-$(hash_of "${SRC_ROOT}/webapp/main.go" "${SRC_ROOT}/webapp/Dockerfile" \
        "${REPO_ROOT}/hack/internal/serve/serve.go" \
        "$(go_version)" "$(declare -f build_binary_image build_webapp)")"
      ;;
    golang-standin)
      echo "$(dockerfile_go_version)-${DEBIAN_SUITE}-$(hash_of "${SRC_ROOT}/standins/golang.Dockerfile" \
        "$(rootfs_key)" "$(declare -f build_golang-standin go_toolchain)")"
      ;;
    distroless-standin)
      echo "nonroot-${DEBIAN_SUITE}-$(hash_of "${SRC_ROOT}/standins/distroless.Dockerfile" \
        "${SRC_ROOT}/standins/passwd" "${SRC_ROOT}/standins/group" "${SRC_ROOT}/standins/nsswitch.conf" \
        "$(rootfs_key)" "$(declare -f build_distroless-standin)")"
      ;;
    *) die "unknown image '$1' (known: ${ALL_IMAGES[*]})" ;;
  esac
}

# tarball <image>: where the image's tarball is (the server's: after build_server).
tarball() {
  if [[ $1 == server ]]; then
    echo "${SERVER_TARBALL:?server: not built}"
    return
  fi
  echo "${IMAGE_ROOT}/$1-${KEYS[$1]:-$(image_key "$1")}.tar"
}

# KEYS: the images' keys, computed once (by compute_keys, in the main shell: tarball runs in
# command substitutions, whose assignments are lost).
declare -A KEYS=()
compute_keys() { # <image>...
  local image
  for image in "$@"; do
    if [[ ${image} == server ]]; then
      compute_keys golang-standin distroless-standin
    elif [[ -z ${KEYS[${image}]:-} ]]; then
      KEYS[${image}]=$(image_key "${image}")
    fi
  done
}

# cached <image>: the image's tarball exists. The server's never is before it is built: its key is
# the image ID make image gives.
cached() {
  [[ $1 != server && -f $(tarball "$1") ]]
}

# save <image> <reference> [tarball]: docker save the reference into the image's tarball
# (atomically: a killed save leaves no tarball behind), note its image ID next to it (<tarball>.id)
# and drop the image's older tarballs.
save() {
  local image=$1 ref=$2 tar=${3:-} tmp old
  [[ -n ${tar} ]] || tar=$(tarball "${image}")
  mkdir -p "${IMAGE_ROOT}"
  tmp=$(mktemp "${IMAGE_ROOT}/.${image}.XXXXXX")
  "${DOCKER}" save -o "${tmp}" "${ref}"
  chmod 0644 "${tmp}"
  "${DOCKER}" image inspect --format '{{.Id}}' "${ref}" >"${tar}.id"
  mv -f "${tmp}" "${tar}"
  for old in "${IMAGE_ROOT}/${image}"-*.tar; do
    if [[ ${old} != "${tar}" && -f ${old} ]]; then
      rm -f "${old}" "${old}.id"
    fi
  done
}

# ensure_loaded <image>: the image, built or cached, is in the engine under its reference, as its
# tarball has it (a base image of a build must be there: no registry to pull it from).
ensure_loaded() {
  local image=$1 ref tar id
  ref=$(image_ref "${image}")
  tar=$(tarball "${image}")
  id=$("${DOCKER}" image inspect --format '{{.Id}}' "${ref}" 2>/dev/null || true)
  if [[ -z ${id} || ! -f ${tar}.id || ${id} != "$(<"${tar}.id")" ]]; then
    log "docker load ${tar}"
    "${DOCKER}" load --quiet -i "${tar}" >/dev/null
  fi
}

# build_binary_image <image> <module dir> <path>=<package>...: go build each package (static, for
# the host's platform) in <module dir>'s module into <path> of a build context, docker build that
# context with <module dir>/Dockerfile (FROM scratch: no base image, no network) and save it.
build_binary_image() {
  local image=$1 dir=$2 ctx ref pair
  shift 2
  ref=$(image_ref "${image}")
  ctx=$(mktemp -d "${IMAGE_ROOT}/.${image}-ctx.XXXXXX")
  TMP_DIRS+=("${ctx}")
  cp "${dir}/Dockerfile" "${ctx}/Dockerfile"
  for pair in "$@"; do
    (cd "${dir}" && env -u GOOS -u GOARCH GOWORK=off CGO_ENABLED=0 \
      go build -mod=readonly -trimpath -ldflags "-s -w" -o "${ctx}/${pair%%=*}" "${pair#*=}")
  done
  "${DOCKER}" build --quiet --network none -t "${ref}" "${ctx}" >/dev/null
  save "${image}" "${ref}"
}

build_pause() {
  build_binary_image pause "${SRC_ROOT}/pause" pause=.
}

build_webapp() {
  build_binary_image webapp "${SRC_ROOT}/webapp" webapp=.
}

build_etcd() {
  build_binary_image etcd "${SRC_ROOT}/etcd" usr/local/bin/etcd=. usr/local/bin/etcdctl=go.etcd.io/etcd/etcdctl/v3
}

# build_coredns: CoreDNS's binary from the tool cache, with the file capability to bind ports below
# 1024 (cap_net_bind_service, effective and permitted), as upstream's image has it.
build_coredns() {
  local ctx
  "${REPO_ROOT}/hack/install-tools.sh" coredns >&2
  command -v setcap >/dev/null || die "no setcap: run hack/install-tools.sh packages (as root)"
  ctx=$(mktemp -d "${IMAGE_ROOT}/.coredns-ctx.XXXXXX")
  TMP_DIRS+=("${ctx}")
  cp "${SRC_ROOT}/coredns/Dockerfile" "${ctx}/Dockerfile"
  mkdir "${ctx}/files"
  install -m 0755 -o 0 -g 0 "$(coredns_dir)/coredns" "${ctx}/files/coredns"
  setcap cap_net_bind_service=+ep "${ctx}/files/coredns"
  tar --xattrs --xattrs-include=security.capability --numeric-owner -C "${ctx}/files" -cf "${ctx}/files.tar" ./coredns
  "${DOCKER}" build --quiet --network none -t "$(image_ref coredns)" "${ctx}" >/dev/null
  save coredns "$(image_ref coredns)"
}

# ---------------------------------------------------------------------------
# The stand-ins' root filesystem
# ---------------------------------------------------------------------------
rootfs_key() {
  echo "${DEBIAN_SUITE}-minbase-$(hash_of "${DEBIAN_INCLUDE}" "$(declare -f build_rootfs)")"
}

rootfs_tarball() {
  echo "${IMAGE_ROOT}/rootfs-$(rootfs_key).tar"
}

# remove_tree <dir>: unmount whatever is mounted below <dir> (an interrupted debootstrap leaves
# /proc and friends mounted in its target), then delete it without leaving its file system.
remove_tree() {
  local dir=$1 mnt
  [[ -e ${dir} ]] || return 0
  while read -r mnt; do
    umount -l "${mnt}" || true
  done < <(awk -v d="${dir}/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r)
  rm -rf --one-file-system "${dir}"
}

# build_rootfs: a Debian minbase root filesystem from the mirror, as a tarball (numeric owners;
# no device nodes, apt lists or package files).
build_rootfs() {
  local tar tmp start
  tar=$(rootfs_tarball)
  if [[ -f ${tar} ]]; then
    return 0
  fi
  ((EUID == 0)) || die "debootstrap needs root (the stand-ins' root filesystem ${tar} is not cached)"
  command -v debootstrap >/dev/null || die "no debootstrap: run hack/install-tools.sh packages (as root)"
  tmp=$(mktemp -d "${IMAGE_ROOT}/.rootfs.XXXXXX")
  TREES+=("${tmp}")
  start=${SECONDS}
  log "debootstrap --variant=minbase --include=${DEBIAN_INCLUDE} ${DEBIAN_SUITE} (${DEBIAN_MIRROR}); log: ${IMAGE_ROOT}/debootstrap.log"
  if ! debootstrap --variant=minbase --include="${DEBIAN_INCLUDE}" "${DEBIAN_SUITE}" "${tmp}/rootfs" \
    "${DEBIAN_MIRROR}" >"${IMAGE_ROOT}/debootstrap.log" 2>&1; then
    tail -n 20 "${IMAGE_ROOT}/debootstrap.log" >&2
    die "debootstrap failed; log: ${IMAGE_ROOT}/debootstrap.log"
  fi
  rm -rf "${tmp}"/rootfs/var/cache/apt/archives/*.deb "${tmp}"/rootfs/var/lib/apt/lists/* \
    "${tmp}"/rootfs/var/log/* "${tmp}"/rootfs/var/cache/debconf/*-old
  tar --numeric-owner -C "${tmp}/rootfs" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf "${tmp}/rootfs.tar" .
  mv -f "${tmp}/rootfs.tar" "${tar}"
  remove_tree "${tmp}"
  log "root filesystem ${tar} in $((SECONDS - start))s"
}

# go_toolchain <dir>: a copy of the Go toolchain of the Dockerfile's GO_VERSION in <dir>: the
# host's GOROOT when it is exactly that version, else golang.org/toolchain from the module proxy.
go_toolchain() {
  local dir=$1 want goroot json
  want=go$(dockerfile_go_version)
  if [[ $(go_version) == "${want}" ]]; then
    goroot=$(go env GOROOT)
    log "Go toolchain: the host's ${goroot} (${want})"
  else
    json=$(cd "${IMAGE_ROOT}" && GOTOOLCHAIN=local go mod download -json \
      "golang.org/toolchain@v0.0.1-${want}.linux-$(go env GOHOSTARCH)")
    goroot=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"${json}")
    [[ -n ${goroot} && -x ${goroot}/bin/go ]] || die "go mod download golang.org/toolchain gave no toolchain: ${json}"
    log "Go toolchain: golang.org/toolchain ${want} (${goroot})"
  fi
  cp -a "${goroot}/." "${dir}/"
  chmod -R u+w "${dir}"
  # A module zip keeps no modes: the toolchain's programs are executable again (the go command
  # does the same when it switches to a downloaded toolchain).
  chmod a+x "${dir}"/bin/* "${dir}"/pkg/tool/*/*
  [[ $("${dir}/bin/go" env GOVERSION) == "${want}" ]] || die "the toolchain copy in ${dir} is not ${want}"
}

build_golang-standin() {
  local ctx
  build_rootfs
  ctx=$(mktemp -d "${IMAGE_ROOT}/.golang-standin-ctx.XXXXXX")
  TREES+=("${ctx}")
  cp "${SRC_ROOT}/standins/golang.Dockerfile" "${ctx}/Dockerfile"
  ln "$(rootfs_tarball)" "${ctx}/rootfs.tar" 2>/dev/null || cp "$(rootfs_tarball)" "${ctx}/rootfs.tar"
  mkdir "${ctx}/go"
  go_toolchain "${ctx}/go"
  "${DOCKER}" build --quiet --network none --build-arg GO_VERSION="$(dockerfile_go_version)" \
    -t "$(image_ref golang-standin)" "${ctx}" >/dev/null
  save golang-standin "$(image_ref golang-standin)"
  remove_tree "${ctx}"
}

build_distroless-standin() {
  local ctx files f
  build_rootfs
  ctx=$(mktemp -d "${IMAGE_ROOT}/.distroless-standin-ctx.XXXXXX")
  TREES+=("${ctx}")
  files=${ctx}/files
  mkdir "${files}"
  cp "${SRC_ROOT}/standins/distroless.Dockerfile" "${ctx}/Dockerfile"
  # From the Debian packages distroless/static is made of: base-files, ca-certificates, netbase,
  # tzdata (the files and their copyright notices).
  tar -xf "$(rootfs_tarball)" -C "${files}" --numeric-owner \
    ./etc/os-release ./usr/lib/os-release ./etc/debian_version \
    ./etc/ssl/certs/ca-certificates.crt ./usr/share/zoneinfo \
    ./etc/services ./etc/protocols ./etc/rpc ./etc/ethertypes \
    ./usr/share/doc/base-files/copyright ./usr/share/doc/ca-certificates/copyright \
    ./usr/share/doc/netbase/copyright ./usr/share/doc/tzdata/copyright
  for f in passwd group nsswitch.conf; do
    install -m 0644 -o 0 -g 0 "${SRC_ROOT}/standins/${f}" "${files}/etc/${f}"
  done
  install -d -m 1777 -o 0 -g 0 "${files}/tmp"
  install -d -m 0700 -o 0 -g 0 "${files}/root"
  install -d -m 0755 -o 0 -g 0 "${files}/home"
  install -d -m 0700 -o 65532 -g 65532 "${files}/home/nonroot"
  tar --numeric-owner -C "${files}" -cf "${ctx}/files.tar" .
  rm -rf "${files}"
  "${DOCKER}" build --quiet --network none -t "$(image_ref distroless-standin)" "${ctx}" >/dev/null
  save distroless-standin "$(image_ref distroless-standin)"
  remove_tree "${ctx}"
}

# ---------------------------------------------------------------------------
# The server image: make image, offline
# ---------------------------------------------------------------------------
# start_goproxy: serve the host's module download cache on 127.0.0.1 (hack/images/goproxy); sets
# GOPROXY_URL. The port is fixed where it can be: the build's cache keys include GOPROXY.
start_goproxy() {
  local bin dir addr_file deadline listen
  dir=$(mktemp -d "${IMAGE_ROOT}/.goproxy.XXXXXX")
  TREES+=("${dir}")
  bin=${dir}/goproxy
  (cd "${REPO_ROOT}" && CGO_ENABLED=0 go build -o "${bin}" ./hack/images/goproxy)
  listen=127.0.0.1:${GOPROXY_PORT}
  if (: <"/dev/tcp/127.0.0.1/${GOPROXY_PORT}") 2>/dev/null; then
    log "port ${GOPROXY_PORT} is taken: the module proxy takes a free one (the build's cache misses)"
    listen=127.0.0.1:0
  fi
  addr_file=${dir}/addr
  "${bin}" -dir "$(go env GOMODCACHE)/cache/download" -listen "${listen}" -addr-file "${addr_file}" \
    2>"${dir}/goproxy.log" &
  GOPROXY_PID=$!
  deadline=$((SECONDS + 30))
  until [[ -s ${addr_file} ]]; do
    if ! kill -0 "${GOPROXY_PID}" 2>/dev/null || ((SECONDS >= deadline)); then
      cat "${dir}/goproxy.log" >&2
      die "the module proxy did not start"
    fi
    sleep 0.1
  done
  GOPROXY_URL=http://$(<"${addr_file}")
  GOPROXY_LOG=${dir}/goproxy.log
}

stop_goproxy() {
  if [[ -n ${GOPROXY_PID:-} ]]; then
    kill -TERM "${GOPROXY_PID}" 2>/dev/null || true
    wait "${GOPROXY_PID}" 2>/dev/null || true
    GOPROXY_PID=
  fi
}

build_server() {
  local ref id old_id flags image
  ref=$(image_ref server)
  old_id=$("${DOCKER}" image inspect --format '{{.Id}}' "${ref}" 2>/dev/null || true)
  for image in golang-standin distroless-standin; do
    build_image "${image}"
  done
  ensure_loaded golang-standin
  ensure_loaded distroless-standin
  # Every module the build downloads, in the host's cache (no-op when it has them).
  (cd "${REPO_ROOT}" && go mod download)
  start_goproxy
  flags="--network host --build-arg GOLANG_IMAGE=$(image_ref golang-standin)"
  flags+=" --build-arg BASE_IMAGE=$(image_ref distroless-standin) --build-arg GOPROXY=${GOPROXY_URL}"
  log "make image IMAGE=${ref} DOCKER_BUILD_FLAGS=\"${flags}\""
  if ! make -C "${REPO_ROOT}" --no-print-directory image IMAGE="${ref}" DOCKER="${DOCKER}" \
    DOCKER_BUILD_FLAGS="${flags}" >"${IMAGE_ROOT}/make-image.log" 2>&1; then
    tail -n 30 "${IMAGE_ROOT}/make-image.log" >&2
    echo "--- the module proxy's log:" >&2
    cat "${GOPROXY_LOG}" >&2
    die "make image failed; log: ${IMAGE_ROOT}/make-image.log"
  fi
  stop_goproxy
  id=$("${DOCKER}" image inspect --format '{{.Id}}' "${ref}")
  # The image the tag named before, now untagged, would pile up in the engine: remove it (docker
  # refuses while another tag or a container uses it, which is fine).
  if [[ -n ${old_id} && ${old_id} != "${id}" ]]; then
    "${DOCKER}" image rm "${old_id}" >/dev/null 2>&1 || true
  fi
  id=${id#sha256:}
  SERVER_TARBALL=${IMAGE_ROOT}/server-${ref##*:}-${id:0:12}.tar
  if [[ ! -f ${SERVER_TARBALL} ]]; then
    save server "${ref}" "${SERVER_TARBALL}"
  fi
}

# build_image <image>: build the image unless it is cached, one build of it at a time (a second
# waits for the first and then finds it cached).
build_image() {
  local start lock_fd
  mkdir -p "${IMAGE_ROOT}"
  exec {lock_fd}>"${IMAGE_ROOT}/.$1.lock"
  flock "${lock_fd}"
  if ! cached "$1"; then
    start=${SECONDS}
    log "building $1 ($(image_ref "$1"))"
    "build_$1"
    log "built $1 in $((SECONDS - start))s"
  fi
  exec {lock_fd}>&-
}

TREES=()
TMP_DIRS=()
cleanup() {
  local d
  stop_goproxy
  for d in "${TMP_DIRS[@]}"; do
    if [[ -n ${d} && -e ${d} ]]; then rm -rf "${d}"; fi
  done
  for d in "${TREES[@]}"; do
    remove_tree "${d}"
  done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

main() {
  local images=() missing=() image
  while (($# > 0)); do
    case $1 in
      --list)
        printf '%s\n' "${ALL_IMAGES[@]}"
        return 0
        ;;
      -h | --help)
        sed -n '2,/^set -o/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        return 0
        ;;
      -*) die "unknown flag $1" ;;
      *)
        image_ref "$1" >/dev/null # validates the name
        images+=("$1")
        ;;
    esac
    shift
  done
  ((${#images[@]} > 0)) || images=("${DEFAULT_IMAGES[@]}")
  command -v go >/dev/null || die "go not found in PATH"
  compute_keys "${images[@]}"
  for image in "${images[@]}"; do
    cached "${image}" || missing+=("${image}")
  done
  if ((${#missing[@]} > 0)); then
    if [[ -z ${DOCKER_HOST:-} ]]; then
      # An engine for the build, stopped again when the build is done.
      exec "${REPO_ROOT}/hack/docker.sh" run "${BASH_SOURCE[0]}" "${images[@]}"
    fi
    DOCKER=${DOCKER:-docker}
    for image in "${missing[@]}"; do
      build_image "${image}"
    done
  fi
  for image in "${images[@]}"; do
    echo "${image} $(image_ref "${image}") $(tarball "${image}")"
  done
}

main "$@"
