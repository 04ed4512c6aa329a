#!/usr/bin/env bash
# The host state a real-node local plane (LOCAL_UP_NODE=real) could leave behind, and a check that
# it left none. `LOCAL_UP_NODE=real hack/local-up.sh` takes a snapshot before it changes anything;
# hack/local-down.sh checks against it when it is done, and so can a test after local-down.
#
# Usage:
#   hack/local/host-state.sh snapshot <file>          write the host's state to <file>
#   hack/local/host-state.sh check <file> [--strict]  compare the host with <file>
#
# What is compared: network interfaces (bridges, veths), IPv4 addresses and routes, network
# namespaces (the namespaces of all processes; bind-mounted ones show as nsfs mounts), mounts,
# cgroups (every directory of every hierarchy), iptables and ip6tables chains of the host's tables
# (nft and legacy), the global sysctls a kubelet or kube-proxy may set, and the host directories a
# node's containerd, CNI plugins or kubelet create (/var/lib/cni, /run/containerd, /var/log/containers,
# ...). Processes are not snapshotted: check looks for live processes of the plane instead (a
# command line naming LOCAL_UP_DIR, a cgroup of the plane).
#
# check prints what is new since the snapshot (and sysctls whose value changed), each marked:
#   ours      of this plane: named after its id or LOCAL_UP_DIR, in its cgroups or namespace, or of a
#             kind only a Kubernetes node makes (KUBE-*/CNI-* chains, a veth or bridge, a changed
#             sysctl, a node's host directory);
#   other     of another local plane that is running (its own LOCAL_UP_DIR, its own id);
#   unknown   something else that changed on this shared machine meanwhile.
# It exits 1 if anything is "ours" (or, with --strict, "unknown"), else 0. What went away since
# the snapshot is not reported: a plane never removes what it did not make.
#
# LOCAL_UP_DIR (default _output/local-up) is the plane "ours" means.
set -o errexit -o nounset -o pipefail

# shellcheck source=hack/local/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=hack/local/real-node.sh
source "$(dirname "${BASH_SOURCE[0]}")/real-node.sh"

# The global (not per network namespace) sysctls, and the host namespace's own, that a node's
# kubelet, kube-proxy or CNI plugins set.
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
  kernel.keys.root_maxbytes net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_tcp_timeout_established
  net.netfilter.nf_conntrack_tcp_timeout_close_wait net.ipv4.ip_forward net.ipv4.conf.all.route_localnet
  net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables)
# Host directories a node's containerd, CNI plugins and kubelet use by default.
NODE_HOST_DIRS=(/var/lib/cni /run/containerd /var/log/containers /var/log/pods /var/lib/kubelet
  /var/lib/containerd /etc/cni /opt/cni /opt/containerd /run/netns /etc/kubernetes)

usage() {
  echo "usage: $0 snapshot <file> | check <file> [--strict]" >&2
  exit 2
}

die() {
  echo "host-state: error: $*" >&2
  exit 2
}

