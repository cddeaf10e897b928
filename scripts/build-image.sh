#!/usr/bin/env bash
# Builds the image flotilla:local with no image registry (offline), for
# docker-compose.test.yml and the container-level tests. Idempotent: when the
# image already holds exactly these inputs it does nothing.
#
# The rootfs is assembled by hand and `docker import`ed:
#   /usr/local/bin/node         this host's node binary, and the shared libraries
#                               `ldd` lists for it (with the dynamic loader)
#   /bin/busybox + applets      a shell and the usual tools (busybox-static)
#   /etc/passwd, group, nsswitch.conf
#   /app                        package.json, bin/, proto/, dist/src/ and the
#                               production dependencies (node_modules pruned of
#                               devDependencies in a temporary copy)
#   /usr/local/bin/flotilla     the CLI (`docker exec NODE flotilla node ls`)
#   /data                       the data dir (a volume in the compose file)
# ENTRYPOINT is `node /app/bin/flotilla.js`; the compose file overrides it with
# /app/bin/compose-entrypoint.sh (init/join the first time, daemon afterwards).
#
# dist/ is (re)built with `npx tsc -p tsconfig.json` when it is missing or older
# than a file in src/.
#
# Environment: FLOTILLA_IMAGE (default flotilla:local) names the image;
# FORCE=1 rebuilds even when the image is up to date.
set -euo pipefail
SCRIPT="$(readlink -f "$0")"
cd "$(dirname "$SCRIPT")/.."
ROOT="$PWD"
IMAGE="${FLOTILLA_IMAGE:-flotilla:local}"

log() { echo "== build-image: $*"; }
die() {
  echo "build-image: $*" >&2
  exit 1
}

command -v docker >/dev/null 2>&1 || die "no docker CLI: run scripts/setup-machine.sh (as root) first"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "no Docker engine answers: run scripts/setup-machine.sh (as root) first"
[[ -d node_modules ]] || die "node_modules is missing: run npm ci first"

NODE_BIN="$(readlink -f "$(command -v node)")"
BUSYBOX=/bin/busybox
[[ -x $BUSYBOX ]] || BUSYBOX="$(command -v busybox || true)"
[[ -n $BUSYBOX && -x $BUSYBOX ]] || die "busybox is missing: apt-get install busybox-static"
if ldd "$BUSYBOX" >/dev/null 2>&1; then die "$BUSYBOX is dynamically linked: install busybox-static"; fi

# --- 1. dist ---------------------------------------------------------------------
MAIN_JS=dist/src/cli/main.js
if [[ ! -f $MAIN_JS ]] || [[ -n "$(find src -name '*.ts' -newer "$MAIN_JS" -print -quit)" ]]; then
  log "dist/ is missing or older than src/: node scripts/gen-api.js && npx tsc -p tsconfig.json && node scripts/build-web.js"
  node scripts/gen-api.js && npx tsc -p tsconfig.json && node scripts/build-web.js || die "the TypeScript build failed: fix it, then run this script again"
else
  log "dist/ is up to date"
fi

