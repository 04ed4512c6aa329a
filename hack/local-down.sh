#!/usr/bin/env bash
# Stops the local control plane hack/local-up.sh started in LOCAL_UP_DIR (default _output/local-up):
# exactly the processes of its pid files, each only if it is alive and still runs the expected
# binary with this LOCAL_UP_DIR on its command line. SIGTERM first (clients, then kube-apiserver,
# then the etcds), SIGKILL after STOP_TIMEOUT seconds (default 30). Removes the pid files; keeps the
# logs, the PKI and everything else. Running it when nothing runs is fine.
#
# A real-node plane (LOCAL_UP_NODE=real; local-down knows it by LOCAL_UP_DIR/node/plane.env) is
# taken down whole, so that the host is as local-up found it: the pods first, through the CRI, then
# the node's daemons and the control plane, then whatever is left in the plane's cgroups; every
# mount under LOCAL_UP_DIR (containers, volumes, the pods' and the plane's network namespaces) is
# unmounted, the network namespace deleted with its veth, bridge and iptables chains, the cgroups
# removed and the sysctls the kubelet set restored. Then hack/local/host-state.sh checks the host
# against local-up's snapshot: local-down exits 1 if anything of the plane is left. Needs root.
set -o errexit -o nounset -o pipefail

# shellcheck source=hack/local/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/local/common.sh"
# shellcheck source=hack/local/real-node.sh
source "$(dirname "${BASH_SOURCE[0]}")/local/real-node.sh"

# warn_untracked: processes of this LOCAL_UP_DIR without a pid file are reported, not stopped.
warn_untracked() {
  local untracked
  untracked=$(untracked_components | paste -sd ' ')
  if [[ -n ${untracked} ]]; then
    echo "local-down: warning: running with this LOCAL_UP_DIR but not in its pid files (left alone): ${untracked}" >&2
  fi
}

start=${SECONDS}
if [[ -f ${PLANE_FILE} ]]; then
  ((EUID == 0)) || {
    echo "local-down: ${LOCAL_UP_DIR} holds a real-node plane (LOCAL_UP_NODE=real): taking it down needs root" >&2
    exit 1
  }
  echo "local-down: taking down the real-node plane in ${LOCAL_UP_DIR}"
  real_down || exit 1
  echo "local-down: stopped and cleaned up in $((SECONDS - start))s; logs in ${LOGS_DIR}/"
  exit 0
fi
if [[ ! -d ${PIDS_DIR} ]] || [[ -z $(running_components) ]]; then
  echo "local-down: nothing running in ${LOCAL_UP_DIR}"
  rm -f "${PIDS_DIR}"/*.pid 2>/dev/null || true
  warn_untracked
  exit 0
fi
echo "local-down: stopping the control plane in ${LOCAL_UP_DIR}"
stop_all
left=$(running_components | paste -sd ' ')
if [[ -n ${left} ]]; then
  echo "local-down: still running: ${left}" >&2
  exit 1
fi
warn_untracked
echo "local-down: stopped in $((SECONDS - start))s; logs in ${LOGS_DIR}/"
