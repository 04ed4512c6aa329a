# A real node for the local plane (LOCAL_UP_NODE=real): what hack/local-up.sh sets up and
# hack/local-down.sh takes down again. Sourced after hack/local/common.sh, not run.
# shellcheck shell=bash
# shellcheck disable=SC2034 # (variables of the scripts that source this file)
#
# Everything of a real-mode plane runs in a network namespace the plane creates, bind-mounted on
# NODE_DIR/netns (processes enter it with `nsenter --net`, which keeps them in the host's mount
# namespace: the kubelet's volume mounts must be visible to containerd). The host reaches it over a
# veth pair, a /30 of 198.18.255.0/24 (slot k: host .4k+1, node .4k+2); the namespace's end is the
# node IP. The CNI bridge, the pods' veths, kube-proxy's iptables chains and the plane's routes live
# and die with that namespace. Every process local-up starts runs in the cgroup
# /easyservice-<id>/plane of every hierarchy; the kubelet's cgroupRoot is /easyservice-<id>, so the
# pods' cgroups are there too: local-down finds every straggler there and removes every cgroup the
# plane made.

NODE_DIR=${LOCAL_UP_DIR}/node
# Written by local-up before it changes anything on the host: the plane's identity and addresses
# (sourced by local-down and hack/local/host-state.sh). Removed by a local-down that left the host
# clean.
PLANE_FILE=${NODE_DIR}/plane.env
# The host as it was before local-up (hack/local/host-state.sh snapshot).
HOST_SNAPSHOT=${LOCAL_UP_DIR}/host-state.before
# The plane's id: the names of what it makes in the host (a veth, a cgroup) carry it, so that two
# planes (LOCAL_UP_DIRs) never share one and a leftover is known by its name.
PLANE_ID=$(printf '%s' "${LOCAL_UP_DIR}" | sha256sum)
PLANE_ID=${PLANE_ID:0:8}
NETNS_FILE=${NODE_DIR}/netns
HOST_VETH=es-${PLANE_ID}
NODE_VETH=eth0
CNI_NETWORK=es-${PLANE_ID}
CNI_BRIDGE=esbr-${PLANE_ID}
CGROUP_NAME=easyservice-${PLANE_ID}
# Every process local-up starts; the kubelet's cgroupRoot is /${CGROUP_NAME}.
PLANE_CGROUP=${CGROUP_NAME}/plane
CONTAINERD_SOCKET=${NODE_DIR}/containerd/containerd.sock
NODE_NAME=easyservice-node
# kube-dns's ClusterIP in PLANE_SERVICE_CIDR.
CLUSTER_DNS=198.19.0.10
CNI_BIN_DIR=/usr/lib/cni
# The global sysctls the kubelet sets when it starts (kubelet's setupKernelTunables, with
# protectKernelDefaults false): name=the kubelet's value. local-up puts back the host's values as
# soon as the kubelet has set them; local-down does so too if local-up died in between.
KUBELET_SYSCTLS=(vm.overcommit_memory=1 vm.panic_on_oom=0 kernel.panic=10 kernel.panic_on_oops=1
  kernel.keys.root_maxkeys=1000000 kernel.keys.root_maxbytes=25000000)
SYSCTL_SAVED=${NODE_DIR}/sysctl.saved
# Directories of the host that containerd, the CNI plugins or the kubelet create wherever their
# configuration points (libcni's result cache, the runc v2 shims' sockets, the kubelet's container
# log symlinks, its device plugin socket). Each local-up adds those that do not exist yet to
# HOST_DIRS_FILE; the last real plane to go down removes them again (deepest first), so that two
# planes side by side leave the host as the first found it.
HOST_DIRS=(/var/lib/cni/results /var/lib/cni /run/containerd/s /run/containerd /var/log/containers
  /var/lib/kubelet/device-plugins /var/lib/kubelet)
# A lock of the whole host, for what two real planes must not do at once: choose a slot; set and
# restore the kubelet's sysctls.
HOST_LOCK=${EASYSERVICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/easyservice}/local-up-real.lock
HOST_DIRS_FILE=${HOST_LOCK%.lock}.host-dirs

# in_netns <command...>: run a command in the plane's network namespace.
in_netns() { nsenter --net="${NETNS_FILE}" -- "$@"; }

