#!/usr/bin/env bash
# Installs the tools the tests need into the project-local, git-ignored .cache/:
#   .cache/bin/versitygw          S3-compatible server (Versity S3 Gateway, posix backend)
#   .cache/duckdb/node_modules    DuckDB's Node API, the independent Parquet reader
#   .cache/icebergread/node_modules  avsc, which reads Iceberg's Avro manifests
#   .cache/sqlite/                sqlite3 from Debian's archive, only where the machine has none
#   .cache/postgres/              PostgreSQL from Debian's archive, for the Iceberg SQL catalog's
#                                 Postgres test, only where the machine has no server
#   .cache/ruff/node_modules      ruff's WebAssembly build, which lints the Airflow DAG offline
#   .cache/jinja2/                Jinja2 and MarkupSafe from Debian's archive, which render the
#                                 DAG's templates as Airflow does (PyPI is not reachable here)
# Idempotent: a second call does nothing. The Go module proxy, npm and Debian's archive are used.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cache="$root/.cache"
mkdir -p "$cache/bin" "$cache/duckdb" "$cache/npm" "$cache/icebergread"

VERSITYGW_VERSION=v1.8.0
DUCKDB_NODE_API=1.5.6-r.1
AVSC=5.7.9
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

# PostgreSQL, for the Iceberg SQL catalog's Postgres test: the machine's
# server where it has one (under ETL_PG_SYSTEM, default /usr/lib/postgresql),
# else Debian's server package and the library packages it needs that the
# machine lacks, unpacked into .cache/postgres/ (PostgreSQL finds its share/
# and lib/ relative to its binaries; the test gives them LD_LIBRARY_PATH).
# Nothing is installed system-wide.
pg_system=${ETL_PG_SYSTEM:-/usr/lib/postgresql}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
# missing_libs prints the library packages (lib*, zlib1g) the packages given depend on, and
# theirs, that the machine lacks (the first of alternatives, as apt would).
missing_libs() {
  local seen=" $* " queue=("$@") p d
  while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[0]}; queue=("${queue[@]:1}")
    for d in $(apt-cache depends "$p" | sed -n 's/^ *|\{0,1\}Depends: \(lib[^ <>]*\|zlib1g\)$/\1/p'); do
      case "$seen" in *" $d "*) continue ;; esac
      seen="$seen$d "
      if ! installed "$d"; then echo "$d"; queue+=("$d"); fi
    done
  done
}
if ! ls "$pg_system"/*/bin/postgres >/dev/null 2>&1 && ! ls "$cache"/postgres/usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  pg=$(apt-cache depends postgresql | sed -n 's/^ *Depends: \(postgresql-[0-9][0-9]*\)$/\1/p' | head -1)
  [ -n "$pg" ] || { echo "tools: no postgresql-N package in apt's lists (run apt-get update?)" >&2; exit 1; }
  libs=$(missing_libs "$pg")
  echo "tools: unpacking $pg${libs:+ and $(echo $libs)} from Debian's archive into .cache/postgres" >&2
  rm -rf "$cache/postgres.partial" && mkdir -p "$cache/postgres.partial/debs"
  ( cd "$cache/postgres.partial/debs" && apt-get download -q "$pg" $libs 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true )
  for deb in "$cache"/postgres.partial/debs/*.deb; do
    [ -f "$deb" ] || { echo "tools: apt-get download $pg failed (is the Debian archive reachable?)" >&2; exit 1; }
    dpkg-deb -x "$deb" "$cache/postgres.partial"
  done
  rm -rf "$cache/postgres.partial/debs"
  bin=$(ls -d "$cache"/postgres.partial/usr/lib/postgresql/*/bin | tail -1)
  libdirs=$(shopt -s nullglob; dirs=("$cache"/postgres.partial/usr/lib/*-linux-gnu); IFS=:; echo "${dirs[*]}")
  if LD_LIBRARY_PATH="$libdirs" ldd "$bin/postgres" "$bin/initdb" | grep 'not found' >&2; then
    echo "tools: PostgreSQL's libraries above are missing from .cache/postgres" >&2
    exit 1
  fi
  rm -rf "$cache/postgres" && mv "$cache/postgres.partial" "$cache/postgres"
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
  # The pinned versions; should the archive have replaced them (a security
  # update), its current ones, said aloud.
  ( cd "$cache/jinja2/debs" && { apt-get download -q "python3-jinja2=$JINJA2_DEB" "python3-markupsafe=$MARKUPSAFE_DEB" 2>&1 ||
      { echo "tools: pinned Jinja2/MarkupSafe not in the archive; taking its current ones" >&2; apt-get download -q python3-jinja2 python3-markupsafe 2>&1; }; } |
      grep -v '^W: Download is performed unsandboxed' >&2 || true )
  for deb in "$cache"/jinja2/debs/*.deb; do
    [ -f "$deb" ] || { echo "tools: apt-get download failed (is the Debian archive reachable, and the pinned version still there?)" >&2; exit 1; }
    dpkg-deb -x "$deb" "$cache/jinja2"
  done
  for m in jinja2 markupsafe; do
    [ -f "$cache/jinja2/usr/lib/python3/dist-packages/$m/__init__.py" ] || { echo "tools: $m missing after extraction" >&2; exit 1; }
  done
  echo "$JINJA2_DEB $MARKUPSAFE_DEB" > "$cache/jinja2/.version"
fi
