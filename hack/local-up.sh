#!/usr/bin/env bash
# Starts a local Kubernetes control plane on 127.0.0.1 with EasyService registered as an aggregated
# API, so that `kubectl get easyservices` works: an etcd for kube-apiserver, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok (fake nodes that run pods), a second etcd for
# EasyService and easyservice-apiserver (from _output/bin, built first), plus the APIServices.
# easyservice-apiserver runs like the in-cluster install (artifacts/deploy) runs it: with the
# Deployment's flags, the certificates of hack/gen-certs, mutual TLS to its etcd, and the install's
# ServiceAccount and RBAC as its identity in the cluster.
# No containers, no root: every process runs on the host, listens on 127.0.0.1 only, and is stopped
# by hack/local-down.sh. `make local-up` / `make local-down` run these scripts.
#
# LOCAL_UP_NODE=real makes a real node instead of kwok's fake ones (root only): in a network
# namespace of its own (hack/local/real-node.sh says how it is wired), etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, containerd (Debian's, with its own configuration, socket,
# root and state), the kubelet, kube-proxy (iptables), CoreDNS and static local PersistentVolumes on
# a default StorageClass. kube-apiserver listens on the node IP, which the host reaches over a veth;
# the kubeconfigs point there. easyservice-apiserver does not run on the host in this mode: install
# it into the node (make image, hack/local/load-image.sh, make deploy). The node's images (pause,
# CoreDNS) come from hack/images.sh. hack/local-down.sh takes all of it down again and checks that
# the host is as local-up found it (hack/local/host-state.sh).
#
# Environment (all optional):
#   LOCAL_UP_NODE        kwok (default) or real (see above)
#   LOCAL_PVS            real mode: the number of static local PersistentVolumes (default 8: the
#                        install's etcd, the etcd-ha overlay's three, and spares)
#   LOCAL_UP_DIR         state directory (default _output/local-up; made absolute)
#   KUBE_APISERVER_PORT  kube-apiserver secure port            (default 6443)
#   ETCD_CLIENT_PORT     kube-apiserver's etcd, client port     (default 2379)
#   ETCD_PEER_PORT       kube-apiserver's etcd, peer port       (default 2380)
#   ES_ETCD_CLIENT_PORT  EasyService's etcd, client port        (default 2381)
#   ES_ETCD_PEER_PORT    EasyService's etcd, peer port          (default 2382)
#   ES_ETCD_TLS_PORT     EasyService's etcd, mutual-TLS client port, the one easyservice-apiserver
#                        uses (default: a free port in 20000-31999); ES_ETCD_CLIENT_PORT serves the
#                        same etcd in plain HTTP, for tools and tests
#   ES_PORT              easyservice-apiserver secure port      (default 8443)
#   KCM_PORT             kube-controller-manager secure port    (default 10257)
#   SCHEDULER_PORT       kube-scheduler secure port             (default 10259)
#   KWOK_PORT            kwok's HTTP server (/healthz, /metrics) (default 10247)
#   KWOK_NODES           number of fake nodes                   (default 2)
#   SKIP_EXAMPLES        if non-empty, do not apply artifacts/examples/
#   ES_IDENTITY          easyservice-apiserver's identity towards kube-apiserver (its client,
#                        delegated authentication and authorization, the controller):
#                        serviceaccount (default): a token of the install's ServiceAccount
#                          easyservice-system/easyservice-apiserver, with exactly the RBAC of
#                          artifacts/deploy/base/rbac;
#                        admin: the admin kubeconfig (system:masters)
#
# In real mode only KUBE_APISERVER_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT, KCM_PORT and SCHEDULER_PORT
# apply, in the plane's network namespace: they never collide with the host's.
#
# Outputs in LOCAL_UP_DIR: admin.kubeconfig (system:masters), easyservice-apiserver.kubeconfig
# (the server's identity), env (source it: exports KUBECONFIG, KUBECTL and the ports),
# logs/<component>.log, pids/<component>.pid, logs/kube-apiserver-audit.log (kube-apiserver's audit
# log, one JSON audit.k8s.io/v1 Event a line, written by hack/local/audit-policy.yaml: the requests
# of the user system:serviceaccount:easyservice-system:easyservice-apiserver only, at Metadata
# level, whatever ES_IDENTITY is; new for every local-up, never rotated; test/e2e reads it to judge
# the install's RBAC by what the server did), pki/ (the cluster's certificates), install/ (the
# install's certificates from hack/gen-certs: install/pki/*.crt|key, the Secrets and the caBundle
# Component), and etcd/ (the data, made fresh by every local-up: each local-up is a new cluster;
# pki/ and install/ are kept and reused). Real mode adds node/ (the namespace, containerd's,
# the kubelet's and the CNI's state, the local volumes, plane.env; made fresh by every local-up),
# kubelet.kubeconfig, kube-proxy.kubeconfig and host-state.before (the host before local-up).
#
# A local-up refuses (exit 1) while a control plane of the same LOCAL_UP_DIR runs, and when one of
# its ports is taken; in real mode also while an earlier real plane of LOCAL_UP_DIR was not taken
# down. On failure it prints the end of the failing component's log and stops what it started (in
# real mode: takes it down as local-down does, and checks the host).
set -o errexit -o nounset -o pipefail

# shellcheck source=hack/local/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/local/common.sh"
# shellcheck source=hack/local/real-node.sh
source "$(dirname "${BASH_SOURCE[0]}")/local/real-node.sh"
cd "${REPO_ROOT}"

LOCAL_UP_NODE=${LOCAL_UP_NODE:-kwok}
LOCAL_PVS=${LOCAL_PVS:-8}

KUBE_APISERVER_PORT=${KUBE_APISERVER_PORT:-6443}
ETCD_CLIENT_PORT=${ETCD_CLIENT_PORT:-2379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-2380}
ES_ETCD_CLIENT_PORT=${ES_ETCD_CLIENT_PORT:-2381}
ES_ETCD_PEER_PORT=${ES_ETCD_PEER_PORT:-2382}
ES_ETCD_TLS_PORT=${ES_ETCD_TLS_PORT:-}
ES_PORT=${ES_PORT:-8443}
KCM_PORT=${KCM_PORT:-10257}
SCHEDULER_PORT=${SCHEDULER_PORT:-10259}
KWOK_PORT=${KWOK_PORT:-10247}
KWOK_NODES=${KWOK_NODES:-2}
SKIP_EXAMPLES=${SKIP_EXAMPLES:-}
ES_IDENTITY=${ES_IDENTITY:-serviceaccount}
PORT_VARS=(KUBE_APISERVER_PORT ETCD_CLIENT_PORT ETCD_PEER_PORT ES_ETCD_CLIENT_PORT ES_ETCD_PEER_PORT
  ES_ETCD_TLS_PORT ES_PORT KCM_PORT SCHEDULER_PORT KWOK_PORT)
if [[ ${LOCAL_UP_NODE} == real ]]; then
  PORT_VARS=(KUBE_APISERVER_PORT ETCD_CLIENT_PORT ETCD_PEER_PORT KCM_PORT SCHEDULER_PORT)
fi

# Fixed addressing of the local cluster (the address plan is in hack/local/common.sh).
SERVICE_CIDR=${PLANE_SERVICE_CIDR}
# kube-apiserver's advertised address (the "kubernetes" Service's endpoint): must not be loopback;
# nothing listens there.
ADVERTISE_ADDRESS=${KWOK_ADVERTISE_ADDRESS}
SERVICE_ACCOUNT_ISSUER=https://kubernetes.default.svc.cluster.local
# For kube-apiserver and easyservice-apiserver: on SIGTERM, end open watches within 2 s and give the
# HTTP server 2 s (instead of the 60 s request timeout) to close its connections, so that a
# local-down with clients still watching (kubectl get -w, a test's informers) does not hang.
# easyservice-apiserver gets those its Deployment does not set itself (see easyservice_args).
FAST_SHUTDOWN_FLAGS=(--shutdown-watch-termination-grace-period=2s --shutdown-send-retry-after=true)
# Timeouts (seconds).
START_TIMEOUT=${START_TIMEOUT:-90}

