#!/usr/bin/env bash
# Installs the tools the tests need into the project-local, git-ignored .cache/:
#   .cache/bin/versitygw          S3-compatible server (Versity S3 Gateway, posix backend)
#   .cache/duckdb/node_modules    DuckDB's Node API, the independent Parquet reader
#   .cache/ruff/node_modules      ruff's WebAssembly build, which lints the Airflow DAG offline
#   .cache/jinja2/                Jinja2 and MarkupSafe from Debian's archive, which render the
#                                 DAG's templates as Airflow does (PyPI is not reachable here)
# Idempotent: a second call does nothing. The Go module proxy, npm and Debian's archive are used.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cache="$root/.cache"
mkdir -p "$cache/bin" "$cache/duckdb" "$cache/npm"

VERSITYGW_VERSION=v1.8.0
DUCKDB_NODE_API=1.5.6-r.1
RUFF_WASM=0.17.4
# Debian 12's packages (pure Python, and MarkupSafe's fallback needs no C build);
# apt checks them against the archive's signed indexes.
JINJA2_DEB=3.1.2-1+deb12u3
MARKUPSAFE_DEB=2.1.2-1+b1

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

if [ ! -d "$cache/ruff/node_modules/@astral-sh/ruff-wasm-nodejs" ] || [ "$(cat "$cache/ruff/.version" 2>/dev/null)" != "$RUFF_WASM" ]; then
  echo "tools: installing @astral-sh/ruff-wasm-nodejs@$RUFF_WASM" >&2
  mkdir -p "$cache/ruff"
  ( cd "$cache/ruff" && { [ -f package.json ] || echo '{"name":"etl-ruff","private":true}' > package.json; } &&
    npm install --no-audit --no-fund --silent --cache "$cache/npm" "@astral-sh/ruff-wasm-nodejs@$RUFF_WASM" )
  echo "$RUFF_WASM" > "$cache/ruff/.version"
fi

if [ "$(cat "$cache/jinja2/.version" 2>/dev/null)" != "$JINJA2_DEB $MARKUPSAFE_DEB" ]; then
  echo "tools: fetching python3-jinja2 $JINJA2_DEB and python3-markupsafe $MARKUPSAFE_DEB from Debian's archive" >&2
  rm -rf "$cache/jinja2" && mkdir -p "$cache/jinja2/debs"
  ( cd "$cache/jinja2/debs" && apt-get download -q "python3-jinja2=$JINJA2_DEB" "python3-markupsafe=$MARKUPSAFE_DEB" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true )
  for deb in "$cache"/jinja2/debs/*.deb; do
    [ -f "$deb" ] || { echo "tools: apt-get download failed (is the Debian archive reachable, and the pinned version still there?)" >&2; exit 1; }
    dpkg-deb -x "$deb" "$cache/jinja2"
  done
  for m in jinja2 markupsafe; do
    [ -f "$cache/jinja2/usr/lib/python3/dist-packages/$m/__init__.py" ] || { echo "tools: $m missing after extraction" >&2; exit 1; }
  done
  echo "$JINJA2_DEB $MARKUPSAFE_DEB" > "$cache/jinja2/.version"
fi
