#!/usr/bin/env bash
# Installs what the test suite needs and is not part of Go: PostgreSQL 15 server
# binaries (the store tests start a real cluster from them), Debian's Chromium
# (the console's browser tests) and the npm test peers under testenv/. Idempotent.
set -euo pipefail
PG_BIN=/usr/lib/postgresql/15/bin
if [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
  echo "test-deps: installing PostgreSQL 15 server binaries"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql-15 >/dev/null
fi
if [ "$(id -u)" = "0" ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
fi
echo "test-deps: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') ready"

# Debian's Chromium, which the console's browser tests drive through
# playwright-core (testenv/console): no browser is downloaded by npm.
if [ ! -x /usr/bin/chromium ]; then
  echo "test-deps: installing Debian's chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
echo "test-deps: $(/usr/bin/chromium --version 2>/dev/null | head -1) ready"

# npm-based test peers (PGlite with pgvector, MCP servers, …): each lives in
# testenv/<name>/ with a package.json and a committed package-lock.json, and is
# installed into testenv/<name>/node_modules (never globally).
for pkg in testenv/*/package.json; do
  [ -e "$pkg" ] || continue
  dir=$(dirname "$pkg")
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    echo "test-deps: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$dir/node_modules"
  fi
done

# Debian's redis-server for the Redis rate-limit tests (store/ratelimit_redis_test.go
# starts its own server on a free 127.0.0.1 port in a temporary directory). (H1's block.)
if ! command -v redis-server >/dev/null 2>&1; then
  echo "test-deps: installing Debian's redis-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi
echo "test-deps: $(redis-server --version | awk '{print $1, $2, $3}') ready"
