#!/usr/bin/env bash
# Builds and runs the real Dockerfile where Docker Hub cannot be reached: a Debian base made with
# debootstrap plus the Deno binary from npm stands in for denoland/deno:debian, then the image is
# built, started, and checked: healthy, yt-dlp installed on first start, the fork server warm, a
# download served (after logging in, as the image turns logins on).
#
#   sudo tools/docker_local.sh            # needs root (debootstrap, dockerd), Debian's mirror, npm
#
# Environment: DENO_VERSION (2.9.6), MIRROR (http://deb.debian.org/debian), PORT (18765),
# YTDLP_PIP_INDEX (passed to the container; PyPI when unset), KEEP=1 keeps the container,
# CLUSTER=1 then also runs the compose file's cluster profile by hand (an API container and two
# worker containers on one volume, with the host's redis-server standing in for redis:7) and
# downloads through it.
set -euo pipefail
cd "$(dirname "$0")/.."

DENO_VERSION=${DENO_VERSION:-2.9.6}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PORT=${PORT:-18765}
BASE=local/deno-base:${DENO_VERSION}
IMAGE=ytdl-live:local
NAME=ytdl-live-check
work=$(mktemp -d)
cleanup() {
  [ -f "$work/http.pid" ] && kill "$(cat "$work/http.pid")" 2>/dev/null
  [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null
  rm -rf "$work"
  [ "${KEEP:-}" = 1 ] || docker rm -f "$NAME" "$NAME-api" "$NAME-worker1" "$NAME-worker2" >/dev/null 2>&1 || true
}
trap cleanup EXIT

need=()
command -v docker >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# A daemon that needs neither iptables nor a bridge: containers use the host's network.
if ! docker info >/dev/null 2>&1; then
  echo "starting dockerd"
  (dockerd --iptables=false --bridge=none >/var/log/dockerd-local.log 2>&1 &)
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null
fi

if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  echo "making $BASE with debootstrap (Debian bookworm) and Deno ${DENO_VERSION} from npm"
  debootstrap --variant=minbase bookworm "$work/rootfs" "$MIRROR" >"$work/debootstrap.log"
  (cd "$work" && npm pack --silent "@deno/linux-x64-glibc@${DENO_VERSION}" >/dev/null && tar xzf deno-linux-x64-glibc-*.tgz)
  install -m 0755 "$work/package/deno" "$work/rootfs/usr/bin/deno"
  # The official image's user and cache directory.
  chroot "$work/rootfs" groupadd --gid 1993 deno
  chroot "$work/rootfs" useradd --uid 1993 --gid deno --create-home deno
  mkdir -p "$work/rootfs/deno-dir" && chroot "$work/rootfs" chown deno:deno /deno-dir
  # A build machine behind a TLS-inspecting proxy: its extra CAs go into the stand-in base (the
  # Dockerfile's ca-certificates install picks them up) and Deno and pip are told to use them.
  changes=(--change 'ENV DENO_DIR=/deno-dir')
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$work/rootfs/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$work/rootfs/usr/local/share/ca-certificates/"
    changes+=(--change 'ENV DENO_TLS_CA_STORE=system'
      --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt'
      --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt')
  fi
  tar -C "$work/rootfs" -c . | docker import "${changes[@]}" - "$BASE" >/dev/null
fi

echo "building $IMAGE"
docker build --network host --build-arg "BASE=$BASE" -t "$IMAGE" . >"$work/build.log" 2>&1 ||
  { tail -30 "$work/build.log"; exit 1; }

# A small media file on the host's loopback for the download check.
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=size=160x120:rate=10:duration=2 \
  -c:v libx264 -pix_fmt yuv420p "$work/clip.mp4"
python3 -m http.server --bind 127.0.0.1 --directory "$work" 18766 >/dev/null 2>&1 &
echo $! >"$work/http.pid"

docker rm -f "$NAME" >/dev/null 2>&1 || true
docker volume rm -f ytdl-live-check >/dev/null 2>&1 || true
# The image listens on 0.0.0.0, so logins are on (AUTH_MODE=password): the check logs in.
password=$(head -c 18 /dev/urandom | base64)
docker run -d --name "$NAME" --network host -v ytdl-live-check:/data \
  -e PORT="$PORT" -e ALLOWED_PRIVATE_NETWORKS=127.0.0.1/32 -e ADMIN_PASSWORD="$password" \
  ${YTDLP_PIP_INDEX:+-e YTDLP_PIP_INDEX="$YTDLP_PIP_INDEX"} "$IMAGE" >/dev/null

# Waits until a container's HEALTHCHECK passes (up to ten minutes); shows its log and fails if not.
wait_healthy() {
  local status=starting
  for _ in $(seq 120); do
    status=$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null || echo gone)
    [ "$status" = healthy ] || [ "$status" = gone ] && break
    sleep 5
  done
  [ "$status" = healthy ] || { docker logs "$1" 2>&1 | tail -30; exit 1; }
}

echo "waiting for the container to be healthy (the first start installs yt-dlp)"
wait_healthy "$NAME"
curl -fsS "http://127.0.0.1:$PORT/healthz"; echo

jar="$work/cookies"
curl -fsS -c "$jar" -X POST "http://127.0.0.1:$PORT/auth/login" -H 'content-type: application/json' \
  -H "origin: http://127.0.0.1:$PORT" -d "{\"password\":\"$password\"}"
api() { curl -fsS -b "$jar" -H "origin: http://127.0.0.1:$PORT" "$@"; }
fork=$(api "http://127.0.0.1:$PORT/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["fork_server"]["state"])')
[ "$fork" = ready ] || { echo "fork server: $fork"; docker logs "$NAME" | tail -30; exit 1; }

task=$(api -X POST "http://127.0.0.1:$PORT/api/v1/download" -H 'content-type: application/json' \
  -d '{"url":"http://127.0.0.1:18766/clip.mp4"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["task_id"])')
for _ in $(seq 60); do
  status=$(api "http://127.0.0.1:$PORT/api/v1/download/$task" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  case "$status" in completed | failed | cancelled) break ;; esac
  sleep 1
done
[ "$status" = completed ] || { api "http://127.0.0.1:$PORT/api/v1/download/$task"; exit 1; }
api -o "$work/got.mp4" "http://127.0.0.1:$PORT/api/v1/download/$task/file"
cmp "$work/clip.mp4" "$work/got.mp4"
echo "ok: image builds, runs as $(docker exec "$NAME" id -un), is healthy with a warm fork server, and downloads byte-exact"

[ "${CLUSTER:-}" = 1 ] || exit 0
# The cluster profile of compose.yaml, by hand: its environment, the host's network (each node
# on its own port, so that every container's HEALTHCHECK reaches its own /healthz).
redis-server --port 18767 --bind 127.0.0.1 --save "" --appendonly yes --dir "$work" >/dev/null &
echo $! >"$work/redis.pid"
docker volume rm -f ytdl-cluster-check >/dev/null 2>&1 || true
node() { # name port role
  docker rm -f "$NAME-$1" >/dev/null 2>&1 || true
  docker run -d --name "$NAME-$1" --network host -v ytdl-cluster-check:/data -e PORT="$2" \
    -e QUEUE_BACKEND=redis -e REDIS_URL=redis://127.0.0.1:18767 -e ROLE="$3" \
    -e YTDLP_HOME=/deno-dir/yt-dlp -e ALLOWED_PRIVATE_NETWORKS=127.0.0.1/32 \
    -e ADMIN_PASSWORD="$password" ${YTDLP_PIP_INDEX:+-e YTDLP_PIP_INDEX="$YTDLP_PIP_INDEX"} \
    "$IMAGE" >/dev/null
}
node api 18768 api
node worker1 18769 worker
node worker2 18770 worker
echo "waiting for the cluster's three containers to be healthy"
for name in api worker1 worker2; do wait_healthy "$NAME-$name"; done
curl -fsS "http://127.0.0.1:18769/healthz" | python3 -c 'import json,sys; c=json.load(sys.stdin)["cluster"]; assert c["role"] == "worker" and c["redis"] == "ok", c'
jar="$work/cluster-cookies"
curl -fsS -c "$jar" -X POST "http://127.0.0.1:18768/auth/login" -H 'content-type: application/json' \
  -H "origin: http://127.0.0.1:18768" -d "{\"password\":\"$password\"}"
capi() { curl -fsS -b "$jar" -H "origin: http://127.0.0.1:18768" "$@"; }
task=$(capi -X POST "http://127.0.0.1:18768/api/v1/download" -H 'content-type: application/json' \
  -d '{"url":"http://127.0.0.1:18766/clip.mp4"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["task_id"])')
for _ in $(seq 60); do
  status=$(capi "http://127.0.0.1:18768/api/v1/download/$task" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  case "$status" in completed | failed | cancelled) break ;; esac
  sleep 1
done
[ "$status" = completed ] || { capi "http://127.0.0.1:18768/api/v1/download/$task"; exit 1; }
capi -o "$work/cluster.mp4" "http://127.0.0.1:18768/api/v1/download/$task/file"
cmp "$work/clip.mp4" "$work/cluster.mp4"
ran=$(for w in worker1 worker2; do docker logs "$NAME-$w" 2>&1 | grep -q "$task" && echo "$w"; done; true)
echo "ok: cluster of an API container and two workers on one volume is healthy; $ran downloaded byte-exact"
