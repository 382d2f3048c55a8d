#!/usr/bin/env bash
# The README's test command: everything the tests need, then every test.
# Tests are offline and deterministic; nothing here needs an API key.
set -euo pipefail
cd "$(dirname "$0")/.."
go vet ./...
go test -count=1 -timeout 20m ./...
# The loop runs plugins side by side (voters) against one shared state; the
# race detector is what catches a save that encodes it while another writes.
go test -count=1 -race ./loop/
