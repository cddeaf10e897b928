#!/bin/sh
# Entrypoint of the nodes of docker-compose.test.yml (POSIX sh: busybox in
# flotilla:local, dash in the Dockerfile's image).
#
# A node keeps its identity in its data dir, so a container that restarts
# (docker start after a kill, docker restart) must resume with
# `flotilla daemon`, not init or join again: when DATA_DIR/node.json exists,
# the given command is ignored and the daemon restarts from the data dir.
# Otherwise the given command (init ... or join --token ...) runs.
set -eu

NODE=/usr/local/bin/node
CLI=/app/bin/flotilla.js
DATA_DIR="${FLOTILLA_DATA_DIR:-/data}"

if [ -f "$DATA_DIR/node.json" ]; then
  echo "compose-entrypoint: $DATA_DIR holds a node: restarting it with 'flotilla daemon'" >&2
  exec "$NODE" "$CLI" daemon --data-dir "$DATA_DIR"
fi

if [ $# -eq 0 ]; then
  echo "compose-entrypoint: $DATA_DIR holds no node and no command was given (init ... or join --token TOKEN ... MANAGER)" >&2
  exit 2
fi

# docker-compose substitutes an unset token with '': say where it comes from.
prev=
for arg in "$@"; do
  if [ "$prev" = "--token" ] && [ -z "$arg" ]; then
    echo "compose-entrypoint: empty --token: set FLOTILLA_WORKER_TOKEN / FLOTILLA_MANAGER_TOKEN in the environment of 'docker-compose up' (get them on m1: flotilla join-token worker -q)" >&2
    exit 2
  fi
  prev=$arg
done

exec "$NODE" "$CLI" "$@"
