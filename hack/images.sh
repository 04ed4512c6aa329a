#!/usr/bin/env bash
# Builds the container images of the real-node plane and of the image test, and caches each as a
# `docker save` tarball in the tool cache, keyed by its version and a hash of its inputs:
#
#   ${EASYSERVICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/easyservice}/images/<image>-<version>-<hash>.tar
#
# Images (sources under hack/images/):
#   pause     the pod sandbox (containerd's sandbox_image): a static Go binary FROM scratch that
#             waits for SIGINT/SIGTERM and reaps orphans as PID 1
#
# Usage:
#   hack/images.sh [image...]   build the missing images (no args: pause), print what it has
#   hack/images.sh --list       print the image names
#
# For each image it prints one line on stdout, "<image> <reference> <tarball>", e.g.
#   pause easyservice.local/pause:1.0 /root/.cache/easyservice/images/pause-1.0-0123456789ab.tar
# and logs to stderr. A cached image costs no Docker engine: nothing starts. To build, it uses the
# caller's engine (DOCKER_HOST, DOCKER; see hack/docker.sh) or runs itself under
# `hack/docker.sh run`, which starts the private dockerd for the build and stops it afterwards.
# A node loads a tarball with `ctr -n k8s.io images import <tarball>` (containerd) or
# `docker load -i <tarball>`.
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

ALL_IMAGES=(pause)
DEFAULT_IMAGES=(pause)

die() {
  echo "images.sh: error: $*" >&2
  exit 1
}

log() {
  echo "images.sh: $*" >&2
}

# hash_of <file or text...>: a short hash of the files' contents (or of the text where an argument
# is not a file), in argument order.
hash_of() {
  local a sum
  sum=$(for a in "$@"; do
    if [[ -f ${a} ]]; then
      printf '%s\n' "${a#"${REPO_ROOT}"/}"
      cat "${a}"
    else
      printf '%s\n' "${a}"
    fi
  done | sha256sum)
  echo "${sum:0:12}"
}

# go_version: the host's Go toolchain version (asked once: `go env` is slow).
GO_VERSION_CACHED=
go_version() {
  [[ -n ${GO_VERSION_CACHED} ]] || GO_VERSION_CACHED=$(go env GOVERSION)
  echo "${GO_VERSION_CACHED}"
}

# image_ref <image>: the reference the image is tagged with.
image_ref() {
  case $1 in
    pause) echo "easyservice.local/pause:${PAUSE_VERSION}" ;;
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
    *) die "unknown image '$1' (known: ${ALL_IMAGES[*]})" ;;
  esac
}

tarball() {
  echo "${IMAGE_ROOT}/$1-$(image_key "$1").tar"
}

# save <image> <reference>: docker save the reference into the image's tarball (atomically: a
# killed save leaves no tarball behind), and drop the image's older tarballs.
save() {
  local image=$1 ref=$2 tar tmp old
  tar=$(tarball "${image}")
  mkdir -p "${IMAGE_ROOT}"
  tmp=$(mktemp "${IMAGE_ROOT}/.${image}.XXXXXX")
  "${DOCKER}" save -o "${tmp}" "${ref}"
  mv -f "${tmp}" "${tar}"
  for old in "${IMAGE_ROOT}/${image}"-*.tar; do
    if [[ ${old} != "${tar}" && -f ${old} ]]; then
      rm -f "${old}"
    fi
  done
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

TMP_DIRS=()
cleanup() {
  local d
  for d in "${TMP_DIRS[@]}"; do
    if [[ -n ${d} && -e ${d} ]]; then rm -rf "${d}"; fi
  done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

main() {
  local images=() missing=() image start lock_fd
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
  for image in "${images[@]}"; do
    [[ -f $(tarball "${image}") ]] || missing+=("${image}")
  done
  if ((${#missing[@]} > 0)); then
    if [[ -z ${DOCKER_HOST:-} ]]; then
      # An engine for the build, stopped again when the build is done.
      exec "${REPO_ROOT}/hack/docker.sh" run "${BASH_SOURCE[0]}" "${images[@]}"
    fi
    DOCKER=${DOCKER:-docker}
    mkdir -p "${IMAGE_ROOT}"
    # One build at a time (two would build the same image twice); then look again.
    exec {lock_fd}>"${IMAGE_ROOT}/.lock"
    flock "${lock_fd}"
    for image in "${missing[@]}"; do
      [[ ! -f $(tarball "${image}") ]] || continue
      start=${SECONDS}
      log "building ${image} ($(image_ref "${image}"))"
      "build_${image}"
      log "built ${image} in $((SECONDS - start))s"
    done
    exec {lock_fd}>&-
  fi
  for image in "${images[@]}"; do
    echo "${image} $(image_ref "${image}") $(tarball "${image}")"
  done
}

main "$@"