# with_host_lock <command...>: run a command holding HOST_LOCK.
with_host_lock() {
  local fd rc=0
  mkdir -p "$(dirname "${HOST_LOCK}")"
  exec {fd}>"${HOST_LOCK}"
  flock "${fd}"
  "$@" || rc=$?
  exec {fd}>&-
  return "${rc}"
}

read_sysctl() { cat "/proc/sys/${1//.//}"; }
write_sysctl() { echo "$2" >"/proc/sys/${1//.//}"; }

# ---------------------------------------------------------------------------------------------
# cgroups
# ---------------------------------------------------------------------------------------------
# cgroup_mounts: the mount points of the cgroup hierarchies (v1 and v2), one per line.
cgroup_mounts() {
  awk '{ for (i = 7; i <= NF; i++) if ($i == "-") break
         if ($(i + 1) == "cgroup" || $(i + 1) == "cgroup2") print $5 }' /proc/self/mountinfo | sort -u
}

# cgroup_create: /CGROUP_NAME and /PLANE_CGROUP in every hierarchy. A v1 cpuset cgroup starts with
# no CPUs and no memory nodes, and refuses tasks until given its parent's.
cgroup_create() {
  local m d f
  while read -r m; do
    for d in "${m}/${CGROUP_NAME}" "${m}/${PLANE_CGROUP}"; do
      [[ -d ${d} ]] || mkdir "${d}"
      for f in cpuset.cpus cpuset.mems; do
        if [[ -f ${d}/${f} && -z $(<"${d}/${f}") ]]; then cat "$(dirname "${d}")/${f}" >"${d}/${f}"; fi
      done
    done
  done < <(cgroup_mounts)
}

# plane_cgroup_procs: the cgroup.procs files a process writes its pid to, to join PLANE_CGROUP.
plane_cgroup_procs() {
  local m
  while read -r m; do echo "${m}/${PLANE_CGROUP}/cgroup.procs"; done < <(cgroup_mounts)
}

# cgroup_pids: every process in a cgroup of the plane, in any hierarchy, one per line.
cgroup_pids() {
  local m
  while read -r m; do
    if [[ -d ${m}/${CGROUP_NAME} ]]; then
      find "${m}/${CGROUP_NAME}" -name cgroup.procs -exec cat {} + 2>/dev/null
    fi
  done < <(cgroup_mounts) | sort -un
}

