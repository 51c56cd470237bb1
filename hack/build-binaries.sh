#!/usr/bin/env bash
# Builds, once, every binary the local federation needs and caches it by version outside the repository:
#   kube-apiserver, kube-controller-manager, kube-scheduler (k8s.io/kubernetes from the Go module proxy,
#   through the wrapper module in hack/tools), etcd (same module graph), kwok, helm, kind, promtool and
#   CoreDNS (go install).
# Each binary is built into a temporary file and renamed into place, so an interrupted run leaves nothing
# half-written and the next run resumes where it stopped. Prints where the binaries are.
#
# Usage: hack/build-binaries.sh            build what is missing
#        hack/build-binaries.sh --print-dir only print the cache directory
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache_root="${LOCALFED_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/federation-operator}"
bin_dir="$cache_root/bin/k8s-$KUBERNETES_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION"

if [[ "${1:-}" == "--print-dir" ]]; then
  echo "$bin_dir"
  exit 0
fi

command -v go >/dev/null || { echo "build-binaries: Go is required (https://go.dev/dl/)" >&2; exit 1; }

grep -q "k8s.io/kubernetes $KUBERNETES_VERSION" "$here/tools/go.mod" \
  || { echo "build-binaries: hack/tools/go.mod does not require k8s.io/kubernetes $KUBERNETES_VERSION" >&2; exit 1; }
grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION" "$here/tools/go.mod" \
  || { echo "build-binaries: hack/tools/go.mod does not require etcd server $ETCD_VERSION" >&2; exit 1; }

mkdir -p "$bin_dir"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath -buildvcs=false"

log() { printf '[build-binaries %(%H:%M:%S)T] %s\n' -1 "$*"; }

# Each step checks for its final file first, so a finished step is never redone.
missing_k8s=()
for b in kube-apiserver kube-controller-manager kube-scheduler; do
  [[ -x "$bin_dir/$b" ]] || missing_k8s+=("$b")
done

if ((${#missing_k8s[@]})); then
  minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  # The same variables Kubernetes' own build sets (hack/lib/version.sh), so /version reports the real release.
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  tmp="$(mktemp -d "$bin_dir/.build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  pkgs=()
  for b in "${missing_k8s[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  log "building ${missing_k8s[*]} $KUBERNETES_VERSION (first time only: ~8 min here, up to 30 on slow machines)"
  (cd "$here/tools" && go build -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}")
  for b in "${missing_k8s[@]}"; do mv -f "$tmp/$b" "$bin_dir/$b"; done
  rm -rf "$tmp"; trap - EXIT
fi

install_one() { # name, build command...
  local name="$1"; shift
  [[ -x "$bin_dir/$name" ]] && return 0
  local tmp; tmp="$(mktemp -d "$bin_dir/.build.XXXXXX")"
  log "building $name"
  if ! "$@" "$tmp"; then rm -rf "$tmp"; echo "build-binaries: building $name failed" >&2; exit 1; fi
  mv -f "$tmp/$name" "$bin_dir/$name"
  rm -rf "$tmp"
}

build_etcd() { (cd "$here/tools" && go build -ldflags "-s -w" -o "$1/etcd" ./cmd/etcd); }
build_kwok() { GOBIN="$1" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"; }
build_helm() {
  GOBIN="$1" go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

build_kind() { GOBIN="$1" go install -ldflags "-s -w" "sigs.k8s.io/kind@$KIND_VERSION" && mv "$1/kind" "$1/kind-$KIND_VERSION"; }
# Module tag v0.3XX.Y is Prometheus v3.XX.Y; the ldflag makes `promtool --version` report that release.
build_promtool() {
  local tag="${PROMTOOL_VERSION#v0.}"
  local release="3.$((${tag%%.*} - 300)).${tag#*.}"
  GOBIN="$1" go install -ldflags "-s -w -X github.com/prometheus/common/version.Version=$release" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION" && mv "$1/promtool" "$1/promtool-$PROMTOOL_VERSION"
}

# CoreDNS's default plugin set (its generated plugin list is part of the module), as its release binaries have.
build_coredns() {
  GOBIN="$1" go install -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION" \
    && mv "$1/coredns" "$1/coredns-$COREDNS_VERSION"
}

install_one etcd build_etcd
install_one kwok build_kwok
install_one helm build_helm
install_one "kind-$KIND_VERSION" build_kind
install_one "promtool-$PROMTOOL_VERSION" build_promtool
install_one "coredns-$COREDNS_VERSION" build_coredns

log "binaries ready in $bin_dir"
"$bin_dir/kube-apiserver" --version
