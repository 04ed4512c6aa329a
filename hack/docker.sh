#!/usr/bin/env bash
# A private Docker engine for building images: Debian's dockerd (hack/install-tools.sh packages)
# with its own socket, pid file, exec-root and configuration, no bridge and no iptables rules
# (containers and builds use --network host), and a data-root in the tool cache so that BuildKit's
# cache and the stand-in base images survive between runs. It never touches a system Docker.
#
# Usage:
#   hack/docker.sh start        start it unless it runs; it keeps running until `stop`
#   hack/docker.sh stop         stop it (and its containerd); no-op when it does not run
#   hack/docker.sh status       exit 0 when it answers, 1 otherwise
#   hack/docker.sh env          print the variables a build needs, as `export` lines:
#                               eval "$(hack/docker.sh env)"; make image
#   hack/docker.sh run CMD...   run CMD with those variables, the engine started for it when it
#                               was not running; afterwards the engine is stopped again unless
#                               another `run` still uses it or someone `start`ed it. Scripts and
#                               make targets use this, so that no dockerd outlives them.
#
# The variables: DOCKER_HOST (the engine's socket), DOCKER_BUILDKIT=1 and DOCKER (the client to
# run: Debian's /usr/bin/docker, whose DOCKER_BUILDKIT=1 builds use BuildKit's built-in frontend;
# a newer client without buildx refuses BuildKit).
#
# A caller with an engine of its own sets DOCKER_HOST (and DOCKER, if `docker` is not its client):
# then start and stop do nothing, and env and run pass those through.
#
# Environment (optional):
#   EASYSERVICE_CACHE         the tool cache (default ~/.cache/easyservice): the data-root is
#                             <cache>/docker/data-root, the daemon's log <cache>/docker/dockerd.log
#   EASYSERVICE_DOCKER_RUN    the engine's runtime directory (socket, pid file, exec-root, locks;
#                             default /run/easyservice-docker)
set -o errexit -o nounset -o pipefail

CACHE_ROOT=${EASYSERVICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/easyservice}
DOCKER_DIR=${CACHE_ROOT}/docker
RUN_DIR=${EASYSERVICE_DOCKER_RUN:-/run/easyservice-docker}
SOCKET=${RUN_DIR}/docker.sock
PID_FILE=${RUN_DIR}/dockerd.pid
LOG_FILE=${DOCKER_DIR}/dockerd.log
# Debian's client (docker.io); the daemon is Debian's dockerd.
PRIVATE_CLIENT=/usr/bin/docker
DOCKERD=/usr/sbin/dockerd
START_TIMEOUT=60
STOP_TIMEOUT=30
# The containers' cgroups (builds' too) go below this one, not /docker (a system Docker's), so that
# `stop` can remove what the engine made.
CGROUP_PARENT=easyservice-docker

die() {
  echo "docker.sh: error: $*" >&2
  exit 1
}

# external: the caller brought its own engine (DOCKER_HOST naming ours, e.g. after
# eval "$(hack/docker.sh env)", is not another engine).
external() {
  [[ -n ${DOCKER_HOST:-} && ${DOCKER_HOST} != "unix://${SOCKET}" ]]
}

print_env() {
  if external; then
    printf 'export DOCKER_HOST=%q\n' "${DOCKER_HOST}"
    printf 'export DOCKER=%q\n' "${DOCKER:-docker}"
  else
    printf 'export DOCKER_HOST=%q\n' "unix://${SOCKET}"
    printf 'export DOCKER=%q\n' "${PRIVATE_CLIENT}"
  fi
  echo 'export DOCKER_BUILDKIT=1'
}

daemon_pid() {
  local pid
  [[ -f ${PID_FILE} ]] || return 1
  pid=$(<"${PID_FILE}")
  if [[ -z ${pid} ]] || ! kill -0 "${pid}" 2>/dev/null; then
    return 1
  fi
  # A stale pid file may name a reused pid: it must be our dockerd.
  [[ $(readlink "/proc/${pid}/exe" 2>/dev/null) == "${DOCKERD}" ]] || return 1
  echo "${pid}"
}

answers() {
  "${PRIVATE_CLIENT}" -H "unix://${SOCKET}" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# with_lock <name> <command...>: run the command holding the exclusive lock <name> (start and stop
# of the daemon are serialized, so two callers never start two daemons on one socket).
with_lock() {
  local name=$1 fd rc=0
  shift
  exec {fd}>"${RUN_DIR}/${name}.lock"
  flock "${fd}"
  "$@" || rc=$?
  exec {fd}>&-
  return "${rc}"
}

# close_fds_and_exec <command...>: exec the command with only stdin, stdout and stderr open.
close_fds_and_exec() {
  local fd
  for fd in /proc/self/fd/*; do
    fd=${fd##*/}
    if ((fd > 2)); then
      eval "exec ${fd}>&-"
    fi
  done
  exec "$@"
}

