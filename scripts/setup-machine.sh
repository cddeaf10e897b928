#!/usr/bin/env bash
# Prepares a fresh Debian machine for flotilla's tests (run as root). Idempotent:
# every step checks first and does nothing when its work is already done.
#
#  1. installs Debian's docker.io, busybox-static, iptables, docker-compose,
#     haproxy and wrk (the peer and the load generator of `npm run bench:mesh`),
#     iproute2, prometheus, and chromium with fonts-dejavu-core (the headless
#     browser the console tests drive through playwright-core) when missing;
#     HAProxy must not run as a system service (the bench runs its own
#     instance): one the package started is stopped and disabled;
#  2. starts dockerd in the background (log: /var/log/dockerd.log) when no engine
#     answers, and waits, bounded, until one does;
#  3. builds the offline test image flotilla/busybox:test with `docker import`
#     when it is absent: no image registry is reachable, nothing may be pulled.
#
# Environment: DOCKER_WAIT_SECONDS (default 60) bounds the wait for the engine;
# FLOTILLA_TEST_IMAGE (default flotilla/busybox:test) names the image.
set -euo pipefail

IMAGE="${FLOTILLA_TEST_IMAGE:-flotilla/busybox:test}"
WAIT_SECONDS="${DOCKER_WAIT_SECONDS:-60}"
DOCKERD_LOG=/var/log/dockerd.log

log() { echo "== setup-machine: $*"; }

# --- 1. packages -------------------------------------------------------------
# A docker CLI may exist without an engine (e.g. a static client in
# /usr/local/bin), so look for each package's own file, not just `docker`.
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
# busybox-static ships /bin/busybox as a static binary: the image needs no libc.
if ! dpkg -s busybox-static >/dev/null 2>&1; then missing+=(busybox-static); fi
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
# The multi-host cluster of flotilla containers (docker-compose.test.yml).
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
# bench:mesh: HAProxy as the load-balancer peer, wrk as the load generator.
[[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
# The data plane adds each node's DNS address and virtual IPs to lo with iproute2's `ip`.
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
# The metrics test: a real Prometheus scrapes the daemons, promtool checks their output.
[[ -x /usr/bin/prometheus && -x /usr/bin/promtool ]] || missing+=(prometheus)
# The console tests: Debian's chromium, headless, driven by playwright-core (never a downloaded browser), and DejaVu
# named outright, so that screenshots render their text in the same font everywhere (fontconfig takes any of several).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if ! dpkg -s fonts-dejavu-core >/dev/null 2>&1; then missing+=(fonts-dejavu-core); fi
if ((${#missing[@]} > 0)); then
  log "installing ${missing[*]} (Debian)"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "docker.io, busybox-static, iptables, docker-compose, haproxy, wrk, iproute2, prometheus, chromium and fonts-dejavu-core are installed"
fi

# Debian's haproxy package enables and starts its service where an init system
# lets it (systemd; a container's policy-rc.d usually forbids it). bench:mesh
# runs its own HAProxy with its own config, so the system one must not run: the
# service's pid file is /run/haproxy.pid (both the systemd unit and the init
# script), which tells it from any other haproxy process.
if [[ -d /run/systemd/system ]] && systemctl is-enabled --quiet haproxy 2>/dev/null; then
  log "disabling the haproxy system service (bench:mesh runs its own)"
  systemctl disable --now haproxy >/dev/null 2>&1 || systemctl stop haproxy || true
fi
if [[ -s /run/haproxy.pid ]] && kill -0 "$(head -n1 /run/haproxy.pid)" 2>/dev/null; then
  log "stopping the haproxy system service (bench:mesh runs its own)"
  if [[ -d /run/systemd/system ]]; then
    systemctl stop haproxy || true
  else
    service haproxy stop >/dev/null 2>&1 || true
  fi
  # Still there (no service manager that knows it): end that process, by its pid file only.
  if [[ -s /run/haproxy.pid ]] && kill -0 "$(head -n1 /run/haproxy.pid)" 2>/dev/null; then
    kill "$(head -n1 /run/haproxy.pid)" || true
  fi
fi

# Debian's prometheus package enables its service where systemd runs; the metrics test starts its own Prometheus
# on a loopback address with its own config, and the system one (0.0.0.0:9090) has nothing to do here.
if [[ -d /run/systemd/system ]] && systemctl is-enabled --quiet prometheus 2>/dev/null; then
  log "disabling the prometheus system service (the metrics test runs its own)"
  systemctl disable --now prometheus >/dev/null 2>&1 || systemctl stop prometheus || true
fi

# --- 2. engine ----------------------------------------------------------------
engine_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if engine_answers; then
  log "docker engine answers (server $(docker version --format '{{.Server.Version}}'))"
else
  log "starting dockerd in the background (log: $DOCKERD_LOG)"
  # setsid + nohup: the engine must outlive this script and the CI step's shell.
  setsid nohup dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
  deadline=$((SECONDS + WAIT_SECONDS))
  until engine_answers; do
    if ((SECONDS >= deadline)); then
      echo "setup-machine: the docker engine did not answer within ${WAIT_SECONDS}s; last lines of $DOCKERD_LOG:" >&2
      tail -n 30 "$DOCKERD_LOG" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
  log "docker engine answers (server $(docker version --format '{{.Server.Version}}'))"
fi

# --- 3. offline test image ----------------------------------------------------
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "image $IMAGE is present"
else
  log "building $IMAGE offline from busybox-static"
  BUSYBOX=/bin/busybox
  if [[ ! -x $BUSYBOX ]]; then BUSYBOX="$(command -v busybox)"; fi
  root="$(mktemp -d)"
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/root" "$root/var/www"
  chmod 1777 "$root/tmp"
  cp "$BUSYBOX" "$root/bin/busybox"
  applets="$("$BUSYBOX" --list)"
  for applet in sh ls echo sleep cat wget nc httpd hostname ip ps kill true false env test printf \
    head tail grep sed sync touch rm mkdir id whoami date dd yes seq wc tr cut sort uniq \
    stat chmod chown ln mv cp pwd uname free top nslookup ping timeout; do
    # Link only what this busybox build has: a dangling applet would mislead.
    if grep -qx "$applet" <<<"$applets"; then ln -s busybox "$root/bin/$applet"; fi
  done
  # A minimal user database so `--user nobody` and `id`/`whoami` work.
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/bin' \
    --change 'CMD ["sh"]' \
    - "$IMAGE" >/dev/null
  rm -rf "$root"
  trap - EXIT
fi

out="$(docker run --rm "$IMAGE" sh -c 'echo ok')"
if [[ $out != ok ]]; then
  echo "setup-machine: $IMAGE does not run (got: $out)" >&2
  exit 1
fi
log "ready: $IMAGE runs"