PKI_DIR=${LOCAL_UP_DIR}/pki
ADMIN_KUBECONFIG=${LOCAL_UP_DIR}/admin.kubeconfig
ES_BIN=${REPO_ROOT}/_output/bin/easyservice-apiserver
# The install's certificates (hack/gen-certs): the serving CA and certificate, the etcd CA, server
# and client certificates.
INSTALL_DIR=${LOCAL_UP_DIR}/install
INSTALL_PKI=${INSTALL_DIR}/pki
# easyservice-apiserver's kubeconfig: the ServiceAccount's token, or a copy of admin's.
ES_KUBECONFIG=${LOCAL_UP_DIR}/easyservice-apiserver.kubeconfig
# kube-apiserver's audit log: what the install's ServiceAccount asked of the cluster.
AUDIT_LOG=${LOGS_DIR}/kube-apiserver-audit.log
# The name kube-apiserver's aggregator verifies easyservice-apiserver's certificate for.
ES_SERVICE_HOST=easyservice-apiserver.easyservice-system.svc

# ---------------------------------------------------------------------------------------------
# Output, steps, failure handling
# ---------------------------------------------------------------------------------------------
now_ms() {
  local t=${EPOCHREALTIME//[.,]/}
  echo $((t / 1000))
}
START_MS=$(now_ms)
elapsed() { # seconds since start, one decimal
  local ms=$(($(now_ms) - START_MS))
  printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

CURRENT_STEP=""
STEP_MS=0
# The components whose logs explain a failure of the current step.
STEP_COMPONENTS=()
begin() { # <description> [component...]: start a step
  CURRENT_STEP=$1
  shift
  STEP_COMPONENTS=("$@")
  STEP_MS=$(now_ms)
  printf '==> [%6ss] %s\n' "$(elapsed)" "${CURRENT_STEP}"
}
end() {
  local ms=$(($(now_ms) - STEP_MS))
  printf '    done in %d.%ds\n' $((ms / 1000)) $((ms % 1000 / 100))
  CURRENT_STEP=""
  STEP_COMPONENTS=()
}

die() {
  echo "local-up: error: $*" >&2
  exit 1
}

# die_component <component> <message>: fail because of one component: only its log is shown.
FAILED_COMPONENT=""
die_component() {
  FAILED_COMPONENT=$1
  die "$2"
}

STARTED=0 # set once this run started a component: a failure stops them all again
# The component being launched and its launcher's pid, until its pid file is written.
LAUNCHING=""
LAUNCH_PID=""
on_exit() {
  local rc=$? c log i
  trap - EXIT INT TERM
  if ((rc == 0)); then return 0; fi
  # The signal may have come while a redirection was in force (e.g. `until cmd >/dev/null`).
  exec 1>&"${STDOUT_FD}" 2>&"${STDERR_FD}"
  if ((rc == 130 || rc == 143)); then
    echo "==> [$(elapsed)s] interrupted${CURRENT_STEP:+ during: ${CURRENT_STEP}}" >&2
  else
    if [[ -n ${CURRENT_STEP} ]]; then
      echo "==> [$(elapsed)s] FAILED (exit ${rc}): ${CURRENT_STEP}" >&2
    fi
    if [[ -n ${FAILED_COMPONENT} ]]; then STEP_COMPONENTS=("${FAILED_COMPONENT}"); fi
    for c in "${STEP_COMPONENTS[@]}"; do
      log=$(log_file "${c}")
      if [[ -f ${log} ]] && (($(wc -l <"${log}") > 1)); then
        echo "---- last 40 lines of ${log}" >&2
        tail -n 40 "${log}" >&2
        echo "----" >&2
      fi
    done
  fi
  if ((STARTED)); then
    echo "==> stopping what was started (logs stay in ${LOGS_DIR})" >&2
    # A component interrupted while being launched: its pid file may not be there yet.
    if [[ -n ${LAUNCHING} ]] && pid_alive "${LAUNCH_PID}"; then
      for ((i = 0; i < 20; i++)); do
        [[ -s $(pid_file "${LAUNCHING}") ]] && break
        sleep 0.05
      done
      if [[ ! -s $(pid_file "${LAUNCHING}") ]]; then kill -TERM "${LAUNCH_PID}" 2>/dev/null || true; fi
    fi
    if [[ ${LOCAL_UP_NODE} == real ]]; then
      real_down >&2 || true
    else
      stop_all >&2 || true
    fi
  elif [[ ${LOCAL_UP_NODE} == real && -f ${PLANE_FILE} ]]; then
    # Failed after it changed the host (network, cgroups) but before it started a process.
    real_down >&2 || true
  fi
  exit "${rc}"
}
# The script's own stdout and stderr, for on_exit; the components do not inherit them.
exec {STDOUT_FD}>&1 {STDERR_FD}>&2
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# kc: kubectl against the local cluster, with a discovery cache of its own.
kc() {
  "${KUBECTL}" --kubeconfig="${ADMIN_KUBECONFIG}" --cache-dir="${LOCAL_UP_DIR}/kube-cache" "$@"
}

# down_command: how to stop this control plane.
down_command() {
  if [[ ${LOCAL_UP_DIR} == "${REPO_ROOT}/_output/local-up" ]]; then
    echo "make local-down   (or hack/local-down.sh)"
  else
    echo "LOCAL_UP_DIR=${LOCAL_UP_DIR} ${REPO_ROOT}/hack/local-down.sh"
  fi
}

# indent: prefix command output, so that it is told apart from the steps.
indent() { sed 's/^/    /'; }

# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------
# start_component <component> <binary> <args...>: start in the background, in a session of its
# own (so a Ctrl-C or a signal to the caller's process group does not reach it), with stdin from
# /dev/null and stdout/stderr to logs/<component>.log, and write pids/<component>.pid. The pid is
# written by the process itself just before it execs the binary, so it is right even when setsid
# has to fork.
start_component() {
  local component=$1 bin=$2 pidf log i
  shift 2
  pidf=$(pid_file "${component}")
  log=$(log_file "${component}")
  rm -f "${pidf}"
  {
    echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) local-up: ${bin} $*"
  } >"${log}"
  local launcher=() prefix=() cgroup_procs=""
  if command -v setsid >/dev/null; then launcher=(setsid); fi
  # Real mode: in the plane's network namespace and cgroup.
  if [[ ${LOCAL_UP_NODE} == real ]]; then
    prefix=(nsenter --net="${NETNS_FILE}" --)
    cgroup_procs=$(plane_cgroup_procs | paste -sd ' ')
  fi
  # The inner bash closes every inherited file descriptor but 0-2 (so the component keeps no pipe
  # of the caller open), joins the plane's cgroups (real mode), writes its pid, and execs the
  # binary (nsenter execs it in turn: the pid stays).
  # shellcheck disable=SC2016 # $$, $f, $n and $@ are for the inner bash
  ES_CGROUP_PROCS=${cgroup_procs} "${launcher[@]}" bash -c '
    for f in /proc/$$/fd/*; do n=${f##*/}; if ((n > 2)); then eval "exec ${n}>&-" 2>/dev/null || true; fi; done
    for f in ${ES_CGROUP_PROCS}; do echo $$ >"${f}" || exit 1; done
    unset ES_CGROUP_PROCS
    echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "${pidf}" "${prefix[@]}" "${bin}" "$@" \
    </dev/null >>"${log}" 2>&1 {LOCK_FD}>&- {STDOUT_FD}>&- {STDERR_FD}>&- &
  LAUNCH_PID=$!
  # Not a job of this shell: it would report the component's end (e.g. "Killed" and the whole
  # command above) when a failed local-up stops it.
  disown "${LAUNCH_PID}"
  LAUNCHING=${component}
  STARTED=1
  for ((i = 0; i < 100; i++)); do
    [[ -s ${pidf} ]] && break
    sleep 0.05
  done
  [[ -s ${pidf} ]] || die_component "${component}" "${component} did not start (no pid file)"
  LAUNCHING=""
  echo "    ${component}: pid $(<"${pidf}"), log ${log}"
}