start_daemon() {
  local pid deadline
  if daemon_pid >/dev/null && answers; then
    return 0
  fi
  ((EUID == 0)) || die "starting a private dockerd needs root; or set DOCKER_HOST to an engine of yours"
  [[ -x ${DOCKERD} && -x ${PRIVATE_CLIENT} ]] ||
    die "${DOCKERD} or ${PRIVATE_CLIENT} missing: run hack/install-tools.sh packages (as root)"
  # A daemon that was killed leaves its socket and pid file: they would make dockerd refuse.
  if pid=$(daemon_pid); then
    die "dockerd ${pid} runs but does not answer on ${SOCKET}; see ${LOG_FILE}"
  fi
  rm -f "${SOCKET}" "${PID_FILE}"
  mkdir -p "${DOCKER_DIR}/data-root" "${RUN_DIR}/exec"
  # Our own configuration: /etc/docker/daemon.json belongs to the machine's engine, and so does
  # /etc/docker/key.json, the engine's identity (dockerd 20.10 creates it where this points).
  printf '{"deprecated-key-path": "%s"}\n' "${DOCKER_DIR}/key.json" >"${RUN_DIR}/daemon.json"
  echo "docker.sh: starting dockerd on ${SOCKET} (data-root ${DOCKER_DIR}/data-root, log ${LOG_FILE})" >&2
  # setsid: its own session, so a Ctrl-C of the caller does not reach it before `stop` does.
  # No bridge (docker0 would be 172.17/16) and no iptables rules: builds and containers use the
  # host's network (--network host) or none.
  # It inherits no open file: a lock of ours held by dockerd would never be released.
  close_fds_and_exec setsid "${DOCKERD}" \
    --config-file "${RUN_DIR}/daemon.json" \
    --host "unix://${SOCKET}" \
    --pidfile "${PID_FILE}" \
    --exec-root "${RUN_DIR}/exec" \
    --data-root "${DOCKER_DIR}/data-root" \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
    --cgroup-parent="${CGROUP_PARENT}" \
    </dev/null >"${LOG_FILE}" 2>&1 &
  deadline=$((SECONDS + START_TIMEOUT))
  until answers; do
    if ! kill -0 $! 2>/dev/null; then
      tail -n 20 "${LOG_FILE}" >&2
      die "dockerd exited; log: ${LOG_FILE}"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 20 "${LOG_FILE}" >&2
      kill $! 2>/dev/null || true
      die "dockerd did not answer within ${START_TIMEOUT}s; log: ${LOG_FILE}"
    fi
    sleep 0.2
  done
}

stop_daemon() {
  local pid deadline
  rm -f "${RUN_DIR}/keep"
  pid=$(daemon_pid) || {
    rm -f "${SOCKET}" "${PID_FILE}"
    return 0
  }
  echo "docker.sh: stopping dockerd ${pid}" >&2
  # SIGTERM: dockerd stops its containers and its containerd, then exits.
  kill -TERM "${pid}"
  deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "${pid}" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "docker.sh: dockerd ${pid} still runs after ${STOP_TIMEOUT}s: SIGKILL" >&2
      kill -KILL "${pid}" 2>/dev/null || true
    fi
    sleep 0.2
  done
  rm -f "${SOCKET}" "${PID_FILE}"
  # The engine leaves its (now empty) cgroup parent in every hierarchy: rmdir removes only empty
  # ones, children first.
  find /sys/fs/cgroup -depth -type d -path "*/${CGROUP_PARENT}*" -exec rmdir {} + 2>/dev/null || true
}

cmd_run() {
  local users stdin child rc
  (($# > 0)) || die "usage: hack/docker.sh run CMD..."
  if external; then
    (eval "$(print_env)" && "$@")
    return
  fi
  mkdir -p "${RUN_DIR}"
  # Every `run` holds users.lock shared while its command runs; the last one to finish gets it
  # exclusively and stops the engine (unless an explicit `start` wants it kept).
  exec {users}>"${RUN_DIR}/users.lock"
  flock -s "${users}"
  with_lock daemon start_daemon
  # The command does not inherit the lock: a daemon it leaves behind must not keep the engine up.
  # It runs in the background (stdin passed on) so that an INT or TERM of ours reaches it and we
  # still stop the engine afterwards.
  exec {stdin}<&0
  (eval "$(print_env)" && exec "$@" {users}>&- <&"${stdin}" {stdin}<&-) &
  child=$!
  exec {stdin}<&-
  trap 'kill -TERM "${child}" 2>/dev/null || true' INT TERM
  while :; do
    rc=0
    wait "${child}" || rc=$?
    kill -0 "${child}" 2>/dev/null || break
  done
  trap - INT TERM
  exec {users}>&-
  exec {users}>"${RUN_DIR}/users.lock"
  if flock -x -n "${users}" && [[ ! -e ${RUN_DIR}/keep ]]; then
    with_lock daemon stop_daemon
  fi
  exec {users}>&-
  return "${rc}"
}

main() {
  (($# > 0)) || die "usage: hack/docker.sh start|stop|status|env|run CMD..."
  local cmd=$1
  shift
  case ${cmd} in
    start)
      if ! external; then
        mkdir -p "${RUN_DIR}"
        with_lock daemon start_daemon
        touch "${RUN_DIR}/keep"
      fi
      print_env
      ;;
    stop)
      external && return 0
      [[ -d ${RUN_DIR} ]] || return 0
      with_lock daemon stop_daemon
      ;;
    status)
      if external; then
        "${DOCKER:-docker}" version --format '{{.Server.Version}}' >/dev/null 2>&1
      else
        answers
      fi
      ;;
    env) print_env ;;
    run) cmd_run "$@" ;;
    *) die "unknown command '${cmd}' (start|stop|status|env|run)" ;;
  esac
}

main "$@"
