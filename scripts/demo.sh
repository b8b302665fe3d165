#!/usr/bin/env bash
# demo.sh: try ssoperator on a fresh machine. Builds the control-plane binaries (first run only),
# starts a throwaway etcd + kube-apiserver (scripts/with-k8s.sh), installs the CRDs, applies
# examples/ into namespace sso-demo, and shows the result.
#   scripts/demo.sh            # run the demo, then tear everything down
#   scripts/demo.sh --wait     # keep the control plane up until Ctrl-C (prints how to reach it)
# Env: SSOPERATOR_KUBECONFIG runs the demo against that existing cluster instead.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

NAMESPACE=sso-demo            # examples/atlas.yaml's ClusterProviderConfig reads its Secret here
FIELD_MANAGER=ssoperator-demo

if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD="" PLAIN=""; fi
say() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"; }

# ---------------------------------------------------------------------------------------------
# Steps run inside the control plane (KUBECONFIG is set by with-k8s.sh).

install_crds() {
  say "Installing the CRDs (crds/)"
  kubectl apply --server-side --force-conflicts --field-manager="$FIELD_MANAGER" -f crds/
  kubectl wait --for=condition=Established --timeout=60s -f crds/
}

create_namespace() {
  say "Creating namespace $NAMESPACE"
  kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml |
    kubectl apply --server-side --field-manager="$FIELD_MANAGER" -f -
}

apply_examples() {
  say "Applying examples/ into namespace $NAMESPACE"
  kubectl apply --server-side --force-conflicts --field-manager="$FIELD_MANAGER" \
    --namespace "$NAMESPACE" -f examples/
}

show() {
  say "kubectl get sso -A"
  kubectl get sso -A
}

wait_for_ctrl_c() {
  say "The control plane stays up until Ctrl-C. In another terminal:"
  echo "  export KUBECONFIG=$KUBECONFIG PATH=$(dirname "$(command -v kubectl)"):\$PATH"
  echo "  kubectl get sso -A"
  trap 'exit 0' INT TERM
  while :; do sleep 1 & wait $! || true; done
}

inside() {
  install_crds
  create_namespace
  apply_examples
  show
  if [ "${WAIT:-0}" = 1 ]; then wait_for_ctrl_c; fi
}

# ---------------------------------------------------------------------------------------------

if [ "${1:-}" = "--inside" ]; then
  inside
  exit 0
fi

WAIT=0
case "${1:-}" in
  --wait) WAIT=1 ;;
  "") ;;
  *) echo "usage: $0 [--wait]" >&2; exit 2 ;;
esac
export WAIT

if [ -z "${SSOPERATOR_KUBECONFIG:-}" ]; then
  say "Building kube-apiserver, etcd and kubectl (cached after the first run)"
  K8S_BIN=$(scripts/build-k8s-bins.sh | tail -n 1)
  export K8S_BIN
  echo "$K8S_BIN"
  say "Starting etcd + kube-apiserver on loopback"
fi
scripts/with-k8s.sh "$0" --inside
say "Done; the control plane was stopped."
