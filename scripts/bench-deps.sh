#!/usr/bin/env bash
# Installs what `make bench-load` needs and is not part of Go: Debian's wrk (the
# closed-loop load generator; the open-loop driver is Go, in cmd/benchload). Idempotent.
set -euo pipefail
if ! command -v wrk >/dev/null 2>&1; then
  echo "bench-deps: installing Debian's wrk"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq wrk >/dev/null
fi
echo "bench-deps: $(wrk --version 2>&1 | head -1) ready"
