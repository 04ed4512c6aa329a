# Shared by hack/local-up.sh and hack/local-down.sh (sourced, not run): the state directory, the
# components and how to recognize and stop exactly the processes local-up started.
# shellcheck shell=bash

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# LOCAL_UP_DIR: everything of one control plane (pki, kubeconfigs, etcd data, logs, pids, env).
# A relative path is relative to the caller's working directory; the default is in the repository.
LOCAL_UP_DIR=${LOCAL_UP_DIR:-${REPO_ROOT}/_output/local-up}
LOCAL_UP_DIR=$(realpath -m -- "${LOCAL_UP_DIR}")
LOGS_DIR=${LOCAL_UP_DIR}/logs
PIDS_DIR=${LOCAL_UP_DIR}/pids

# The address plan. Every address of a local plane is in 198.18.0.0/15 (RFC 2544's benchmarking
# range, never routed beyond this machine), none in 10/8, 172.16/12 or 192.168/16:
#   198.19.0.0/16     the Service CIDR (kube-apiserver --service-cluster-ip-range), both modes
#   198.18.0.0/17     pods of a real node (LOCAL_UP_NODE=real): plane slot k has 198.18.k.0/24
#   198.18.128.0/18   pods of the kwok nodes (kwok's fake pod IPs, never routed)
#   198.18.240.0/22   InternalIPs of the kwok nodes (fake), 198.18.243.254 kwok's fallback
#   198.18.244.1      kwok mode: kube-apiserver's advertise address (nothing listens there)
#   198.18.255.0/24   real mode: the veth /30 between the host and a plane's network namespace
#                     (slot k: the host .4k+1, the node .4k+2)
# shellcheck disable=SC2034 # (the scripts that source this file use them)
{
  PLANE_SERVICE_CIDR=198.19.0.0/16
  KWOK_ADVERTISE_ADDRESS=198.18.244.1
  KWOK_FALLBACK_NODE_IP=198.18.243.254
}
# kwok_node_ip <i>: the InternalIP of fake node i (0 <= i < 1000).
kwok_node_ip() { echo "198.18.$((240 + $1 / 250)).$(($1 % 250 + 1))"; }

# The components in start order. local-down stops them in three phases (clients, kube-apiserver,
# the etcds), each phase at once. local-up never starts easyservice-apiserver-2: it is the second
# replica test/e2e starts for a rolling restart (the same binary and command line on another port)
# and stops again; it is listed so that local-down stops it should such a test die half way.
# containerd, kubelet and kube-proxy are a real node's (LOCAL_UP_NODE=real): hack/local/real-node.sh
# stops those planes in an order of its own.
COMPONENTS=(etcd easyservice-etcd kube-apiserver kube-controller-manager kube-scheduler kwok easyservice-apiserver
  easyservice-apiserver-2 containerd kubelet kube-proxy)
STOP_PHASES=("kwok kube-scheduler kube-controller-manager easyservice-apiserver easyservice-apiserver-2" "kube-apiserver"
  "easyservice-etcd etcd")
# Seconds between SIGTERM and SIGKILL. easyservice-apiserver runs with the install's
# --shutdown-delay-duration (10 s) and stops in about 11 s.
STOP_TIMEOUT=${STOP_TIMEOUT:-30}

pid_file() { echo "${PIDS_DIR}/$1.pid"; }
log_file() { echo "${LOGS_DIR}/$1.log"; }

# pid_alive <pid>: the process exists and is not a zombie. (Builtins only: it runs in loops.)
pid_alive() {
  local key value
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  while read -r key value _; do
    if [[ ${key} == State: ]]; then
      # (An explicit status: a bare return in a function an EXIT trap calls, as local-up's cleanup
      # after a failure does, returns the status of the command before the trap, not of this test.)
      if [[ ${value} != Z && ${value} != X ]]; then return 0; fi
      return 1
    fi
  done 2>/dev/null <"/proc/$1/status" || return 1
  return 1
}