# --- 2. up to date? ------------------------------------------------------------
# One digest over everything that goes into the image (and this script).
inputs_digest() {
  {
    sha256sum "$NODE_BIN" "$BUSYBOX" "$SCRIPT" package.json package-lock.json
    find dist/src bin proto -type f -print0 | sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-16
}
DIGEST="$(inputs_digest)"
current="$(docker image inspect "$IMAGE" --format '{{index .Config.Labels "com.flotilla.build.digest"}}' 2>/dev/null || true)"
if [[ ${FORCE:-0} != 1 && $current == "$DIGEST" ]]; then
  log "$IMAGE is up to date (inputs $DIGEST)"
else
  old_id="$(docker image inspect "$IMAGE" --format '{{.Id}}' 2>/dev/null || true)"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  rootfs="$work/rootfs"
  mkdir -p "$rootfs"/{bin,usr/bin,usr/local/bin,etc,tmp,root,data,app}
  chmod 1777 "$rootfs/tmp"

  # --- 3. node and its libraries ---------------------------------------------------
  log "node $("$NODE_BIN" --version) from $NODE_BIN"
  cp "$NODE_BIN" "$rootfs/usr/local/bin/node"
  # ldd lines: "libx.so => /path (addr)", "/lib64/ld-linux-x86-64.so.2 (addr)", "linux-vdso.so.1 (addr)".
  while read -r lib; do
    [[ -n $lib ]] || continue
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
    echo "   lib $lib"
  done < <(ldd "$NODE_BIN" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)

  # --- 4. busybox ------------------------------------------------------------------
  cp "$BUSYBOX" "$rootfs/bin/busybox"
  n=0
  while read -r applet; do
    [[ -n $applet && $applet != busybox && ! -e $rootfs/bin/$applet ]] || continue
    ln -s busybox "$rootfs/bin/$applet"
    n=$((n + 1))
  done < <("$BUSYBOX" --list)
  ln -s /bin/busybox "$rootfs/usr/bin/env"
  log "busybox with $n applets"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"

  # --- 5. the app --------------------------------------------------------------------
  app="$rootfs/app"
  cp package.json package-lock.json "$app/"
  cp -a bin proto "$app/"
  mkdir -p "$app/dist"
  cp -a dist/src "$app/dist/src"
  chmod 0755 "$app/bin/flotilla.js" "$app/bin/compose-entrypoint.sh"
  ln -s /app/bin/flotilla.js "$rootfs/usr/local/bin/flotilla"
  # Production dependencies: prune a copy (offline), never the checkout's node_modules.
  log "production dependencies (npm prune --omit=dev on a copy of node_modules)"
  cp -a node_modules "$app/node_modules"
  (cd "$app" && npm prune --omit=dev --offline --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) ||
    die "npm prune --omit=dev failed on the copy of node_modules"
  rm -f "$app/package-lock.json"
  log "app: $(du -sh "$app" | cut -f1) (node_modules $(du -sh "$app/node_modules" | cut -f1))"

  # --- 6. import ---------------------------------------------------------------------
  log "docker import -> $IMAGE"
  tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -c . | docker import \
    --change 'ENTRYPOINT ["/usr/local/bin/node", "/app/bin/flotilla.js"]' \
    --change 'CMD ["help"]' \
    --change 'WORKDIR /app' \
    --change 'ENV PATH=/usr/local/bin:/bin' \
    --change 'ENV NODE_ENV=production' \
    --change 'ENV FLOTILLA_DATA_DIR=/data' \
    --change 'EXPOSE 4242' \
    --change "LABEL com.flotilla.build.digest=$DIGEST" \
    --message "flotilla (offline build, inputs $DIGEST)" \
    - "$IMAGE" >/dev/null
  rm -rf "$work"
  trap - EXIT
  # The previous build, now untagged: remove it unless a container still uses it.
  new_id="$(docker image inspect "$IMAGE" --format '{{.Id}}')"
  if [[ -n $old_id && $old_id != "$new_id" ]]; then docker image rm "$old_id" >/dev/null 2>&1 || true; fi
fi

# --- 7. verify ---------------------------------------------------------------------
out="$(docker run --rm "$IMAGE" version)" || die "$IMAGE does not run: docker run --rm $IMAGE version failed"
log "docker run --rm $IMAGE version: $out"
docker run --rm --entrypoint /usr/local/bin/node "$IMAGE" -e "require('/app/node_modules/classic-level'); require('/app/node_modules/@grpc/grpc-js')" ||
  die "$IMAGE cannot load its native LevelDB binding or gRPC"
docker run --rm --entrypoint /bin/sh "$IMAGE" -c 'test -x /app/bin/compose-entrypoint.sh' || die "$IMAGE lacks /app/bin/compose-entrypoint.sh"
log "ready: $IMAGE ($(docker image inspect "$IMAGE" --format '{{.Size}}' | awk '{ printf "%.0f MB", $1 / 1000000 }'))"
