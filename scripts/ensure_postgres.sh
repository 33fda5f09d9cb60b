#!/usr/bin/env bash
# Makes sure PostgreSQL answers at the given URL; starts (or installs and starts) a local one.
set -euo pipefail
url="${1:-postgres://postgres:postgres@127.0.0.1:5432/musicmood}"
rest="${url#*://}"; rest="${rest#*@}"; hostport="${rest%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=5432

answers() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

if answers; then exit 0; fi
case "$host" in
  127.0.0.1|localhost) ;;
  *) echo "PostgreSQL at $host:$port does not answer, and it is not local, so it cannot be started here." >&2; exit 1 ;;
esac
export DEBIAN_FRONTEND=noninteractive
if ! command -v pg_ctlcluster >/dev/null; then
  echo "Installing Debian's postgresql..."
  apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
version="$(ls /etc/postgresql | sort -V | tail -n 1)"
echo "Starting PostgreSQL $version on $host:$port..."
pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 100); do
  if answers; then
    # The tests sign in as postgres/postgres; a fresh cluster has no password set.
    su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null 2>&1 || true
    exit 0
  fi
  sleep 0.2
done
echo "PostgreSQL did not start; see /var/log/postgresql/" >&2
exit 1
