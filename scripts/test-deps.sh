#!/usr/bin/env bash
# What the test suite needs beside Python packages, on a fresh Debian/Ubuntu machine:
# Debian's chromium (the page's browser test; playwright drives it, no browser download)
# pgbouncer (the pooler test runs the listener behind a real one) and docker-compose (it
# validates docker-compose.yml; no Docker engine is needed for that).
# Installs with apt-get as root (or through sudo); says what is missing otherwise.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    apt=(apt-get)
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    apt=(sudo -n apt-get)
else
    echo "test-deps: ${missing[*]} not installed and no root to install them;" \
         "run: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "test-deps: installing ${missing[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
"${apt[@]}" install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || { "${apt[@]}" update -qq && "${apt[@]}" install -y -qq "${missing[@]}" >/dev/null; }
