#!/usr/bin/env bash
# Follows the README's quick start on a fresh Debian 12 (a debootstrap chroot): runs its
# prerequisites line exactly as written, then `deno task dev` until /healthz answers, then
# `deno task test`. Nothing of this machine's own Deno, Python or yt-dlp is visible inside.
#
#   sudo tools/fresh_machine_check.sh        # needs root, Debian's mirror, npm and PyPI
#
# Environment: MIRROR (http://deb.debian.org/debian), ROOT (where the chroot goes; kept for reuse
# when it exists), SKIP_TESTS=1 to stop after the service answered.
set -euo pipefail
cd "$(dirname "$0")/.."
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOT=${ROOT:-/var/tmp/ytdl-fresh-debian}

command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
  echo "debootstrap bookworm into $ROOT"
  debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >/tmp/fresh-debootstrap.log
fi

mounts=(proc sys dev dev/pts)
# Whatever still runs inside the chroot (a redis-server that its package started, say) is stopped.
stop_chroot_processes() {
  for dir in /proc/[0-9]*; do
    [ "$(readlink "$dir/root" 2>/dev/null)" = "$ROOT" ] && kill -KILL "${dir#/proc/}" 2>/dev/null || true
  done
}
cleanup() {
  stop_chroot_processes
  for m in $(printf '%s\n' "${mounts[@]}" | tac); do umount -l "$ROOT/$m" 2>/dev/null || true; done
}
trap cleanup EXIT
mount -t proc proc "$ROOT/proc"; mount --rbind /sys "$ROOT/sys"; mount --rbind /dev "$ROOT/dev"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# A build machine behind a TLS-inspecting proxy: its extra CAs, and the variables that make Deno,
# npm and pip use the system store (no-ops elsewhere).
extra_env=()
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$ROOT/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
  extra_env=(DENO_TLS_CA_STORE=system NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt)
fi

rm -rf "$ROOT/home/ytdl-live" && git clone -q . "$ROOT/home/ytdl-live"
# The README's prerequisites line, verbatim.
line=$(sed -n '/Debian 12 or Ubuntu 24.04/,/^```$/p' README.md | sed -n '/^```sh$/,/^```$/p' | sed '1d;$d')
echo "prerequisites line: $line"
in_root() { chroot "$ROOT" env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "${extra_env[@]}" bash -c "$1"; }
in_root "apt-get update -qq && { $line; } >/tmp/prerequisites.log 2>&1 || { tail -20 /tmp/prerequisites.log; exit 1; }"
in_root "update-ca-certificates >/dev/null 2>&1 || true; deno --version | head -1; command -v yt-dlp && exit 1 || echo 'no yt-dlp on PATH'"

echo "deno task dev: waiting for /healthz (the first start installs yt-dlp)"
in_root "cd /home/ytdl-live && (PORT=18799 setsid deno task dev >/tmp/dev.log 2>&1 & echo \$! >/tmp/dev.pid) && for i in \$(seq 180); do
  deno eval 'const r = await fetch(\"http://127.0.0.1:18799/healthz\").catch(() => null); Deno.exit(r?.ok ? 0 : 1)' && break; sleep 2; done
  deno eval 'const r = await fetch(\"http://127.0.0.1:18799/healthz\"); console.log(await r.text()); Deno.exit(r.ok ? 0 : 1)'
  kill -- -\$(cat /tmp/dev.pid) 2>/dev/null || true
  for i in \$(seq 25); do kill -0 -- -\$(cat /tmp/dev.pid) 2>/dev/null || break; sleep 0.2; done
  # --watch outlives the service's graceful exit, waiting for a file change: the rest gets SIGKILL.
  kill -KILL -- -\$(cat /tmp/dev.pid) 2>/dev/null || true"

[ "${SKIP_TESTS:-}" = 1 ] && exit 0
echo "deno task test"
in_root "cd /home/ytdl-live && deno task test" 2>&1 | tail -5
