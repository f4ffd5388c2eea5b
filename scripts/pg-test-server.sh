#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server on 127.0.0.1:${PGPORT:-55432} for the tests
# (Debian's postgresql package), prints its URL. `stop` stops it.
set -euo pipefail
port="${PGPORT:-55432}"
data="${PGTEST_DIR:-/tmp/cyberclaim-pgtest}"
bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -n "$bindir" ] || { echo "no PostgreSQL server installed" >&2; exit 1; }
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "${1:-start}" = "stop" ]; then
  as_pg "$bindir/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true
  exit 0
fi
if ! as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  rm -rf "$data"
  mkdir -p "$data"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$data"
  as_pg "$bindir/initdb" -D "$data" -A trust -U cyberclaim -E UTF8 >/dev/null
  as_pg "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-p $port -h 127.0.0.1 -k /tmp -c fsync=off -c max_connections=200" start >/dev/null
fi
echo "postgresql+psycopg://cyberclaim@127.0.0.1:$port/postgres"
