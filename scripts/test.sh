#!/usr/bin/env bash
# The README's test command: everything the tests need, then every test.
# Tests are offline and deterministic; nothing here needs an API key.
set -euo pipefail
cd "$(dirname "$0")/.."

# The deploy tests run shellcheck on the Slurm scripts (not skipped when
# it is missing): install the Debian package when it is not there, as root
# or through passwordless sudo, and stop with a clear message otherwise.
ensure_shellcheck() {
	command -v shellcheck >/dev/null 2>&1 && return 0
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			sudo=(sudo -n)
		else
			echo "scripts/test.sh: shellcheck is missing and installing it needs root (or passwordless sudo):" >&2
			echo "  apt-get install -y shellcheck   (or see https://github.com/koalaman/shellcheck#installing)" >&2
			exit 1
		fi
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "scripts/test.sh: shellcheck is missing and there is no apt-get to install it; install shellcheck and run again" >&2
		exit 1
	fi
	echo "scripts/test.sh: installing shellcheck" >&2
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null
	command -v shellcheck >/dev/null 2>&1 || { echo "scripts/test.sh: apt-get did not install shellcheck" >&2; exit 1; }
}
ensure_shellcheck

go vet ./...
go test -count=1 -timeout 20m ./...
# The loop runs plugins side by side (voters) against one shared state; the
# race detector is what catches a save that encodes it while another writes.
go test -count=1 -race ./loop/
# deploy/ is a module of its own (the Kubernetes API types stay out of the
# main module): its manifests decoded strictly, its Slurm scripts shellchecked.
(cd deploy && go vet ./... && go test -count=1 ./...)
