#!/usr/bin/env bash
# CI: the package on Node 22 with Node-RED 5, besides the main run's Node 20 and
# Node-RED 4.1. A copy of the working tree in a scratch folder gets the locked
# dependencies, then Node-RED 5 in place of 4.1 (not saved), and Node 22 from
# the npm "node" package; the node tests and three end-to-end tests (the default
# pack deployed, data in and out; JSON logs; the Dashboard 2 page in Chromium) run on it.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_RED_VERSION="${NODE_RED_VERSION:-5}"
NODE_VERSION="${NODE_VERSION:-22}"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/upperstack-nr5.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

# npm at --loglevel=error prints little more than where its log is when a step
# fails (a full disk looked like nothing at all): on failure show what it said
# and the errors of that log.
npm_step() {
  local out
  if ! out="$("$@" 2>&1)"; then
    printf '%s\n' "$out" >&2
    local log
    log="$(printf '%s\n' "$out" | grep -o '/[^ ]*-debug-[0-9]*\.log' | tail -1)"
    if [ -n "$log" ] && [ -f "$log" ]; then
      echo "--- from $log:" >&2
      grep -E ' (verbose stack|error (code|errno|syscall|path)) ' "$log" | tail -20 >&2 || true
    fi
    df -h "$scratch" >&2 || true
    echo "FAILED: $*" >&2
    exit 1
  fi
}

echo "== Node ${NODE_VERSION} + Node-RED ${NODE_RED_VERSION} in ${scratch}"
npm_step npm install --prefix "$scratch/node" --no-audit --no-fund --loglevel=error "node@${NODE_VERSION}"
node22="$scratch/node/node_modules/.bin/node"
"$node22" --version | grep -q "^v${NODE_VERSION}\." || { echo "the npm node package did not give Node ${NODE_VERSION}: $("$node22" --version 2>&1)"; exit 1; }

mkdir -p "$scratch/pkg"
tar --exclude=./node_modules --exclude=./dist --exclude=./data --exclude=./.git -cf - . | tar -xf - -C "$scratch/pkg"
cd "$scratch/pkg"
npm_step npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
npm_step npm install --no-save --no-audit --no-fund --ignore-scripts --loglevel=error "node-red@${NODE_RED_VERSION}"
nr="$("$node22" -p "require('node-red/package.json').version")"
case "$nr" in "${NODE_RED_VERSION}".*) ;; *) echo "expected Node-RED ${NODE_RED_VERSION}, got ${nr}"; exit 1 ;; esac
echo "== Node $("$node22" --version), Node-RED ${nr}"
"$node22" scripts/build.mjs
# Each run with a TMPDIR of its own, removed at the end (leftovers listed).
"$node22" scripts/with-tmpdir.mjs node --test --test-concurrency=1 --test-timeout=120000 dist/test/nodes/*.test.js
"$node22" scripts/with-tmpdir.mjs node --test --test-concurrency=1 --test-timeout=600000 dist/test/integration/pipeline.test.js dist/test/integration/logging.test.js dist/test/integration/dashboard.test.js
