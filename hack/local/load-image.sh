#!/usr/bin/env bash
# Loads container images into the containerd of a real-node local plane (LOCAL_UP_NODE=real
# hack/local-up.sh), where the kubelet finds them: no registry is reachable, so an image a pod runs
# (e.g. easyservice-apiserver's, for make deploy) must be there before, under the name the pod
# uses, and the pod must not ask to pull it (imagePullPolicy IfNotPresent or Never).
#
# Usage:
#   hack/local/load-image.sh <image or tarball>...
#
# An argument naming an existing file is a `docker save` (or OCI) tarball, imported as it is.
# Anything else is an image of the Docker engine: `docker save <image> | ctr import`. The engine is
# the caller's (DOCKER_HOST, DOCKER) or hack/docker.sh's private one, started for the save if it
# does not run (hack/docker.sh run). Images are named as docker names them: easyservice/x:v1 is
# docker.io/easyservice/x:v1 in containerd, which is what the kubelet looks up for easyservice/x:v1.
#
# LOCAL_UP_DIR (default _output/local-up) is the plane. Needs root (containerd's socket).
set -o errexit -o nounset -o pipefail

# shellcheck source=hack/local/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=hack/local/real-node.sh
source "$(dirname "${BASH_SOURCE[0]}")/real-node.sh"

die() {
  echo "load-image: error: $*" >&2
  exit 1
}

(($# > 0)) || die "usage: $0 <image or tarball>..."
[[ -f ${PLANE_FILE} && -S ${CONTAINERD_SOCKET} ]] ||
  die "no real-node plane runs in ${LOCAL_UP_DIR} (start one: LOCAL_UP_NODE=real make local-up; set LOCAL_UP_DIR for another)"
[[ -w ${CONTAINERD_SOCKET} ]] || die "cannot write to containerd's socket ${CONTAINERD_SOCKET}: run as root"

ctr_import() { ctr --address "${CONTAINERD_SOCKET}" --namespace k8s.io images import "$@"; }

for image in "$@"; do
  start=${SECONDS}
  if [[ -f ${image} ]]; then
    ctr_import "${image}"
  elif [[ ${image} == /* || ${image} == ./* || ${image} == *.tar ]]; then
    die "${image}: no such file"
  else
    # docker save writes to the pipe; ctr reads the archive from its standard input.
    # shellcheck disable=SC2016 # $DOCKER is expanded by the shell hack/docker.sh runs
    "${REPO_ROOT}/hack/docker.sh" run bash -c '"${DOCKER:-docker}" save "$1"' _ "${image}" | ctr_import -
  fi
  echo "load-image: ${image} loaded into ${CONTAINERD_SOCKET} in $((SECONDS - start))s"
done
