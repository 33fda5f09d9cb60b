#!/usr/bin/env bash
# Makes sure a Redis server answers at the given URL; starts a local one when none does.
# With --install-only, only installs redis-server when it is missing.
set -euo pipefail
install() {
  command -v redis-server >/dev/null && return
  echo "Installing Debian's redis-server..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server >/dev/null
}
if [ "${1:-}" = "--install-only" ]; then install; exit 0; fi
url="${1:-redis://127.0.0.1:6379/15}"
hostport="${url#redis://}"; hostport="${hostport%%/*}"; hostport="${hostport##*@}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=6379

ping() { (exec 3<>"/dev/tcp/$host/$port" && printf 'PING\r\n' >&3 && timeout 2 head -c 7 <&3 | grep -q PONG) 2>/dev/null; }

if ping; then exit 0; fi
case "$host" in
  127.0.0.1|localhost) ;;
  *) echo "Redis at $host:$port does not answer, and it is not local, so it cannot be started here." >&2; exit 1 ;;
esac
install
echo "Starting redis-server on $host:$port..."
redis-server --daemonize yes --bind "$host" --port "$port" --save "" --appendonly no \
  --dir /tmp --logfile /tmp/musicmood-redis.log
for _ in $(seq 50); do ping && exit 0; sleep 0.1; done
echo "redis-server did not start; see /tmp/musicmood-redis.log" >&2
exit 1
