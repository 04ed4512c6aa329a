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
# Environment (all optional):
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
# Outputs in LOCAL_UP_DIR: admin.kubeconfig (system:masters), easyservice-apiserver.kubeconfig
# (the server's identity), env (source it: exports KUBECONFIG, KUBECTL and the ports),
# logs/<component>.log, pids/<component>.pid, logs/kube-apiserver-audit.log (kube-apiserver's audit
# log, one JSON audit.k8s.io/v1 Event a line, written by hack/local/audit-policy.yaml: the requests
# of the user system:serviceaccount:easyservice-system:easyservice-apiserver only, at Metadata
# level, whatever ES_IDENTITY is; new for every local-up, never rotated; test/e2e reads it to judge
# the install's RBAC by what the server did), pki/ (the cluster's certificates), install/ (the
# install's certificates from hack/gen-certs: install/pki/*.crt|key, the Secrets and the caBundle
# Component), and etcd/ (the data, made fresh by every local-up: each local-up is a new cluster;
# pki/ and install/ are kept and reused).
#
# A local-up refuses (exit 1) while a control plane of the same LOCAL_UP_DIR runs, and when one of
# its ports is taken. On failure it prints the end of the failing component's log and stops what it
# started.
set -o errexit -o nounset -o pipefail

# shellcheck source=hack/local/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/local/common.sh"
cd "${REPO_ROOT}"

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

# Fixed addressing of the local cluster.
SERVICE_CIDR=10.0.0.0/16
# kube-apiserver's advertised address (the "kubernetes" Service's endpoint): must not be loopback;
# TEST-NET-2, nothing listens there.
ADVERTISE_ADDRESS=198.51.100.10
SERVICE_ACCOUNT_ISSUER=https://kubernetes.default.svc.cluster.local
# For kube-apiserver and easyservice-apiserver: on SIGTERM, end open watches within 2 s and give the
# HTTP server 2 s (instead of the 60 s request timeout) to close its connections, so that a
# local-down with clients still watching (kubectl get -w, a test's informers) does not hang.
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
    stop_all >&2 || true
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
  local launcher=()
  if command -v setsid >/dev/null; then launcher=(setsid); fi
  # The inner bash closes every inherited file descriptor but 0-2 (so the component keeps no pipe
  # of the caller open), writes its pid, and execs the binary.
  # shellcheck disable=SC2016 # $$, $f, $n and $@ are for the inner bash
  "${launcher[@]}" bash -c '
    for f in /proc/$$/fd/*; do n=${f##*/}; if ((n > 2)); then eval "exec ${n}>&-" 2>/dev/null || true; fi; done
    echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "${pidf}" "${bin}" "$@" \
    </dev/null >>"${log}" 2>&1 {LOCK_FD}>&- {STDOUT_FD}>&- {STDERR_FD}>&- &
  LAUNCH_PID=$!
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
  if [[ -z ${ES_ETCD_TLS_PORT} ]]; then ES_ETCD_TLS_PORT=$(free_port) || die "found no free port for ES_ETCD_TLS_PORT"; fi
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
  hack/install-tools.sh kube etcd kwok | indent
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
  mkdir -p "${LOCAL_UP_DIR}/certs/kube-apiserver"
  rm -f "${AUDIT_LOG}"
  start_component kube-apiserver "${KUBE_DIR}/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:${ETCD_CLIENT_PORT}" \
    --bind-address=127.0.0.1 \
    --secure-port="${KUBE_APISERVER_PORT}" \
    --advertise-address="${ADVERTISE_ADDRESS}" \
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
    --enable-admission-plugins=OwnerReferencesPermissionEnforcement \
    --audit-policy-file="${REPO_ROOT}/hack/local/audit-policy.yaml" \
    --audit-log-path="${AUDIT_LOG}" \
    --audit-log-maxsize=0 \
    "${FAST_SHUTDOWN_FLAGS[@]}"
  wait_ready kube-apiserver /readyz http_ok --cacert "${PKI_DIR}/ca.crt" \
    --cert "${PKI_DIR}/admin.crt" --key "${PKI_DIR}/admin.key" \
    "https://127.0.0.1:${KUBE_APISERVER_PORT}/readyz"
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
    --node-ip=172.30.255.254 \
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
# place of the pod's (test/e2e/install_test.go checks the running server's command line by the
# same table):
#   --secure-port                              8443 -> ES_PORT
#   --tls-cert-file, --tls-private-key-file    Secret easyservice-apiserver-tls -> install/pki
#   --etcd-servers                             https://easyservice-etcd-client...:2379 -> https://127.0.0.1:ES_ETCD_TLS_PORT
#   --etcd-cafile, --etcd-certfile, --etcd-keyfile   Secret easyservice-etcd-client-tls -> install/pki
# and with these added, which a pod needs not: --bind-address=127.0.0.1; --kubeconfig,
# --authentication-kubeconfig and --authorization-kubeconfig (in a pod: the in-cluster config, the
# ServiceAccount's token); FAST_SHUTDOWN_FLAGS.
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
    "${FAST_SHUTDOWN_FLAGS[@]}"
  )
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
      "s|@NODE_IP@|172.30.$((i / 250)).$((i % 250 + 1))|g"
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
    printf 'export ES_IDENTITY=%q\n' "${ES_IDENTITY}"
    printf 'export KUBE_APISERVER_AUDIT_LOG=%q\n' "${AUDIT_LOG}"
    for v in "${PORT_VARS[@]}"; do printf 'export %s=%q\n' "${v}" "${!v}"; done
  } >"${LOCAL_UP_DIR}/env.tmp"
  mv "${LOCAL_UP_DIR}/env.tmp" "${LOCAL_UP_DIR}/env"
}

# ---------------------------------------------------------------------------------------------
main() {
  check_settings
  check_not_running
  echo "local-up: LOCAL_UP_DIR=${LOCAL_UP_DIR}"

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

main "$@"
