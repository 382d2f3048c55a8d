#!/usr/bin/env bash
# Loads engine/gguf exports in real llama.cpp (the build that the npm package
# node-llama-cpp ships) and compares them with our engine. Needs Go, Node.js
# and the npm registry; not part of `go test`. From the repository root:
#   bash engine/gguf/llamacpp/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/check.mjs" "$work/"
(cd "$work" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
(cd "$here" && go run . "$work")
node "$work/check.mjs" "$work"
