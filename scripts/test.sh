#!/usr/bin/env bash
# The README's test command: everything the tests need, then every test.
# Tests are offline and deterministic; nothing here needs an API key.
set -euo pipefail
cd "$(dirname "$0")/.."

# need CMD PACKAGE installs Debian's PACKAGE when CMD is missing from the
# PATH the sandboxed tests use, so that no test has to skip: as root or
# through passwordless sudo, and stops with a clear message otherwise.
need() {
	PATH=/usr/local/bin:/usr/bin:/bin command -v "$1" >/dev/null 2>&1 && return 0
	apt_install "$1" "$2"
	PATH=/usr/local/bin:/usr/bin:/bin command -v "$1" >/dev/null 2>&1 || { echo "scripts/test.sh: apt-get did not install $2" >&2; exit 1; }
}

# need_dir DIR PACKAGE is need for a package that installs data, not a command.
need_dir() {
	[ -d "$1" ] && return 0
	apt_install "$1" "$2"
	[ -d "$1" ] || { echo "scripts/test.sh: apt-get did not install $2" >&2; exit 1; }
}

apt_install() {
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			sudo=(sudo -n)
		else
			echo "scripts/test.sh: $1 is missing and installing it needs root (or passwordless sudo): apt-get install -y $2" >&2
			exit 1
		fi
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "scripts/test.sh: $1 is missing and there is no apt-get to install it; install $2 and run again" >&2
		exit 1
	fi
	echo "scripts/test.sh: installing $2 (for $1)" >&2
	if [ -z "${apt_updated:-}" ]; then
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
		apt_updated=1
	fi
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}

need python3 python3-minimal   # stage/codet runs generated Python tests
need shellcheck shellcheck     # deploy/ shellchecks the Slurm scripts
need pdftotext poppler-utils   # ingest falls back to pdftotext for PDFs the Go reader garbles
need_dir /usr/share/poppler/cMap/Adobe-Japan1 poppler-data  # pdftotext's CMaps for ingest's Japanese CID-font test
need chromium chromium         # review/web drives the review app in a real browser (chromedp)
need_dir /usr/share/fonts/opentype/noto fonts-noto-cjk  # so that browser draws Japanese records (TestBrowserJapanese)

go vet ./...
go test -count=1 -timeout 20m ./...
# The loop runs plugins side by side (voters) against one shared state; the
# race detector is what catches a save that encodes it while another writes.
go test -count=1 -race ./loop/
# deploy/ is a module of its own (the Kubernetes API types stay out of the
# main module): its manifests decoded strictly, its Slurm scripts shellchecked.
(cd deploy && go vet ./... && go test -count=1 ./...)
