#!/usr/bin/env bash
# Installs everything this project needs on a fresh machine, idempotently (a second run takes seconds):
#   - BIND 9 (named) and dig from Debian's packages, when missing;
#   - a virtualenv in .venv with the package and its dev tools (reinstalled when pyproject.toml changes);
#   - the Kubernetes, etcd, kwok and helm binaries (and promtool, which tests the chart's alerting rules),
#     built once from the Go module proxy and cached by version under ~/.cache/federation-operator
#     (hack/build-binaries.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { printf '[setup %(%H:%M:%S)T] %s\n' -1 "$*"; }

as_root() { if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo "$@"; fi; }

if ! command -v named >/dev/null && [[ ! -x /usr/sbin/named ]] || ! command -v dig >/dev/null; then
  log "installing bind9 and dig (Debian packages)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bind9 bind9-dnsutils >/dev/null
fi

command -v kubectl >/dev/null || { echo "setup: kubectl is required on PATH" >&2; exit 1; }
command -v go >/dev/null || { echo "setup: Go >= 1.24 is required to build the Kubernetes binaries" >&2; exit 1; }

python="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv"
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [[ ! -e "$stamp" ]]; then
  log "installing the package and dev tools into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -U pip
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

bash hack/build-binaries.sh
