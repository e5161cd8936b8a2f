#!/usr/bin/env bash
# Installs the tools the tests need into the project-local, git-ignored .cache/:
#   .cache/bin/versitygw          S3-compatible server (Versity S3 Gateway, posix backend)
#   .cache/duckdb/node_modules    DuckDB's Node API, the independent Parquet reader
# Idempotent: a second call does nothing. Only the Go module proxy and npm are used.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cache="$root/.cache"
mkdir -p "$cache/bin" "$cache/duckdb" "$cache/npm"

VERSITYGW_VERSION=v1.8.0
DUCKDB_NODE_API=1.5.6-r.1

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
