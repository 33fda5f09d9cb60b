#!/usr/bin/env bash
# Makes sure a Redis server answers at the given URL; starts a local one when none does.
set -euo pipefail
url="${1:-redis://127.0.0.1:6379/15}"
hostport="${url#redis://}"; hostport="${hostport%%/*}"; hostport="${hostport##*@}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=6379

ping() { (exec 3<>"/dev/tcp/$host/$port" && printf 'PING\r\n' >&3 && timeout 2 head -c 7 <&3 | grep -q PONG) 2>/dev/null; }

if ping; then exit 0; fi
case "$host" in
  127.0.0.1|localhost) ;;
  *) echo "Redis at $host:$port does not answer, and it is not local, so it cannot be started here." >&2; exit 1 ;;
esac
if ! command -v redis-server >/dev/null; then
  echo "Installing Debian's redis-server..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi
echo "Starting redis-server on $host:$port..."
redis-server --daemonize yes --bind "$host" --port "$port" --save "" --appendonly no \
  --dir /tmp --logfile /tmp/musicmood-redis.log
for _ in $(seq 50); do ping && exit 0; sleep 0.1; done
echo "redis-server did not start; see /tmp/musicmood-redis.log" >&2
exit 1
