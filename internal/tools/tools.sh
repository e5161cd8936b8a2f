#!/usr/bin/env bash
# Installs the tools the tests need into the project-local, git-ignored .cache/:
#   .cache/bin/versitygw          S3-compatible server (Versity S3 Gateway, posix backend)
#   .cache/duckdb/node_modules    DuckDB's Node API, the independent Parquet reader
#   .cache/icebergread/node_modules  avsc, which reads Iceberg's Avro manifests
#   .cache/sqlite/                sqlite3 from Debian's archive, only where the machine has none
#   PostgreSQL (Debian's package), for the Iceberg SQL catalog's Postgres test, only where the
#   machine has none (the go machines' image has it); this one needs root, as CI is
# Idempotent: a second call does nothing. Only the Go module proxy and npm are used.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cache="$root/.cache"
mkdir -p "$cache/bin" "$cache/duckdb" "$cache/npm" "$cache/icebergread"

VERSITYGW_VERSION=v1.8.0
DUCKDB_NODE_API=1.5.6-r.1
AVSC=5.7.9

if [ ! -x "$cache/bin/versitygw" ] || [ "$(cat "$cache/bin/.versitygw-version" 2>/dev/null)" != "$VERSITYGW_VERSION" ]; then
  echo "tools: building versitygw $VERSITYGW_VERSION (about a minute, once)" >&2
  GOBIN="$cache/bin" GOFLAGS=-buildvcs=false go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
  echo "$VERSITYGW_VERSION" > "$cache/bin/.versitygw-version"
fi

if [ ! -d "$cache/duckdb/node_modules/@duckdb/node-api" ] || [ "$(cat "$cache/duckdb/.version" 2>/dev/null)" != "$DUCKDB_NODE_API" ]; then
  echo "tools: installing @duckdb/node-api@$DUCKDB_NODE_API" >&2
  ( cd "$cache/duckdb" && [ -f package.json ] || echo '{"name":"etl-duckdb-reader","private":true}' > "$cache/duckdb/package.json"
    cd "$cache/duckdb" && npm install --no-audit --no-fund --silent --cache "$cache/npm" "@duckdb/node-api@$DUCKDB_NODE_API" )
  echo "$DUCKDB_NODE_API" > "$cache/duckdb/.version"
fi

if [ ! -d "$cache/icebergread/node_modules/avsc" ] || [ "$(cat "$cache/icebergread/.version" 2>/dev/null)" != "$AVSC" ]; then
  echo "tools: installing avsc@$AVSC" >&2
  ( cd "$cache/icebergread" && [ -f package.json ] || echo '{"name":"etl-iceberg-reader","private":true}' > "$cache/icebergread/package.json"
    cd "$cache/icebergread" && npm install --no-audit --no-fund --silent --cache "$cache/npm" "avsc@$AVSC" )
  echo "$AVSC" > "$cache/icebergread/.version"
fi

# The Iceberg reader reads the SQL catalog with the sqlite3 command (which
# reads SQLite's write-ahead log, where the latest commits may be).
if ! command -v sqlite3 >/dev/null && [ ! -x "$cache/sqlite/usr/bin/sqlite3" ]; then
  echo "tools: unpacking sqlite3 from Debian's archive" >&2
  tmp=$(mktemp -d)
  ( cd "$tmp" && apt-get download sqlite3 libsqlite3-0 >/dev/null )
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$cache/sqlite"; done
  rm -rf "$tmp"
fi

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  echo "tools: installing PostgreSQL from Debian's archive" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