# wait_ready <component> <description> <command...>: run the command until it succeeds; fail when
# the component exits or after START_TIMEOUT seconds.
wait_ready() {
  local component=$1 what=$2 pid deadline=$((SECONDS + START_TIMEOUT))
  shift 2
  pid=$(<"$(pid_file "${component}")")
  until "$@" >/dev/null 2>&1; do
    if ! pid_alive "${pid}"; then
      die_component "${component}" "${component} exited while waiting for ${what}; see $(log_file "${component}")"
    fi
    if ((SECONDS >= deadline)); then
      die_component "${component}" "timed out after ${START_TIMEOUT}s waiting for ${component} ${what}; see $(log_file "${component}")"
    fi
    sleep 0.2
  done
  echo "    ${component}: ${what} ok"
}

http_ok() { curl -sf --max-time 3 -o /dev/null "$@"; }

# plane_http_ok: http_ok where the plane's components listen on 127.0.0.1 (in real mode, in its
# network namespace).
plane_http_ok() {
  if [[ ${LOCAL_UP_NODE} == real ]]; then
    in_netns curl -sf --max-time 3 -o /dev/null "$@"
  else
    http_ok "$@"
  fi
}

# ---------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------
# free_port: a port below the ephemeral range that nothing listens on and no other *_PORT has.
free_port() {
  local v p i taken=" "
  for v in "${PORT_VARS[@]}"; do taken+="${!v} "; done
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 12000))
    [[ ${taken} != *" ${p} "* ]] || continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/${p}") 2>/dev/null; then
      echo "${p}"
      return 0
    fi
  done
  return 1
}

check_settings() {
  local v p seen=" "
  case ${LOCAL_UP_NODE} in
    kwok) ;;
    real) check_settings_real ;;
    *) die "LOCAL_UP_NODE=${LOCAL_UP_NODE}: must be kwok or real" ;;
  esac
  if [[ ${LOCAL_UP_NODE} == kwok && -z ${ES_ETCD_TLS_PORT} ]]; then ES_ETCD_TLS_PORT=$(free_port) || die "found no free port for ES_ETCD_TLS_PORT"; fi
  for v in "${PORT_VARS[@]}"; do
    p=${!v}
    if [[ ! ${p} =~ ^[0-9]+$ ]] || ((p < 1 || p > 65535)); then die "${v}=${p} is not a port number"; fi
    [[ ${seen} != *" ${p} "* ]] || die "${v}=${p}: the port is given twice; every port must differ"
    seen+="${p} "
  done
  if [[ ! ${KWOK_NODES} =~ ^[0-9]+$ ]] || ((KWOK_NODES > 1000)); then die "KWOK_NODES=${KWOK_NODES} is not a number in 0..1000"; fi
  case ${ES_IDENTITY} in
    serviceaccount | admin) ;;
    *) die "ES_IDENTITY=${ES_IDENTITY}: must be serviceaccount or admin" ;;
  esac
  command -v curl >/dev/null || die "curl is needed"
  command -v realpath >/dev/null || die "realpath (coreutils) is needed"
}

