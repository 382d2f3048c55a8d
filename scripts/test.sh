#!/usr/bin/env bash
# The README's test command: everything the tests need, then every test.
# Tests are offline and deterministic; nothing here needs an API key.
set -euo pipefail
cd "$(dirname "$0")/.."

# need CMD PACKAGE installs Debian's PACKAGE when CMD is missing from the
# PATH the sandboxed tests use, so that no test has to skip.
need() {
	if PATH=/usr/local/bin:/usr/bin:/bin command -v "$1" >/dev/null 2>&1; then
		return
	fi
	echo "scripts/test.sh: installing $2 (for $1)" >&2
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
	$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null
}
need python3 python3-minimal   # stage/codet runs generated Python tests
go vet ./...
go test -count=1 -timeout 20m ./...
# The loop runs plugins side by side (voters) against one shared state; the
# race detector is what catches a save that encodes it while another writes.
go test -count=1 -race ./loop/
