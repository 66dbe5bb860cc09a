#!/usr/bin/env bash
# The openai npm client against `ponder serve`: installs the locked client (npm ci, from
# npm's registry) into a work folder and runs test.mjs. Exit 77 (skipped) only when node
# or npm is not installed.
set -euo pipefail
ponder=$1
work=$2
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIPPED: node and npm are needed for the openai client test (apt-get install nodejs npm)"
  exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/test.mjs" "$work/"
cd "$work"
npm ci --no-audit --no-fund --loglevel=error
exec node test.mjs "$ponder"