# Refuses when a control plane of this LOCAL_UP_DIR runs or another local-up is starting one.
check_not_running() {
  local running
  mkdir -p "${LOCAL_UP_DIR}" "${LOGS_DIR}" "${PIDS_DIR}"
  # The lock is held while this script runs (the components do not inherit it).
  exec {LOCK_FD}>"${LOCAL_UP_DIR}/.local-up.lock"
  if command -v flock >/dev/null && ! flock -n "${LOCK_FD}"; then
    echo "local-up: another hack/local-up.sh is starting a control plane in ${LOCAL_UP_DIR}" >&2
    exit 1
  fi
  running=$(running_components | paste -sd ' ')
  if [[ -n ${running} ]]; then
    {
      echo "local-up: a control plane is already running in ${LOCAL_UP_DIR}: ${running}"
      echo "local-up: use it (source ${LOCAL_UP_DIR}/env), or stop it first: $(down_command)"
    } >&2
    exit 1
  fi
  # Stale pid files of processes that are gone.
  rm -f "${PIDS_DIR}"/*.pid
  if [[ ${LOCAL_UP_NODE} == real ]]; then
    check_no_leftovers
    check_disk_real
  fi
}

check_ports_free() {
  local v p busy=()
  for v in "${PORT_VARS[@]}"; do
    p=${!v}
    if (exec 3<>"/dev/tcp/127.0.0.1/${p}") 2>/dev/null; then busy+=("${v}=${p}"); fi
  done
  ((${#busy[@]} == 0)) || die "port(s) already in use on 127.0.0.1: ${busy[*]} (set other ports: ${busy[0]%%=*}=<free port>)"
}

install_tools() {
  # A no-op printing "cached: ..." when the tools are there (it locks against concurrent builds).
  if [[ ${LOCAL_UP_NODE} == real ]]; then
    hack/install-tools.sh packages kube etcd node crictl | indent
    NODE_BIN_DIR=$(hack/install-tools.sh --print-dir node)
  else
    hack/install-tools.sh kube etcd kwok | indent
  fi
  KUBE_DIR=$(hack/install-tools.sh --print-dir kube)
  ETCD_BIN=$(hack/install-tools.sh --print-dir etcd)/etcd
  KWOK_BIN=$(hack/install-tools.sh --print-dir kwok)/kwok
  KUBECTL=${KUBE_DIR}/kubectl
}

build_easyservice() {
  local lock_fd
  mkdir -p _output
  exec {lock_fd}>_output/.local-up-build.lock
  if command -v flock >/dev/null; then flock "${lock_fd}"; fi
  make --no-print-directory build OUTPUT_DIR=_output 2>&1 | indent
  exec {lock_fd}>&-
  [[ -x ${ES_BIN} ]] || die "make build did not produce ${ES_BIN}"
}

make_pki() {
  if [[ ${LOCAL_UP_NODE} == real ]]; then
    # The node IP: where the host, the node's components and (through the "kubernetes" Service) the
    # pods reach kube-apiserver.
    go run ./hack/pki -dir "${PKI_DIR}" -advertise-address "${NODE_IP}" -service-cidr "${SERVICE_CIDR}" \
      -kubeconfig-dir "${LOCAL_UP_DIR}" -server "https://${NODE_IP}:${KUBE_APISERVER_PORT}" \
      -node-name "${NODE_NAME}" -node-ip "${NODE_IP}" | indent
    return 0
  fi
  go run ./hack/pki -dir "${PKI_DIR}" -advertise-address "${ADVERTISE_ADDRESS}" -service-cidr "${SERVICE_CIDR}" \
    -kubeconfig-dir "${LOCAL_UP_DIR}" -server "https://127.0.0.1:${KUBE_APISERVER_PORT}" | indent
  # The in-cluster install's certificates, made the way an install makes them; the serving
  # certificate also for localhost and 127.0.0.1, where the plane's server listens.
  go run ./hack/gen-certs -out "${INSTALL_DIR}" -extra-serving-names localhost,127.0.0.1 | indent
  # Where tests and tools find the serving CA (trust it to call the server directly).
  ln -sfn ../install/pki/easyservice-ca.crt "${PKI_DIR}/easyservice-ca.crt"
}

# start_etcd <component> <data dir> <client port> <peer port> [<TLS client port> <TLS flags>...]:
# clients in plain HTTP on the client port and, if given, with TLS on the TLS client port.
start_etcd() {
  local component=$1 data=$2 client=$3 peer=$4 urls
  shift 4
  urls="http://127.0.0.1:${client}"
  if (($# > 0)); then
    urls+=",https://127.0.0.1:$1"
    shift
  fi
  # Every local-up is a new cluster.
  rm -rf "${data}"
  mkdir -p "$(dirname "${data}")"
  mkdir -m 0700 "${data}"
  # --unsafe-no-fsync: no fsync of the WAL and the database, for speed; a crash may lose the
  # last writes, which a throw-away local cluster does not care about. No --listen-metrics-urls:
  # the metrics are served on the client port.
  start_component "${component}" "${ETCD_BIN}" \
    --name="${component}" \
    --data-dir="${data}" \
    --listen-client-urls="${urls}" \
    --advertise-client-urls="${urls}" \
    --listen-peer-urls="http://127.0.0.1:${peer}" \
    --initial-advertise-peer-urls="http://127.0.0.1:${peer}" \
    --initial-cluster="${component}=http://127.0.0.1:${peer}" \
    --initial-cluster-state=new \
    --unsafe-no-fsync \
    "$@"
}

start_etcds() {
  start_etcd etcd "${LOCAL_UP_DIR}/etcd/kube" "${ETCD_CLIENT_PORT}" "${ETCD_PEER_PORT}"
  if [[ ${LOCAL_UP_NODE} == real ]]; then
    # EasyService's etcd is the install's StatefulSet (make deploy).
    wait_ready etcd /health plane_http_ok "http://127.0.0.1:${ETCD_CLIENT_PORT}/health"
    return 0
  fi
  # EasyService's etcd: on the TLS port as the install runs it (a client needs a certificate of the
  # etcd CA); in plain HTTP too, for tools and tests (easyservice-apiserver uses the TLS port).
  start_etcd easyservice-etcd "${LOCAL_UP_DIR}/etcd/easyservice" "${ES_ETCD_CLIENT_PORT}" "${ES_ETCD_PEER_PORT}" \
    "${ES_ETCD_TLS_PORT}" \
    --client-cert-auth \
    --trusted-ca-file="${INSTALL_PKI}/etcd-ca.crt" \
    --cert-file="${INSTALL_PKI}/etcd-server.crt" \
    --key-file="${INSTALL_PKI}/etcd-server.key"
  wait_ready etcd /health http_ok "http://127.0.0.1:${ETCD_CLIENT_PORT}/health"
  wait_ready easyservice-etcd /health http_ok --cacert "${INSTALL_PKI}/etcd-ca.crt" \
    --cert "${INSTALL_PKI}/etcd-client.crt" --key "${INSTALL_PKI}/etcd-client.key" \
    "https://127.0.0.1:${ES_ETCD_TLS_PORT}/health"
}

# kube-apiserver runs without anonymous authentication: a request without credentials gets a 401,
# as from easyservice-apiserver itself (test/e2e/security_test.go checks both).
# It writes the audit log AUDIT_LOG by hack/local/audit-policy.yaml, anew for every local-up (like
# the etcds) and appended to by a restart of the same command line; --audit-log-maxsize=0: one file,
# never rotated, that a reader can take whole.
start_kube_apiserver() {
  local mode_flags=(--bind-address=127.0.0.1 --advertise-address="${ADVERTISE_ADDRESS}"
    --enable-admission-plugins=OwnerReferencesPermissionEnforcement) url=https://127.0.0.1:${KUBE_APISERVER_PORT}
  if [[ ${LOCAL_UP_NODE} == real ]]; then
    # On every address of the plane's namespace: the node IP (the host, over the veth) and, through
    # the "kubernetes" Service, the pods. The kubelet's serving certificate is verified; the kubelet
    # authorizes this client (cluster.yaml binds it). NodeRestriction: a kubelet may change only its
    # own Node and its pods.
    mode_flags=(--bind-address=0.0.0.0 --advertise-address="${NODE_IP}"
      "--enable-admission-plugins=NodeRestriction,OwnerReferencesPermissionEnforcement"
      --kubelet-certificate-authority="${PKI_DIR}/ca.crt"
      --kubelet-client-certificate="${PKI_DIR}/apiserver-kubelet-client.crt"
      --kubelet-client-key="${PKI_DIR}/apiserver-kubelet-client.key"
      --kubelet-preferred-address-types=InternalIP)
    url=https://${NODE_IP}:${KUBE_APISERVER_PORT}
  fi
  mkdir -p "${LOCAL_UP_DIR}/certs/kube-apiserver"
  rm -f "${AUDIT_LOG}"
  start_component kube-apiserver "${KUBE_DIR}/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:${ETCD_CLIENT_PORT}" \
    "${mode_flags[@]}" \
    --secure-port="${KUBE_APISERVER_PORT}" \
    --cert-dir="${LOCAL_UP_DIR}/certs/kube-apiserver" \
    --tls-cert-file="${PKI_DIR}/kube-apiserver.crt" \
    --tls-private-key-file="${PKI_DIR}/kube-apiserver.key" \
    --client-ca-file="${PKI_DIR}/ca.crt" \
    --service-cluster-ip-range="${SERVICE_CIDR}" \
    --authorization-mode=Node,RBAC \
    --anonymous-auth=false \
    --allow-privileged=true \
    --service-account-key-file="${PKI_DIR}/sa.pub" \
    --service-account-signing-key-file="${PKI_DIR}/sa.key" \
    --service-account-issuer="${SERVICE_ACCOUNT_ISSUER}" \
    --requestheader-client-ca-file="${PKI_DIR}/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User \
    --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="${PKI_DIR}/front-proxy-client.crt" \
    --proxy-client-key-file="${PKI_DIR}/front-proxy-client.key" \
    --enable-aggregator-routing=true \
    --audit-policy-file="${REPO_ROOT}/hack/local/audit-policy.yaml" \
    --audit-log-path="${AUDIT_LOG}" \
    --audit-log-maxsize=0 \
    "${FAST_SHUTDOWN_FLAGS[@]}"
  # From the host (in real mode: over the veth).
  wait_ready kube-apiserver /readyz http_ok --cacert "${PKI_DIR}/ca.crt" \
    --cert "${PKI_DIR}/admin.crt" --key "${PKI_DIR}/admin.key" "${url}/readyz"
}

start_kube_controller_manager() {
  local kubeconfig=${LOCAL_UP_DIR}/kube-controller-manager.kubeconfig
  mkdir -p "${LOCAL_UP_DIR}/certs/kube-controller-manager"
  start_component kube-controller-manager "${KUBE_DIR}/kube-controller-manager" \
    --kubeconfig="${kubeconfig}" \
    --authentication-kubeconfig="${kubeconfig}" \
    --authorization-kubeconfig="${kubeconfig}" \
    --controllers='*' \
    --use-service-account-credentials=true \
    --service-account-private-key-file="${PKI_DIR}/sa.key" \
    --root-ca-file="${PKI_DIR}/ca.crt" \
    --cluster-signing-cert-file="${PKI_DIR}/ca.crt" \
    --cluster-signing-key-file="${PKI_DIR}/ca.key" \
    --service-cluster-ip-range="${SERVICE_CIDR}" \
    --bind-address=127.0.0.1 \
    --secure-port="${KCM_PORT}" \
    --cert-dir="${LOCAL_UP_DIR}/certs/kube-controller-manager" \
    --leader-elect=false
}

start_kube_scheduler() {
  local kubeconfig=${LOCAL_UP_DIR}/kube-scheduler.kubeconfig
  mkdir -p "${LOCAL_UP_DIR}/certs/kube-scheduler"
  start_component kube-scheduler "${KUBE_DIR}/kube-scheduler" \
    --kubeconfig="${kubeconfig}" \
    --authentication-kubeconfig="${kubeconfig}" \
    --authorization-kubeconfig="${kubeconfig}" \
    --bind-address=127.0.0.1 \
    --secure-port="${SCHEDULER_PORT}" \
    --cert-dir="${LOCAL_UP_DIR}/certs/kube-scheduler" \
    --leader-elect=false
}

start_kwok() {
  # The node IP is only a fallback: every fake node has its own InternalIP (see create_nodes).
  start_component kwok "${KWOK_BIN}" \
    --kubeconfig="${LOCAL_UP_DIR}/kwok.kubeconfig" \
    --config="${REPO_ROOT}/hack/local/kwok.yaml" \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-ip="${KWOK_FALLBACK_NODE_IP}" \
    --server-address="127.0.0.1:${KWOK_PORT}"
}

# deployment_args: the container args of the Deployment easyservice-apiserver of the install
# (artifacts/deploy/base), one per line. (kubectl maps the kinds through kube-apiserver.)
deployment_args() {
  local tmpl='{{if and (eq .kind "Deployment") (eq .metadata.name "easyservice-apiserver")}}'
  tmpl+='{{range .spec.template.spec.containers}}{{if eq .name "easyservice-apiserver"}}'
  tmpl+='{{range .args}}{{.}}{{"\n"}}{{end}}{{end}}{{end}}{{end}}'
  kc kustomize artifacts/deploy/base | kc create --dry-run=client -o go-template="${tmpl}" -f -
}

# easyservice_args sets ES_ARGS: the Deployment's flags, with local file paths and addresses in
# place of the pod's (test/e2e/install_server_test.go checks the running server's command line by the
# same table):
#   --secure-port                              8443 -> ES_PORT
#   --tls-cert-file, --tls-private-key-file    Secret easyservice-apiserver-tls -> install/pki
#   --etcd-servers                             https://easyservice-etcd-client...:2379 -> https://127.0.0.1:ES_ETCD_TLS_PORT
#   --etcd-cafile, --etcd-certfile, --etcd-keyfile   Secret easyservice-etcd-client-tls -> install/pki
# and with these added, which a pod needs not: --bind-address=127.0.0.1; --kubeconfig,
# --authentication-kubeconfig and --authorization-kubeconfig (in a pod: the in-cluster config, the
# ServiceAccount's token); FAST_SHUTDOWN_FLAGS, but for those the Deployment sets itself.
ES_ARGS=()
easyservice_args() {
  local args=() a flag seen=" "
  mapfile -t args < <(deployment_args)
  ((${#args[@]} > 0)) || die "no container args for the Deployment easyservice-apiserver in artifacts/deploy/base"
  ES_ARGS=()
  for a in "${args[@]}"; do
    flag=${a%%=*}
    case ${flag} in
      --secure-port) a=${flag}=${ES_PORT} ;;
      --tls-cert-file) a=${flag}=${INSTALL_PKI}/easyservice-apiserver.crt ;;
      --tls-private-key-file) a=${flag}=${INSTALL_PKI}/easyservice-apiserver.key ;;
      --etcd-servers) a=${flag}=https://127.0.0.1:${ES_ETCD_TLS_PORT} ;;
      --etcd-cafile) a=${flag}=${INSTALL_PKI}/etcd-ca.crt ;;
      --etcd-certfile) a=${flag}=${INSTALL_PKI}/etcd-client.crt ;;
      --etcd-keyfile) a=${flag}=${INSTALL_PKI}/etcd-client.key ;;
      --bind-address | --kubeconfig | --authentication-kubeconfig | --authorization-kubeconfig)
        die "the Deployment sets ${flag}, which local-up sets itself: update easyservice_args" ;;
    esac
    seen+="${flag} "
    ES_ARGS+=("${a}")
  done
  for flag in --secure-port --tls-cert-file --tls-private-key-file --etcd-servers --etcd-cafile --etcd-certfile --etcd-keyfile; do
    [[ ${seen} == *" ${flag} "* ]] || die "the Deployment easyservice-apiserver sets no ${flag}: update easyservice_args"
  done
  ES_ARGS+=(
    --bind-address=127.0.0.1
    --kubeconfig="${ES_KUBECONFIG}"
    --authentication-kubeconfig="${ES_KUBECONFIG}"
    --authorization-kubeconfig="${ES_KUBECONFIG}"
  )
  for a in "${FAST_SHUTDOWN_FLAGS[@]}"; do
    [[ ${seen} == *" ${a%%=*} "* ]] || ES_ARGS+=("${a}")
  done
}

start_easyservice_apiserver() {
  easyservice_args
  start_component easyservice-apiserver "${ES_BIN}" "${ES_ARGS[@]}"
}

# easyservice_identity: the namespace, ServiceAccount and RBAC of the install
# (artifacts/deploy/base/namespace.yaml and rbac/), and easyservice-apiserver's kubeconfig.
easyservice_identity() {
  local token ca
  kc apply -f artifacts/deploy/base/namespace.yaml 2>&1 | indent
  kc kustomize artifacts/deploy/base/rbac | kc apply -f - 2>&1 | indent
  if [[ ${ES_IDENTITY} == admin ]]; then
    install -m 0600 "${ADMIN_KUBECONFIG}" "${ES_KUBECONFIG}"
    echo "    ES_IDENTITY=admin: easyservice-apiserver uses the admin kubeconfig (system:masters)"
    return 0
  fi
  # A bound token, like a pod's (the kubelet renews those; 24 h outlasts a local plane's use).
  token=$(kc create token easyservice-apiserver -n easyservice-system --duration=24h)
  ca=$(base64 -w0 "${PKI_DIR}/ca.crt")
  (
    umask 077
    cat >"${ES_KUBECONFIG}.tmp" <<EOF
# Written by hack/local-up.sh: easyservice-apiserver's identity, the install's ServiceAccount.
apiVersion: v1
kind: Config
clusters:
- name: easyservice-local
  cluster:
    server: https://127.0.0.1:${KUBE_APISERVER_PORT}
    certificate-authority-data: ${ca}
users:
- name: easyservice-apiserver
  user:
    token: ${token}
contexts:
- name: easyservice-local
  context:
    cluster: easyservice-local
    user: easyservice-apiserver
current-context: easyservice-local
EOF
  )
  mv "${ES_KUBECONFIG}.tmp" "${ES_KUBECONFIG}"
  echo "    easyservice-apiserver runs as $("${KUBECTL}" --kubeconfig="${ES_KUBECONFIG}" auth whoami -o jsonpath='{.status.userInfo.username}')"
}

start_rest() {
  start_kube_controller_manager
  start_kube_scheduler
  start_kwok
  start_easyservice_apiserver
  # Only needs kube-apiserver; kwok picks the nodes up as soon as it runs.
  create_nodes
  wait_ready kube-controller-manager /healthz http_ok -k "https://127.0.0.1:${KCM_PORT}/healthz"
  wait_ready kube-scheduler /healthz http_ok -k "https://127.0.0.1:${SCHEDULER_PORT}/healthz"
  wait_ready kwok /healthz http_ok "http://127.0.0.1:${KWOK_PORT}/healthz"
  # Verified for the Service's name, as kube-apiserver's aggregator verifies it.
  wait_ready easyservice-apiserver /readyz http_ok --cacert "${INSTALL_PKI}/easyservice-ca.crt" \
    --resolve "${ES_SERVICE_HOST}:${ES_PORT}:127.0.0.1" "https://${ES_SERVICE_HOST}:${ES_PORT}/readyz"
}

# ---------------------------------------------------------------------------------------------
# Real node (LOCAL_UP_NODE=real; hack/local/real-node.sh has what local-down shares)
# ---------------------------------------------------------------------------------------------
check_settings_real() {
  if ((EUID != 0)); then
    die "LOCAL_UP_NODE=real needs root: it creates a network namespace, a veth, cgroups and mounts, and runs containerd and the kubelet. Run it as root (e.g. sudo LOCAL_UP_NODE=real make local-up), or use the default kwok plane (no root)"
  fi
  if [[ ! ${LOCAL_PVS} =~ ^[0-9]+$ ]] || ((LOCAL_PVS > 100)); then die "LOCAL_PVS=${LOCAL_PVS} is not a number in 0..100"; fi
  # A unix socket path has at most 107 bytes.
  ((${#CONTAINERD_SOCKET} < 100)) || die "LOCAL_UP_DIR=${LOCAL_UP_DIR} is too long for containerd's socket ${CONTAINERD_SOCKET}: use a shorter one"
  local c
  for c in nsenter unshare ip mountpoint flock sha256sum; do
    command -v "${c}" >/dev/null || die "${c} is needed (util-linux, iproute2, coreutils)"
  done
}

# check_no_leftovers: an earlier real plane of this LOCAL_UP_DIR that was not taken down (its
# mounts, namespace, veth or cgroups) must be, before a new one starts in its directories.
check_no_leftovers() {
  local left=()
  [[ ! -f ${PLANE_FILE} ]] || left+=("${PLANE_FILE}")
  if [[ -n $(mounts_under "${LOCAL_UP_DIR}") ]]; then left+=("mounts under ${LOCAL_UP_DIR}"); fi
  if ip link show "${HOST_VETH}" >/dev/null 2>&1; then left+=("the veth ${HOST_VETH}"); fi
  if [[ -d /sys/fs/cgroup/pids/${CGROUP_NAME} || -d /sys/fs/cgroup/unified/${CGROUP_NAME} ]]; then left+=("the cgroup /${CGROUP_NAME}"); fi
  if ((${#left[@]} > 0)); then
    {
      echo "local-up: an earlier real-node plane of ${LOCAL_UP_DIR} was not taken down: ${left[*]}"
      echo "local-up: take it down first: $(down_command)"
    } >&2
    exit 1
  fi
}

# check_disk_real: the filesystem of LOCAL_UP_DIR (the kubelet's and containerd's roots) has room
# for the node's images and pods above the kubelet's hard eviction threshold (nodefs.available in
# hack/local/node/kubelet.yaml). Below it the kubelet reports DiskPressure, evicts the pods and
# admits none: the plane would start and then run nothing.
check_disk_real() {
  local pct size avail floor need headroom=$((2 << 30))
  pct=$(awk '$1 == "nodefs.available:" { sub(/%$/, "", $2); print $2 }' hack/local/node/kubelet.yaml)
  [[ ${pct} =~ ^[0-9]+$ ]] || die "hack/local/node/kubelet.yaml: evictionHard nodefs.available is not a percentage: ${pct}"
  read -r size avail < <(df -B1 --output=size,avail "${LOCAL_UP_DIR}" | tail -n 1)
  floor=$((size * pct / 100))
  need=$((floor + headroom))
  if ((avail < need)); then
    die "$(printf 'not enough free disk for a real node: %s has %d MiB free of %d MiB; the kubelet evicts every pod below %d%% free (%d MiB), and the node needs %d MiB above that. Free %d MiB, or set LOCAL_UP_DIR on another filesystem' \
      "${LOCAL_UP_DIR}" $((avail >> 20)) $((size >> 20)) "${pct}" $((floor >> 20)) $((headroom >> 20)) $(((need - avail) >> 20)))"
  fi
}

# node_images: the node's images from hack/images.sh (built once, cached as tarballs): the pause
# image (containerd's sandbox_image) and CoreDNS's. Sets SANDBOX_IMAGE, COREDNS_IMAGE, NODE_IMAGE_TARS.
NODE_IMAGE_TARS=()
node_images() {
  local out name ref tar
  out=$(hack/images.sh pause coredns) || die "hack/images.sh pause coredns failed"
  while read -r name ref tar; do
    case ${name} in
      pause) SANDBOX_IMAGE=${ref} ;;
      coredns) COREDNS_IMAGE=${ref} ;;
      *) continue ;;
    esac
    [[ -f ${tar} ]] || die "hack/images.sh printed ${name} ${ref} ${tar}, and there is no ${tar}"
    NODE_IMAGE_TARS+=("${tar}")
    echo "    ${name}: ${ref} (${tar})"
  done <<<"${out}"
  [[ -n ${SANDBOX_IMAGE:-} && -n ${COREDNS_IMAGE:-} ]] || die "hack/images.sh did not print the pause and coredns images: ${out}"
}

# host_snapshot: the host's state before the plane changes it, for local-down's check.
host_snapshot() {
  hack/local/host-state.sh snapshot "${HOST_SNAPSHOT}"
  echo "    ${HOST_SNAPSHOT}"
}

# node_network: a fresh NODE_DIR (nothing is mounted there: check_no_leftovers), the plane's slot,
# network namespace and veth, and its cgroups.
node_network() {
  rm -rf --one-file-system "${NODE_DIR}"
  mkdir -p "${NODE_DIR}"
  with_host_lock setup_network
  cgroup_create
  echo "    cgroups /${CGROUP_NAME} (kubelet's cgroupRoot) and /${PLANE_CGROUP} (the plane's processes), in $(cgroup_mounts | wc -l) hierarchies"
}

# render_node_config: containerd's, the CNI network's, the kubelet's and kube-proxy's configuration.
render_node_config() {
  local common=("s|@NODE_DIR@|${NODE_DIR}|g" "s|@LOCAL_UP_DIR@|${LOCAL_UP_DIR}|g" "s|@PKI_DIR@|${PKI_DIR}|g"
    "s|@NODE_IP@|${NODE_IP}|g" "s|@NODE_NAME@|${NODE_NAME}|g" "s|@POD_CIDR@|${POD_CIDR}|g")
  render hack/local/node/containerd.toml "${NODE_DIR}/containerd/config.toml" "${common[@]}" \
    "s|@SANDBOX_IMAGE@|${SANDBOX_IMAGE}|g" "s|@CNI_BIN_DIR@|${CNI_BIN_DIR}|g"
  # The CNI network: a bridge in the namespace (the pods' gateway; hairpin, so that a pod reaches
  # itself through its Service), host-local addresses of the plane's pod /24 with their state under
  # NODE_DIR, and portmap for hostPorts.
  render hack/local/node/cni.conflist "${NODE_DIR}/cni/net.d/10-${CNI_NETWORK}.conflist" "${common[@]}" \
    "s|@CNI_NETWORK@|${CNI_NETWORK}|g" "s|@CNI_BRIDGE@|${CNI_BRIDGE}|g"
  render hack/local/node/kubelet.yaml "${NODE_DIR}/kubelet.yaml" "${common[@]}" \
    "s|@CGROUP_ROOT@|/${CGROUP_NAME}|g" "s|@CONTAINERD_SOCKET@|${CONTAINERD_SOCKET}|g" "s|@CLUSTER_DNS@|${CLUSTER_DNS}|g"
  render hack/local/node/kube-proxy.yaml "${NODE_DIR}/kube-proxy.yaml" "${common[@]}"
  # For crictl (CRI_CONFIG_FILE in the env file): the plane's containerd.
  printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 10\n' \
    "${CONTAINERD_SOCKET}" "${CONTAINERD_SOCKET}" >"${NODE_DIR}/crictl.yaml"
  mkdir -p "${NODE_DIR}/kubelet" "${NODE_DIR}/pod-logs" "${NODE_DIR}/containerd/opt"
}

# ctr: containerd's own client, on the plane's containerd, in the namespace the CRI uses.
ctr_node() { ctr --address "${CONTAINERD_SOCKET}" --namespace k8s.io "$@"; }

start_containerd() {
  local tar
  start_component containerd "$(command -v containerd)" --config="${NODE_DIR}/containerd/config.toml"
  wait_ready containerd "CRI" crictl_node --timeout 2s info
  for tar in "${NODE_IMAGE_TARS[@]}"; do
    ctr_node images import "${tar}" 2>&1 | indent
  done
}

# start_kubelet: the kubelet sets six global sysctls when it starts (KUBELET_SYSCTLS); the host's
# values are saved before and put back as soon as it has, under the host lock (so that a second
# plane starting at the same time does not save the first one's kubelet's values as the host's).
start_kubelet() {
  with_host_lock start_kubelet_locked
  wait_ready kubelet /healthz plane_http_ok "http://127.0.0.1:10248/healthz"
}

start_kubelet_locked() {
  save_sysctls
  start_component kubelet "${NODE_BIN_DIR}/kubelet" \
    --config="${NODE_DIR}/kubelet.yaml" \
    --kubeconfig="${LOCAL_UP_DIR}/kubelet.kubeconfig" \
    --root-dir="${NODE_DIR}/kubelet" \
    --hostname-override="${NODE_NAME}" \
    --node-ip="${NODE_IP}"
  wait_ready kubelet "its kernel settings" kubelet_set_sysctls
  restore_sysctls
}

start_kube_proxy() {
  start_component kube-proxy "${NODE_BIN_DIR}/kube-proxy" --config="${NODE_DIR}/kube-proxy.yaml"
}

# node_addons: kube-apiserver's access to the kubelet, the StorageClass, the local
# PersistentVolumes and CoreDNS.
node_addons() {
  local i out=${LOCAL_UP_DIR}/manifests/local-pvs.yaml
  kc apply -f hack/local/node/cluster.yaml 2>&1 | indent
  mkdir -p "${NODE_DIR}/pvs" "$(dirname "${out}")"
  : >"${out}"
  for ((i = 1; i <= LOCAL_PVS; i++)); do
    mkdir -p "${NODE_DIR}/pvs/pv-${i}"
    render hack/local/node/local-pv.yaml "${out}.${i}" "s|@PV_NAME@|local-pv-${i}|g" "s|@PV_SIZE@|10Gi|g" \
      "s|@PV_PATH@|${NODE_DIR}/pvs/pv-${i}|g" "s|@NODE_NAME@|${NODE_NAME}|g"
    { echo "---"; cat "${out}.${i}"; } >>"${out}"
    rm -f "${out}.${i}"
  done
  if ((LOCAL_PVS > 0)); then
    kc apply -f "${out}" | wc -l | sed 's/^/    PersistentVolumes created: /'
  fi
  render hack/local/node/coredns.yaml "${LOCAL_UP_DIR}/manifests/coredns.yaml" \
    "s|@COREDNS_IMAGE@|${COREDNS_IMAGE}|g" "s|@CLUSTER_DNS@|${CLUSTER_DNS}|g"
  kc apply -f "${LOCAL_UP_DIR}/manifests/coredns.yaml" 2>&1 | indent
}

# wait_node: the node Ready (the node lifecycle controller lifts its not-ready taint up to 5 s
# later), kube-proxy serving, CoreDNS available.
wait_node() {
  local deadline=$((SECONDS + START_TIMEOUT)) taints
  kc wait --for=condition=Ready "node/${NODE_NAME}" --timeout="${START_TIMEOUT}s" 2>&1 | indent
  until taints=$(kc get node "${NODE_NAME}" -o jsonpath='{.spec.taints}') && [[ -z ${taints} ]]; do
    ((SECONDS < deadline)) || die "the node kept its taints: ${taints}"
    sleep 0.5
  done
  wait_ready kube-proxy /healthz plane_http_ok "http://127.0.0.1:10256/healthz"
  kc -n kube-system rollout status deployment/coredns --timeout="${START_TIMEOUT}s" 2>&1 | indent
}

# render <template> <output> <sed expressions...>: substitute @VAR@ placeholders.
render() {
  local in=$1 out=$2 args=() e
  shift 2
  for e in "$@"; do args+=(-e "${e}"); done
  mkdir -p "$(dirname "${out}")"
  sed "${args[@]}" "${in}" >"${out}"
  if grep -q '@[A-Z_]*@' "${out}"; then die "unsubstituted placeholder left in ${out}"; fi
}

# create_nodes: the $KWOK_NODES fake Node objects kwok manages.
create_nodes() {
  local out=${LOCAL_UP_DIR}/manifests/kwok-nodes.yaml i
  mkdir -p "$(dirname "${out}")"
  : >"${out}"
  for ((i = 0; i < KWOK_NODES; i++)); do
    render hack/local/kwok-node.yaml "${out}.${i}" "s|@NODE_NAME@|kwok-node-${i}|g" \
      "s|@NODE_IP@|$(kwok_node_ip "${i}")|g"
    { echo "---"; cat "${out}.${i}"; } >>"${out}"
    rm -f "${out}.${i}"
  done
  if ((KWOK_NODES == 0)); then
    echo "    KWOK_NODES=0: no nodes, pods will stay Pending"
    return 0
  fi
  kc apply -f "${out}" 2>&1 | indent
}

# wait_nodes: kwok marks the nodes Ready, then the node lifecycle controller lifts the
# node.kubernetes.io/not-ready taint (up to its 5 s monitor period later).
wait_nodes() {
  local deadline=$((SECONDS + START_TIMEOUT)) taints
  ((KWOK_NODES > 0)) || return 0
  kc wait --for=condition=Ready node -l type=kwok --timeout="${START_TIMEOUT}s" 2>&1 | indent
  until taints=$(kc get nodes -l type=kwok -o jsonpath='{.items[*].spec.taints}') && [[ -z ${taints} ]]; do
    ((SECONDS < deadline)) || die "the fake nodes kept their taints: ${taints}"
    sleep 0.5
  done
  echo "    ${KWOK_NODES} node(s) Ready and untainted"
}

register_easyservice() {
  local out=${LOCAL_UP_DIR}/manifests/easyservice-apiserver.yaml ca_bundle
  ca_bundle=$(base64 -w0 "${INSTALL_PKI}/easyservice-ca.crt")
  render hack/local/easyservice-apiserver.yaml "${out}" "s|@ES_PORT@|${ES_PORT}|g" "s|@CA_BUNDLE@|${ca_bundle}|g"
  kc apply -f "${out}" 2>&1 | indent
  kc wait --for=condition=Available --timeout="${START_TIMEOUT}s" \
    apiservice/v1.app.easyservice.io apiservice/v1beta1.app.easyservice.io 2>&1 | indent
}

wait_default_service_account() {
  kc wait --for=create serviceaccount/default -n default --timeout="${START_TIMEOUT}s" 2>&1 | indent
}

apply_examples() {
  kc apply -f artifacts/examples/ 2>&1 | indent
}

write_env() {
  local v
  {
    echo "# Written by hack/local-up.sh: source it to use this local control plane."
    printf 'export LOCAL_UP_DIR=%q\n' "${LOCAL_UP_DIR}"
    printf 'export KUBECONFIG=%q\n' "${ADMIN_KUBECONFIG}"
    printf 'export KUBECTL=%q\n' "${KUBECTL}"
    printf 'export LOCAL_UP_NODE=%q\n' "${LOCAL_UP_NODE}"
    printf 'export SERVICE_CIDR=%q\n' "${SERVICE_CIDR}"
    printf 'export KUBE_APISERVER_AUDIT_LOG=%q\n' "${AUDIT_LOG}"
    if [[ ${LOCAL_UP_NODE} == real ]]; then
      # The node: kube-apiserver is https://NODE_IP:KUBE_APISERVER_PORT from the host; NodePorts
      # answer on NODE_IP, pods on their IPs in POD_CIDR; NODE_NETNS is the plane's network
      # namespace (nsenter --net=$NODE_NETNS), CONTAINERD_ADDRESS containerd's socket (ctr
      # --address), CRI_CONFIG_FILE crictl's configuration for it (CRICTL is crictl),
      # HOST_STATE_SNAPSHOT the host before local-up (hack/local/host-state.sh check).
      printf 'export %s=%q\n' NODE_NAME "${NODE_NAME}" NODE_IP "${NODE_IP}" HOST_IP "${HOST_IP}" \
        POD_CIDR "${POD_CIDR}" CLUSTER_DNS "${CLUSTER_DNS}" NODE_NETNS "${NETNS_FILE}" \
        CONTAINERD_ADDRESS "${CONTAINERD_SOCKET}" CRI_CONFIG_FILE "${NODE_DIR}/crictl.yaml" \
        CRICTL "$(hack/install-tools.sh --print-dir crictl)/crictl" HOST_STATE_SNAPSHOT "${HOST_SNAPSHOT}"
    else
      printf 'export ES_IDENTITY=%q\n' "${ES_IDENTITY}"
    fi
    for v in "${PORT_VARS[@]}"; do printf 'export %s=%q\n' "${v}" "${!v}"; done
  } >"${LOCAL_UP_DIR}/env.tmp"
  mv "${LOCAL_UP_DIR}/env.tmp" "${LOCAL_UP_DIR}/env"
}

# ---------------------------------------------------------------------------------------------
main() {
  check_settings
  check_not_running
  echo "local-up: LOCAL_UP_DIR=${LOCAL_UP_DIR}, LOCAL_UP_NODE=${LOCAL_UP_NODE}"
  if [[ ${LOCAL_UP_NODE} == real ]]; then
    main_real
    return
  fi

  begin "check that the ports are free"
  check_ports_free
  end
  begin "tools (hack/install-tools.sh kube etcd kwok)"
  install_tools
  end
  begin "build easyservice-apiserver (make build)"
  build_easyservice
  end
  begin "PKI and kubeconfigs (go run ./hack/pki), the install's certificates (go run ./hack/gen-certs)"
  make_pki
  end
  begin "etcd (127.0.0.1:${ETCD_CLIENT_PORT}) and EasyService's etcd (127.0.0.1:${ES_ETCD_CLIENT_PORT}, TLS 127.0.0.1:${ES_ETCD_TLS_PORT})" etcd easyservice-etcd
  start_etcds
  end
  begin "kube-apiserver (https://127.0.0.1:${KUBE_APISERVER_PORT})" kube-apiserver
  start_kube_apiserver
  end
  begin "EasyService's namespace, ServiceAccount and RBAC (artifacts/deploy/base/rbac); ES_IDENTITY=${ES_IDENTITY}" kube-apiserver
  easyservice_identity
  end
  begin "kube-controller-manager, kube-scheduler, kwok, easyservice-apiserver (https://127.0.0.1:${ES_PORT}), ${KWOK_NODES} fake node(s)" \
    kube-controller-manager kube-scheduler kwok easyservice-apiserver
  start_rest
  end
  begin "register EasyService: Service, EndpointSlice, APIServices v1 and v1beta1 (caBundle of hack/gen-certs)" easyservice-apiserver kube-apiserver
  register_easyservice
  end
  begin "wait for the fake nodes (Ready, untainted) and the default ServiceAccount" kwok kube-controller-manager
  wait_nodes
  wait_default_service_account
  end
  if [[ -z ${SKIP_EXAMPLES} ]]; then
    begin "apply artifacts/examples/" easyservice-apiserver
    apply_examples
    end
  fi
  write_env

  cat <<EOF

Local control plane up in $(elapsed)s. EasyService is served by easyservice-apiserver through kube-apiserver.
  kubeconfig: ${ADMIN_KUBECONFIG}
  logs:       ${LOGS_DIR}/
  stop:       $(down_command)
Try:
  source ${LOCAL_UP_DIR}/env   # or: export KUBECONFIG=${ADMIN_KUBECONFIG} KUBECTL=${KUBECTL}
  \$KUBECTL get easyservices -A
  \$KUBECTL explain easyservice.spec
  \$KUBECTL get all
EOF
}

main_real() {
  begin "tools (hack/install-tools.sh packages kube etcd node crictl)"
  install_tools
  end
  begin "the node's images (hack/images.sh pause coredns)"
  node_images
  end
  begin "snapshot of the host (hack/local/host-state.sh)"
  host_snapshot
  end
  begin "the plane's network namespace, veth and cgroups"
  node_network
  end
  begin "PKI and kubeconfigs (go run ./hack/pki), the node's certificates"
  make_pki
  end
  begin "etcd (127.0.0.1:${ETCD_CLIENT_PORT} in the plane's namespace)" etcd
  start_etcds
  end
  begin "kube-apiserver (https://${NODE_IP}:${KUBE_APISERVER_PORT})" kube-apiserver
  start_kube_apiserver
  end
  begin "kube-controller-manager, kube-scheduler" kube-controller-manager kube-scheduler
  start_kube_controller_manager
  start_kube_scheduler
  end
  begin "containerd (${CONTAINERD_SOCKET}) with the node's images" containerd
  render_node_config
  start_containerd
  end
  begin "kubelet (node ${NODE_NAME}, ${NODE_IP}) and kube-proxy (iptables)" kubelet kube-proxy
  start_kubelet
  start_kube_proxy
  end
  begin "kubelet access, StorageClass, ${LOCAL_PVS} local PersistentVolumes, CoreDNS" kube-apiserver
  node_addons
  end
  begin "wait for the controllers, the node (Ready, untainted), kube-proxy, CoreDNS and the default ServiceAccount" \
    kube-controller-manager kube-scheduler kubelet kube-proxy
  wait_ready kube-controller-manager /healthz plane_http_ok -k "https://127.0.0.1:${KCM_PORT}/healthz"
  wait_ready kube-scheduler /healthz plane_http_ok -k "https://127.0.0.1:${SCHEDULER_PORT}/healthz"
  wait_node
  wait_default_service_account
  end
  write_env

  cat <<EOF

Local control plane with a real node up in $(elapsed)s.
  kubeconfig: ${ADMIN_KUBECONFIG} (kube-apiserver https://${NODE_IP}:${KUBE_APISERVER_PORT})
  node:       ${NODE_NAME}, ${NODE_IP}; pods ${POD_CIDR}; network namespace ${NETNS_FILE}
  logs:       ${LOGS_DIR}/
  stop:       $(down_command)
EasyService is not installed: install it into the node as into any cluster (no registry here: load the image).
  source ${LOCAL_UP_DIR}/env
  hack/docker.sh run make image IMAGE=easyservice/easyservice-apiserver:v0.1.0   # the tag artifacts/deploy uses
  hack/local/load-image.sh easyservice/easyservice-apiserver:v0.1.0              # docker save | ctr import, into the node
  make deploy
  \$KUBECTL get apiservices v1.app.easyservice.io
EOF
}

main "$@"
