#!/usr/bin/env bash
# Build kube-apiserver, etcd and kubectl at a pinned Kubernetes version from the Go module proxy,
# into a cache outside the git tree. A no-op when the cached binaries already report that version.
#   scripts/build-k8s-bins.sh            # prints the bin directory on its last line
# Env: K8S_VERSION (default below), SSOPERATOR_CACHE (default ~/.cache/ssoperator)
set -euo pipefail
K8S_VERSION=${K8S_VERSION:-1.36.3}
GO_MIN=1.26
MINOR=$(echo "$K8S_VERSION" | cut -d. -f2)
STAGING="v0.${K8S_VERSION#1.}"
CACHE=${SSOPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ssoperator}
MOD=$CACHE/k8s-$K8S_VERSION
OUT=$MOD/bin
export GOTOOLCHAIN=local GOWORK=off GOFLAGS=-modcacherw CGO_ENABLED=0

if [ -x "$OUT/kube-apiserver" ] && [ -x "$OUT/etcd" ] && [ -x "$OUT/kubectl" ] &&
   [ "$("$OUT/kube-apiserver" --version 2>/dev/null)" = "Kubernetes v$K8S_VERSION" ]; then
  echo "$OUT"; exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "error: Go >= $GO_MIN is needed to build kube-apiserver v$K8S_VERSION (https://go.dev/dl/), or set SSOPERATOR_KUBECONFIG to use an existing cluster" >&2
  exit 1
fi
GOV=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$GO_MIN" "$GOV" | sort -V | head -1)" != "$GO_MIN" ]; then
  echo "error: Go $GOV is too old; kube-apiserver v$K8S_VERSION needs Go >= $GO_MIN (https://go.dev/dl/), or set SSOPERATOR_KUBECONFIG to use an existing cluster" >&2
  exit 1
fi
echo "building kube-apiserver, etcd and kubectl v$K8S_VERSION into $OUT (first run only; 10-25 min on 2 cores)" >&2
mkdir -p "$MOD" "$OUT"
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT

# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with local paths, which
# only apply in the main module: read that list from its go.mod and replace each with the real tag.
KGOMOD=$(cd "$TMP" && go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" |
         sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[ -f "$KGOMOD" ] || { echo "could not download k8s.io/kubernetes@v$K8S_VERSION" >&2; exit 1; }
STAGING_MODS=$(sed -n 's|^[[:space:]]*\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*|\1|p' "$KGOMOD")
GOLINE=$(sed -n 's/^go \([0-9.]*\)[[:space:]]*$/\1/p' "$KGOMOD")
GODEBUG_LINES=$(sed -n 's/^godebug \(.*\)$/godebug \1/p' "$KGOMOD")
{
  echo "module local/k8s-bin"; echo; echo "go $GOLINE"
  [ -n "$GODEBUG_LINES" ] && { echo; echo "$GODEBUG_LINES"; }
  echo; echo "tool ("
  echo "	k8s.io/kubernetes/cmd/kube-apiserver"
  echo "	k8s.io/kubernetes/cmd/kubectl"
  echo "	go.etcd.io/etcd/server/v3"
  echo ")"; echo; echo "require k8s.io/kubernetes v$K8S_VERSION"; echo; echo "replace ("
  for m in $STAGING_MODS; do echo "	$m => $m $STAGING"; done
  echo ")"
} > "$MOD/go.mod"
(cd "$MOD" && go mod tidy)

# Same version ldflags as hack/lib/version.sh so /version reports a real semver.
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LDF="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDF="$LDF -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$MINOR -X $p.gitTreeState=clean -X $p.buildDate=$NOW"
done
cd "$MOD"
go build -trimpath -tags=selinux,notest,grpcnotrace -ldflags "$LDF" -o "$OUT/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
go build -trimpath -tags=selinux,notest,grpcnotrace -ldflags "$LDF" -o "$OUT/kubectl" k8s.io/kubernetes/cmd/kubectl
go build -trimpath -ldflags "-s -w" -o "$OUT/etcd" go.etcd.io/etcd/server/v3
# The apiserver is renamed last: its presence with the right version marks a complete cache.
mv "$OUT/kube-apiserver.tmp" "$OUT/kube-apiserver"
"$OUT/kube-apiserver" --version >&2
"$OUT/etcd" --version | sed -n 1p >&2  # not head: SIGPIPE fails the pipeline
echo "$OUT"
