#!/usr/bin/env bash
# Build the packaging test tools from the Go module proxy into a cache outside the git tree:
#   helm           helm.sh/helm/v3 at HELM_VERSION, with the ldflags of helm's Makefile (its version
#                  and a default Kubernetes version that matches the test control plane)
#   kstatus        tools/kstatus: sigs.k8s.io/cli-utils' kstatus (what Flux health checks use)
#   argocd-health  tools/argocd-health: runs an Argo CD health Lua script with gopher-lua, the
#                  interpreter Argo CD embeds
#   promtool       github.com/prometheus/prometheus/cmd/promtool at PROMETHEUS_MODULE_VERSION (the
#                  Go module's v0.3xx.y is Prometheus 3.xx.y): checks the chart's PrometheusRule
# A no-op for each tool that is already built at that version (or from the same sources).
#   scripts/build-tools.sh            # prints the bin directory on its last line
# Env: HELM_VERSION, PROMETHEUS_MODULE_VERSION (defaults below), K8S_VERSION (for helm's default kube version),
#      SSOPERATOR_CACHE (default ~/.cache/ssoperator)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HELM_VERSION=${HELM_VERSION:-3.21.4}
K8S_VERSION=${K8S_VERSION:-1.36.3}
PROMETHEUS_MODULE_VERSION=${PROMETHEUS_MODULE_VERSION:-0.316.0}
K8S_MINOR=$(echo "$K8S_VERSION" | cut -d. -f2)
GO_MIN=1.26
CACHE=${SSOPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ssoperator}
OUT=$CACHE/tools-1/bin
export GOTOOLCHAIN=local GOWORK=off GOFLAGS=-modcacherw CGO_ENABLED=0

# A stamp per tool: the helm version, or a hash of the sources of a local tool.
src_hash() { (cd "$ROOT/tools/$1" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-16); }
helm_ok() {
  [ -x "$OUT/helm" ] &&
    [ "$("$OUT/helm" version --template '{{.Version}}' 2>/dev/null)" = "v$HELM_VERSION" ] &&
    [ "$(cat "$OUT/.helm.stamp" 2>/dev/null)" = "$HELM_VERSION/1.$K8S_MINOR" ]
}
local_ok() { [ -x "$OUT/$1" ] && [ "$(cat "$OUT/.$1.stamp" 2>/dev/null)" = "$(src_hash "$1")" ]; }
promtool_ok() {
  [ -x "$OUT/promtool" ] && [ "$(cat "$OUT/.promtool.stamp" 2>/dev/null)" = "$PROMETHEUS_MODULE_VERSION" ]
}

if helm_ok && local_ok kstatus && local_ok argocd-health && promtool_ok; then
  echo "$OUT"; exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "error: Go >= $GO_MIN is needed to build helm v$HELM_VERSION, kstatus and argocd-health from the Go module proxy (https://go.dev/dl/)" >&2
  exit 1
fi
GOV=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$GO_MIN" "$GOV" | sort -V | head -1)" != "$GO_MIN" ]; then
  echo "error: Go $GOV is too old; helm v$HELM_VERSION needs Go >= $GO_MIN (https://go.dev/dl/)" >&2
  exit 1
fi
mkdir -p "$OUT"

if ! helm_ok; then
  echo "building helm v$HELM_VERSION into $OUT (first run only; 2-4 min on 2 cores)" >&2
  TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
  # Same -X flags as helm's Makefile; without the chartutil ones `helm template` assumes
  # Kubernetes v1.20 (.Capabilities.KubeVersion).
  LDF="-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION"
  for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    LDF="$LDF -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$K8S_MINOR"
  done
  (cd "$TMP" && GOBIN=$OUT go install -trimpath -ldflags "$LDF" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION")
  echo "$HELM_VERSION/1.$K8S_MINOR" > "$OUT/.helm.stamp"
fi

if ! promtool_ok; then
  echo "building promtool (prometheus module v$PROMETHEUS_MODULE_VERSION) into $OUT (first run only; several minutes on 2 cores)" >&2
  TMP_P=$(mktemp -d)
  (cd "$TMP_P" && GOBIN=$OUT go install -trimpath -ldflags "-s -w" \
    "github.com/prometheus/prometheus/cmd/promtool@v$PROMETHEUS_MODULE_VERSION")
  rm -rf "$TMP_P"
  echo "$PROMETHEUS_MODULE_VERSION" > "$OUT/.promtool.stamp"
fi

for tool in kstatus argocd-health; do
  local_ok "$tool" && continue
  echo "building $tool from tools/$tool into $OUT" >&2
  (cd "$ROOT/tools/$tool" && go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$OUT/$tool" .)
  src_hash "$tool" > "$OUT/.$tool.stamp"
done

"$OUT/helm" version --template '{{.Version}}' >/dev/null
echo "$OUT"
