#!/usr/bin/env bash
# The main job on the local default: set-up (idempotent), then bring up the local federation (host cluster
# `federation`, three members named after the seed article's regions, and a local BIND) and show it.
# Stop it with: hack/local-federation down
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash hack/setup.sh
hack/local-federation up "$@"
echo
KUBECONFIG="$root/.localfed/kubeconfig" kubectl --context gce-us-central1 get nodes -L topology.kubernetes.io/zone