# cgroup_kill: SIGKILL every process left in the plane's cgroups until none is left (10 s at most).
cgroup_kill() {
  local pids i
  for ((i = 0; i < 100; i++)); do
    mapfile -t pids < <(cgroup_pids)
    ((${#pids[@]} > 0)) || return 0
    if ((i == 0)); then echo "    killing what is left in the plane's cgroups: $(pid_names "${pids[@]}")"; fi
    kill -KILL "${pids[@]}" 2>/dev/null || true
    sleep 0.1
  done
  echo "    still in the plane's cgroups after 10 s: $(pid_names "${pids[@]}")" >&2
  return 1
}

# pid_names <pid...>: "name(pid) ..." for a message.
pid_names() {
  local p out=()
  for p in "$@"; do out+=("$(cat "/proc/${p}/comm" 2>/dev/null || echo '?')(${p})"); done
  echo "${out[*]}"
}

# cgroup_remove: remove the plane's cgroups, deepest first, in every hierarchy.
cgroup_remove() {
  local m rc=0
  while read -r m; do
    if [[ -d ${m}/${CGROUP_NAME} ]]; then
      find "${m}/${CGROUP_NAME}" -depth -type d -exec rmdir {} + || rc=1
    fi
  done < <(cgroup_mounts)
  return "${rc}"
}

# ---------------------------------------------------------------------------------------------
# Network namespace and veth
# ---------------------------------------------------------------------------------------------
# choose_slot: the first /30 of 198.18.255.0/24 whose host address no interface has (another
# plane's), and whose pod /24 the host has no route to. Sets SLOT, HOST_IP, NODE_IP, POD_CIDR.
choose_slot() {
  local k addrs routes
  addrs=" $(ip -4 -o addr show | awk '{ print $4 }' | paste -sd ' ') "
  routes=" $(ip -4 route show | awk '{ print $1 }' | paste -sd ' ') "
  for ((k = 0; k < 64; k++)); do
    [[ ${addrs} != *" 198.18.255.$((4 * k + 1))/"* ]] || continue
    [[ ${routes} != *" 198.18.${k}.0/24 "* ]] || continue
    SLOT=${k}
    HOST_IP=198.18.255.$((4 * k + 1))
    NODE_IP=198.18.255.$((4 * k + 2))
    POD_CIDR=198.18.${k}.0/24
    return 0
  done
  die "no free slot in 198.18.255.0/24: 64 real planes run? (ip -4 addr show)"
}

# netns_create: the network namespace, the veth pair (host end HOST_VETH with HOST_IP, namespace end
# NODE_VETH with NODE_IP), the host's route to the pods, and the namespace's forwarding (from the
# veth to the pods' bridge; a namespaced sysctl, the host's stays as it is).
netns_create() {
  mkdir -p "${NODE_DIR}"
  : >"${NETNS_FILE}"
  unshare --net="${NETNS_FILE}" true
  in_netns ip link set lo up
  # Made inside the namespace, the peer moved to this script's (the host's) namespace.
  in_netns ip link add "${NODE_VETH}" type veth peer name "${HOST_VETH}" netns "$$"
  ip addr add "${HOST_IP}/30" dev "${HOST_VETH}"
  ip link set "${HOST_VETH}" up
  in_netns ip addr add "${NODE_IP}/30" dev "${NODE_VETH}"
  in_netns ip link set "${NODE_VETH}" up
  ip route add "${POD_CIDR}" via "${NODE_IP}" dev "${HOST_VETH}"
  in_netns sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward && echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables'
  echo "    network namespace ${NETNS_FILE}; veth ${HOST_VETH} ${HOST_IP}/30 (host) <-> ${NODE_VETH} ${NODE_IP}/30 (node); pods ${POD_CIDR}"
}

# setup_network: under the host lock (two planes must not choose the same slot): a slot, the plane
# file, the namespace.
setup_network() {
  choose_slot
  record_host_dirs
  write_plane_file
  netns_create
}

# record_host_dirs: add the HOST_DIRS that do not exist to HOST_DIRS_FILE (under the host lock).
record_host_dirs() {
  local d
  for d in "${HOST_DIRS[@]}"; do
    if [[ ! -e ${d} ]]; then echo "${d}"; fi
  done >>"${HOST_DIRS_FILE}"
}

# other_nodes_running: the kubelet or containerd of another real plane (another LOCAL_UP_DIR) runs.
other_nodes_running() {
  local others
  others=$(grep -laE -- '--config=.*/node/(kubelet\.yaml|containerd/config\.toml)' /proc/[0-9]*/cmdline 2>/dev/null |
    xargs -r grep -LaF -- "${LOCAL_UP_DIR}/" 2>/dev/null || true)
  [[ -n ${others} ]]
}

# write_plane_file: PLANE_FILE, with what local-down and host-state.sh need.
write_plane_file() {
  {
    echo "# Written by hack/local-up.sh (LOCAL_UP_NODE=real); read by hack/local-down.sh and hack/local/host-state.sh."
    printf 'PLANE_ID=%q\n' "${PLANE_ID}"
    printf 'SLOT=%q\nHOST_IP=%q\nNODE_IP=%q\nPOD_CIDR=%q\n' "${SLOT}" "${HOST_IP}" "${NODE_IP}" "${POD_CIDR}"
  } >"${PLANE_FILE}.tmp"
  mv "${PLANE_FILE}.tmp" "${PLANE_FILE}"
}

# ---------------------------------------------------------------------------------------------
# The kubelet's sysctls
# ---------------------------------------------------------------------------------------------
save_sysctls() {
  local kv
  for kv in "${KUBELET_SYSCTLS[@]}"; do echo "${kv%%=*}=$(read_sysctl "${kv%%=*}")"; done >"${SYSCTL_SAVED}"
}

# kubelet_set_sysctls: the kubelet has set all its sysctls.
kubelet_set_sysctls() {
  local kv
  for kv in "${KUBELET_SYSCTLS[@]}"; do
    [[ $(read_sysctl "${kv%%=*}") == "${kv#*=}" ]] || return 1
  done
}

# restore_sysctls: put back the values of SYSCTL_SAVED, and remove it.
restore_sysctls() {
  local name value now
  [[ -f ${SYSCTL_SAVED} ]] || return 0
  while IFS='=' read -r name value; do
    now=$(read_sysctl "${name}")
    if [[ ${now} != "${value}" ]]; then
      write_sysctl "${name}" "${value}"
      echo "    sysctl ${name}: ${now} -> ${value} (the host's value again)"
    fi
  done <"${SYSCTL_SAVED}"
  rm -f "${SYSCTL_SAVED}"
}

# ---------------------------------------------------------------------------------------------
# Tear down (local-down, and local-up on failure)
# ---------------------------------------------------------------------------------------------
# mounts_under <dir>: the mount points at or under <dir>, the last mounted first.
mounts_under() {
  awk -v d="$1" '{ mp = $5; gsub(/\\040/, " ", mp); if (mp == d || index(mp, d "/") == 1) print mp }' \
    /proc/self/mountinfo | tac
}

# unmount_all <dir>: unmount everything at or under <dir> (containers' root filesystems and shm,
# the pods' network namespaces, the kubelet's volumes, the plane's network namespace). A busy one
# is detached (lazy) once plain unmounts make no progress.
unmount_all() {
  local dir=$1 mps mp i n=0
  for ((i = 0; i < 10; i++)); do
    mapfile -t mps < <(mounts_under "${dir}")
    ((${#mps[@]} > 0)) || break
    for mp in "${mps[@]}"; do
      if ((i < 5)); then umount "${mp}" 2>/dev/null || continue; else umount -l "${mp}" 2>/dev/null || continue; fi
      n=$((n + 1))
    done
  done
  if ((n > 0)); then echo "    unmounted ${n} mount(s) under ${dir}"; fi
  mapfile -t mps < <(mounts_under "${dir}")
  if ((${#mps[@]} > 0)); then
    echo "    still mounted: ${mps[*]}" >&2
    return 1
  fi
}

# crictl_node <args...>: crictl on the plane's containerd (NODE_DIR/crictl.yaml, written by local-up).
crictl_node() {
  "$("${REPO_ROOT}/hack/install-tools.sh" --print-dir crictl)/crictl" --config "${NODE_DIR}/crictl.yaml" "$@"
}

# crictl_remove_pods: stop and remove every pod sandbox through the CRI, so that containerd tears
# down each pod's network (CNI DEL: IP released, veth and port mappings gone) and mounts.
crictl_remove_pods() {
  local n
  [[ -f ${NODE_DIR}/crictl.yaml && -S ${CONTAINERD_SOCKET} ]] || return 0
  pid_is_component "$(cat "$(pid_file containerd)" 2>/dev/null)" containerd || return 0
  n=$(crictl_node pods -q 2>/dev/null | wc -l)
  ((n > 0)) || return 0
  echo "    removing ${n} pod(s) through the CRI (crictl rmp --all --force)"
  crictl_node --timeout 60s rmp --all --force >/dev/null ||
    echo "    crictl rmp failed; what is left is killed below" >&2
}

# remove_host_dirs: what this plane's node left in the host's directories, and (unless another
# plane's node still runs) the directories of HOST_DIRS_FILE that are empty. Under the host lock.
remove_host_dirs() {
  local d l kept_dirs=()
  if [[ -d /var/log/containers ]]; then
    for l in /var/log/containers/*.log; do
      if [[ -L ${l} && $(readlink "${l}") == "${NODE_DIR}/"* ]]; then rm -f "${l}"; fi
    done
  fi
  # libcni's cache of this plane's networks (containerd's loopback network is "cni-loopback" in
  # every node: those of this plane's pod sandboxes), left behind when a pod was killed rather than
  # removed through the CRI.
  rm -f /var/lib/cni/results/"${CNI_NETWORK}"-* 2>/dev/null || true
  for l in "${NODE_DIR}"/containerd/root/io.containerd.grpc.v1.cri/sandboxes/*; do
    if [[ -d ${l} ]]; then rm -f /var/lib/cni/results/*-"${l##*/}"-* 2>/dev/null || true; fi
  done
  # A shim's socket is /run/containerd/s/<sha256 of containerd's socket/namespace/id>, whatever
  # containerd's configuration; a shim that was killed leaves its socket behind.
  for d in "${NODE_DIR}"/containerd/state/io.containerd.runtime.v2.task/*/*; do
    [[ -d ${d} ]] || continue
    l=$(printf '%s' "${CONTAINERD_SOCKET}/$(basename "$(dirname "${d}")")/${d##*/}" | sha256sum)
    rm -f "/run/containerd/s/${l%% *}"
  done
  other_nodes_running && return 0
  # The kubelet's device plugin socket and checkpoint have a fixed path (not under --root-dir),
  # the same for every plane's kubelet.
  rm -f /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint
  [[ -f ${HOST_DIRS_FILE} ]] || return 0
  # A directory that is not empty (what a plane killed without a local-down left in it) stays in
  # HOST_DIRS_FILE, so that the local-down that finds it empty still knows it for a plane's.
  for d in "${HOST_DIRS[@]}"; do
    if [[ -d ${d} ]] && grep -qxF -- "${d}" "${HOST_DIRS_FILE}"; then
      if ! rmdir "${d}" 2>/dev/null; then
        echo "    left ${d}: not empty" >&2
        kept_dirs+=("${d}")
      fi
    fi
  done
  if ((${#kept_dirs[@]} > 0)); then
    printf '%s\n' "${kept_dirs[@]}" >"${HOST_DIRS_FILE}.tmp"
    mv "${HOST_DIRS_FILE}.tmp" "${HOST_DIRS_FILE}"
  else
    rm -f "${HOST_DIRS_FILE}"
  fi
}

# real_teardown: stop the node and the control plane and leave the host as it was: pods first
# (through the CRI), then the daemons, then whatever is left in the plane's cgroups; unmount
# everything under LOCAL_UP_DIR, delete the network namespace (and with it the veth, the bridge, the
# pods' veths, kube-proxy's chains and the route), remove the cgroups, restore the sysctls and the
# host directories. Returns non-zero if some step left something behind.
real_teardown() {
  local rc=0 i
  if [[ -f ${PLANE_FILE} ]]; then
    # shellcheck source=/dev/null # the plane file is written at run time by local-up
    source "${PLANE_FILE}"
  fi
  stop_components kubelet kube-proxy kube-scheduler kube-controller-manager
  crictl_remove_pods
  stop_components containerd kube-apiserver
  stop_components etcd
  cgroup_kill || rc=1
  unmount_all "${LOCAL_UP_DIR}" || rc=1
  rm -f "${NETNS_FILE}"
  # The kernel frees a namespace (and its end of the veth, and so the host's) shortly after its
  # last user is gone.
  for ((i = 0; i < 50; i++)); do
    ip link show "${HOST_VETH}" >/dev/null 2>&1 || break
    sleep 0.1
  done
  if ip link show "${HOST_VETH}" >/dev/null 2>&1; then
    echo "    the veth ${HOST_VETH} outlived the namespace: deleting it" >&2
    ip link delete "${HOST_VETH}" || rc=1
  fi
  cgroup_remove || rc=1
  restore_sysctls || rc=1
  with_host_lock remove_host_dirs
  return "${rc}"
}

# real_down: real_teardown, then check the host against local-up's snapshot
# (hack/local/host-state.sh). Clean: PLANE_FILE goes, there is nothing left to take down. Not
# clean: it stays, so that a later local-down tries again.
real_down() {
  local rc=0
  real_teardown || rc=1
  if [[ -f ${HOST_SNAPSHOT} ]]; then
    "${REPO_ROOT}/hack/local/host-state.sh" check "${HOST_SNAPSHOT}" || rc=1
  else
    echo "no snapshot of the host (${HOST_SNAPSHOT}): nothing to check against" >&2
    rc=1
  fi
  if ((rc != 0)); then
    echo "the host is NOT as local-up found it (see above); LOCAL_UP_DIR=${LOCAL_UP_DIR} hack/local-down.sh tries again" >&2
    return 1
  fi
  rm -f "${PLANE_FILE}"
}