# state: the host's state, one "<category> <item>" per line, sorted.
state() {
  local m t s v save
  # Interfaces: "link <name> <kind>" (the kind is the word after the second '\' of ip -o -d).
  # shellcheck disable=SC1003 # the field separator is a backslash, not an escaped quote
  ip -o -d link show | awk -F'\\\\' '{ split($1, a, ": "); name = a[2]; sub(/@.*/, "", name)
    kind = "device"; if (NF >= 3) { split($3, k, " "); if (k[1] ~ /^[a-z0-9_]+$/) kind = k[1] }
    print "link " name " " kind }'
  ip -4 -o addr show | awk '{ print "addr " $2 " " $4 }'
  ip -4 route show table all | sed 's/^/route /'
  # The network namespace of every process (one find: a fork per process is slow on a busy machine).
  find /proc -mindepth 3 -maxdepth 3 -path '/proc/[0-9]*/ns/net' -printf 'netns %l\n' 2>/dev/null || true
  awk '{ for (i = 7; i <= NF; i++) if ($i == "-") break; print "mount " $5 " " $(i + 1) }' /proc/self/mountinfo
  while read -r m; do
    find "${m}" -mindepth 1 -type d 2>/dev/null | sed "s|^${m}|cgroup ${m##*/}:|"
  done < <(cgroup_mounts)
  for save in iptables-save ip6tables-save iptables-legacy-save ip6tables-legacy-save; do
    command -v "${save}" >/dev/null || continue
    "${save}" 2>/dev/null | awk -v s="${save}" '/^\*/ { t = substr($0, 2) } /^:/ { print "chain " s " " t " " substr($1, 2) }'
  done
  if command -v nft >/dev/null; then nft list tables 2>/dev/null | sed 's/^table /nfttable /'; fi
  for s in "${SYSCTLS[@]}"; do
    if [[ -r /proc/sys/${s//.//} ]]; then
      read -r v <"/proc/sys/${s//.//}"
      echo "sysctl ${s}=${v}"
    fi
  done
  for t in "${NODE_HOST_DIRS[@]}"; do
    if [[ -e ${t} ]]; then
      # A symlink as "<link> -> <target>" (the kubelet's container log links point into the plane).
      find "${t}" -maxdepth 3 -printf 'path %p -> %l\n' 2>/dev/null | sed 's/ -> $//' || true
    fi
  done
}

normalize() { LC_ALL=C sort -u; }

# other_plane <item>: the item belongs to another local plane: it carries another plane's id, or a
# path in it is under a directory holding a node/plane.env other than ours.
other_plane() {
  local item=$1 p
  if [[ ${item} =~ (easyservice|esbr|es)-([0-9a-f]{8}) ]]; then
    [[ ${BASH_REMATCH[2]} != "${PLANE_ID}" ]]
    return $?
  fi
  for p in ${item}; do
    [[ ${p} == /* ]] || continue
    while [[ -n ${p} ]]; do
      if [[ ${p} != "${LOCAL_UP_DIR}" && -f ${p}/node/plane.env ]]; then return 0; fi
      p=${p%/*}
    done
  done
  return 1
}

# OURS_SHIM_SOCKETS, OURS_SANDBOXES: this plane's containerd shim sockets (/run/containerd/s/<sha256
# of containerd's socket/namespace/id>) and pod sandbox ids, from its containerd's state, which
# local-down leaves in place. OTHER_NODES: another real plane's kubelet or containerd runs.
OURS_SHIM_SOCKETS=" "
OURS_SANDBOXES=" "
OTHER_NODES=0
find_node_marks() {
  local d sum
  for d in "${NODE_DIR}"/containerd/state/io.containerd.runtime.v2.task/*/*; do
    [[ -d ${d} ]] || continue
    sum=$(printf '%s' "${CONTAINERD_SOCKET}/$(basename "$(dirname "${d}")")/${d##*/}" | sha256sum)
    OURS_SHIM_SOCKETS+="/run/containerd/s/${sum%% *} "
  done
  for d in "${NODE_DIR}"/containerd/root/io.containerd.grpc.v1.cri/sandboxes/*; do
    if [[ -d ${d} ]]; then OURS_SANDBOXES+="${d##*/} "; fi
  done
  if other_nodes_running; then OTHER_NODES=1; fi
}

# classify_path <path item>: a new file or directory in one of a node's host directories.
classify_path() {
  local path=${1%% -> *} base
  base=${path##*/}
  case ${path} in
    /run/containerd/s/*)
      if [[ ${OURS_SHIM_SOCKETS} == *" ${path} "* ]]; then echo ours; elif ((OTHER_NODES)); then echo other; else echo unknown; fi
      return 0
      ;;
    /var/lib/cni/results/*)
      base=${base#cni-loopback-}
      if [[ ${OURS_SANDBOXES} == *" ${base%-*} "* ]]; then echo ours; elif ((OTHER_NODES)); then echo other; else echo unknown; fi
      return 0
      ;;
    /var/lib/kubelet/device-plugins/*)
      # The kubelet's socket and checkpoint have this fixed path, whichever plane's kubelet it is.
      if ((OTHER_NODES)); then echo other; else echo ours; fi
      return 0
      ;;
  esac
  # A directory that another plane's node still uses (its entries are listed on their own).
  if [[ -d ${path} && ! -L ${path} ]] && ((OTHER_NODES)) && [[ -n $(ls -A "${path}" 2>/dev/null) ]]; then
    echo other
    return 0
  fi
  echo ours
}

# classify_netns <net:[inode]>: by the processes in the namespace (their cgroups, their command
# lines), or by the nsfs mount that holds it.
classify_netns() {
  local ns=$1 f pid kinds=" "
  while read -r f; do
    pid=${f#/proc/}
    pid=${pid%%/*}
    if grep -qs ":/${CGROUP_NAME}\(/\|$\)" "/proc/${pid}/cgroup" || grep -qsaF -- "${LOCAL_UP_DIR}/" "/proc/${pid}/cmdline"; then
      kinds+="ours "
    elif grep -qsE ':/easyservice-[0-9a-f]{8}(/|$)' "/proc/${pid}/cgroup"; then
      kinds+="other "
    fi
  done < <(find /proc -mindepth 3 -maxdepth 3 -path '/proc/[0-9]*/ns/net' -lname "${ns}" 2>/dev/null)
  while read -r f; do
    if [[ ${f} == "${LOCAL_UP_DIR}"/* ]]; then kinds+="ours "; elif other_plane "${f}"; then kinds+="other "; fi
  done < <(awk -v ns="${ns}" '$4 == ns { print $5 }' /proc/self/mountinfo)
  if [[ ${kinds} == *" ours "* ]]; then echo ours; elif [[ ${kinds} == *" other "* ]]; then echo other; else echo unknown; fi
}

# classify <line>: ours, other or unknown.
classify() {
  local line=$1 category rest
  category=${line%% *}
  rest=${line#* }
  if [[ ${line} == *"${PLANE_ID}"* || ${line} == *"${LOCAL_UP_DIR}"* ]]; then
    echo ours
    return 0
  fi
  if other_plane "${rest}"; then
    echo other
    return 0
  fi
  case ${category} in
    sysctl) echo ours ;;
    path) classify_path "${rest}" ;;
    netns) classify_netns "${rest}" ;;
    link) if [[ ${rest} == *" veth" || ${rest} == *" bridge" ]]; then echo ours; else echo unknown; fi ;;
    chain) if [[ ${rest##* } == KUBE-* || ${rest##* } == CNI-* ]]; then echo ours; else echo unknown; fi ;;
    route | addr) if [[ ${rest} == *198.18.* ]]; then echo ours; else echo unknown; fi ;;
    *) echo unknown ;;
  esac
}

# plane_processes: live processes of this plane: a command line naming LOCAL_UP_DIR, or a cgroup of
# the plane.
plane_processes() {
  local f pid cmd self ancestors=" " p=$$
  # Not this check (its subshells have its command line, which names the snapshot), nor its callers.
  self=$(tr '\0' ' ' <"/proc/$$/cmdline")
  while [[ ${p} =~ ^[0-9]+$ ]] && ((p > 1)); do
    ancestors+="${p} "
    p=$(awk '$1 == "PPid:" { print $2 }' "/proc/${p}/status" 2>/dev/null)
  done
  while read -r f; do
    pid=${f#/proc/}
    pid=${pid%%/*}
    [[ ${ancestors} != *" ${pid} "* ]] || continue
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/${pid}/cmdline") || continue
    [[ -n ${cmd} && ${cmd} != "${self}" ]] || continue
    echo "process ${pid} ${cmd:0:160}"
  done < <({
    grep -lsaF -- "${LOCAL_UP_DIR}/" /proc/[0-9]*/cmdline
    grep -ls -- ":/${CGROUP_NAME}\(/\|$\)" /proc/[0-9]*/cgroup
  } | sort -u)
}

snapshot() {
  local file=$1
  mkdir -p "$(dirname "${file}")"
  state | normalize >"${file}.tmp"
  mv "${file}.tmp" "${file}"
}

check() {
  local file=$1 strict=$2 line kind ours=0 unknown=0 other=0 now
  [[ -f ${file} ]] || die "no snapshot ${file}"
  if [[ -f ${PLANE_FILE} ]]; then
    # shellcheck source=/dev/null # the plane file is written at run time by local-up
    source "${PLANE_FILE}"
  fi
  find_node_marks
  now=$(mktemp)
  state | normalize >"${now}"
  while read -r line; do
    [[ -n ${line} ]] || continue
    kind=$(classify "${line}")
    case ${kind} in
      ours) ours=$((ours + 1)) ;;
      other) other=$((other + 1)) ;;
      unknown) unknown=$((unknown + 1)) ;;
    esac
    printf '  %-7s %s\n' "${kind}" "${line}"
  done < <(LC_ALL=C comm -13 "${file}" "${now}")
  rm -f "${now}"
  while read -r line; do
    [[ -n ${line} ]] || continue
    ours=$((ours + 1))
    printf '  %-7s %s\n' ours "${line}"
  done < <(plane_processes)
  if ((ours > 0 || (strict && unknown > 0))); then
    echo "host-state: NOT clean: ${ours} item(s) of this plane left (LOCAL_UP_DIR=${LOCAL_UP_DIR}), ${unknown} unknown, ${other} of other planes (compared with ${file})" >&2
    return 1
  fi
  echo "host-state: clean: nothing of this plane is left (${unknown} unknown and ${other} other planes' change(s) since ${file})"
}

main() {
  local strict=0
  (($# >= 2)) || usage
  case $1 in
    snapshot)
      (($# == 2)) || usage
      snapshot "$2"
      ;;
    check)
      if (($# == 3)); then
        [[ $3 == --strict ]] || usage
        strict=1
      fi
      (($# <= 3)) || usage
      check "$2" "${strict}"
      ;;
    *) usage ;;
  esac
}

main "$@"
