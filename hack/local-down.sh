#!/usr/bin/env bash
# Stops the local control plane hack/local-up.sh started in LOCAL_UP_DIR (default _output/local-up):
# exactly the processes of its pid files, each only if it is alive and still runs the expected
# binary with this LOCAL_UP_DIR on its command line. SIGTERM first (clients, then kube-apiserver,
# then the etcds), SIGKILL after STOP_TIMEOUT seconds (default 30). Removes the pid files; keeps the
# logs, the PKI and everything else. Running it when nothing runs is fine.
set -o errexit -o nounset -o pipefail

# shellcheck source=hack/local/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/local/common.sh"

# warn_untracked: processes of this LOCAL_UP_DIR without a pid file are reported, not stopped.
warn_untracked() {
  local untracked
  untracked=$(untracked_components | paste -sd ' ')
  if [[ -n ${untracked} ]]; then
    echo "local-down: warning: running with this LOCAL_UP_DIR but not in its pid files (left alone): ${untracked}" >&2
  fi
}

start=${SECONDS}
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
