#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the server tests and print its URL.
# Usage (as root or as a user who may run postgres):  url=$(bash .ci/postgres.sh [DIR] [PORT])
# Debian's `postgresql` package provides the binaries; nothing here touches its own cluster.
set -euo pipefail
dir=${1:-/tmp/facebench-ci-postgres}
port=${2:-54329}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ]; then echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; fi
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
if [ -f "$dir/postmaster.pid" ]; then as_pg "$bin/pg_ctl -D $dir -m immediate stop" >/dev/null 2>&1 || true; fi
rm -rf "$dir"
mkdir -p "$dir"
if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
as_pg "$bin/initdb -D $dir -A trust -U postgres --no-sync" >/dev/null
as_pg "$bin/pg_ctl -D $dir -l $dir/server.log -w -o \"-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200\" start" >/dev/null
echo "postgresql://postgres@127.0.0.1:$port/postgres"