# pid_is_component <pid> <component>: the process is alive, runs the component's binary and its
# command line has the component's marker, a --flag=<path in LOCAL_UP_DIR> that local-up gives it
# (so never some other process that reused the pid, nor the same component of another
# LOCAL_UP_DIR).
pid_is_component() {
  local pid=$1 component=$2 args=() bin marker
  [[ ${pid} =~ ^[0-9]+$ ]] || return 1
  { mapfile -d '' -t args <"/proc/${pid}/cmdline"; } 2>/dev/null || return 1
  # (A zombie has an empty command line.)
  ((${#args[@]} > 0)) || return 1
  case ${component} in
    etcd) bin=etcd marker="=${LOCAL_UP_DIR}/etcd/kube " ;;
    easyservice-etcd) bin=etcd marker="=${LOCAL_UP_DIR}/etcd/easyservice " ;;
    easyservice-apiserver-2) bin=easyservice-apiserver marker="=${LOCAL_UP_DIR}/" ;;
    *) bin=${component} marker="=${LOCAL_UP_DIR}/" ;;
  esac
  [[ ${args[0]##*/} == "${bin}" && " ${args[*]} " == *"${marker}"* ]] || return 1
  pid_alive "${pid}"
}

# component_pid <component>: prints the pid from the pid file if that process is the component.
component_pid() {
  local f pid
  f=$(pid_file "$1")
  [[ -f ${f} ]] || return 1
  pid=$(<"${f}")
  pid_is_component "${pid}" "$1" || return 1
  echo "${pid}"
}

# running_components: prints "<component>=<pid>" for each live component of LOCAL_UP_DIR.
running_components() {
  local c pid
  for c in "${COMPONENTS[@]}"; do
    if pid=$(component_pid "${c}"); then echo "${c}=${pid}"; fi
  done
}

# stop_components <component...>: SIGTERM the live ones at once, wait up to STOP_TIMEOUT seconds,
# SIGKILL what is left, and remove the pid files of all of them.
stop_components() {
  local c pid names=() pids=() deadline i left start=${SECONDS}
  for c in "$@"; do
    if pid=$(component_pid "${c}"); then
      echo "    stopping ${c} (pid ${pid})"
      kill -TERM "${pid}" 2>/dev/null || true
      names+=("${c}")
      pids+=("${pid}")
    fi
  done
  deadline=$((SECONDS + STOP_TIMEOUT))
  while ((${#pids[@]} > 0)); do
    left=0
    for i in "${!pids[@]}"; do
      if pid_is_component "${pids[i]}" "${names[i]}"; then left=1; fi
    done
    ((left)) || break
    if ((SECONDS >= deadline)); then
      for i in "${!pids[@]}"; do
        if pid_is_component "${pids[i]}" "${names[i]}"; then
          echo "    ${names[i]} (pid ${pids[i]}) still running after ${STOP_TIMEOUT}s: SIGKILL" >&2
          kill -KILL "${pids[i]}" 2>/dev/null || true
        fi
      done
      sleep 0.2
      break
    fi
    sleep 0.1
  done
  for c in "$@"; do rm -f "$(pid_file "${c}")"; done
  if ((${#names[@]} > 0)); then echo "    stopped ${names[*]} in $((SECONDS - start))s"; fi
}

# stop_all: stop every component of LOCAL_UP_DIR, clients first, the etcds last.
stop_all() {
  local phase components
  for phase in "${STOP_PHASES[@]}"; do
    read -ra components <<<"${phase}" # a phase is a space-separated list of component names
    stop_components "${components[@]}"
  done
}

# untracked_components: prints "<component>=<pid>" for live processes that look like a component
# of LOCAL_UP_DIR (binary and command line) but are not in its pid files; for a warning only.
untracked_components() {
  local d pid c tracked
  tracked=" $(running_components | sed 's/.*=//' | paste -sd ' ') "
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    [[ ${tracked} != *" ${pid} "* ]] || continue
    for c in "${COMPONENTS[@]}"; do
      if pid_is_component "${pid}" "${c}" 2>/dev/null; then
        echo "${c}=${pid}"
        break
      fi
    done
  done
}
