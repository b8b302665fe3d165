#!/usr/bin/env bash
# demo.sh: the operator at work on a fresh machine. Builds the control-plane binaries (first run
# only) and the operator, starts a throwaway etcd + kube-apiserver (scripts/with-k8s.sh), the five
# provider emulators (seeded to match examples/) and the operator; applies examples/ into namespace
# sso-demo with each ProviderConfig's endpoint pointing at its emulator; waits until every resource
# is Ready; prints `kubectl get sso -A` and what each emulator holds. Then it stays up until Ctrl-C
# so that you can `kubectl apply`/`kubectl edit` and watch the operator reconcile.
#   scripts/demo.sh            # run, stay up until Ctrl-C, then tear everything down
#   scripts/demo.sh --once     # exit (and tear down) once everything is Ready and shown
# Env: SSOPERATOR_KUBECONFIG runs the demo against that existing cluster instead;
#      DEMO_RESYNC (default 30s) is the operator's resync period; CARGO_TARGET_DIR is honoured.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

NAMESPACE=sso-demo            # examples/atlas.yaml's ClusterProviderConfig reads its Secret here
FIELD_MANAGER=ssoperator-demo
KINDS=providerconfigs,enterpriseconnections,connectionprofiles,orgrolemappings

if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD="" PLAIN=""; fi
say() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"; }

# ---------------------------------------------------------------------------------------------
# Steps run inside the control plane (KUBECONFIG is set by with-k8s.sh).

PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}

start_emulators() {
  say "Starting the provider emulators (Qovery, Auth0, LoginRadius, Clerk, Atlas)"
  "$SSO_BIN/emulators" --env-file "$WORK/emulators.env" --examples examples \
    --manifest "$WORK/examples.yaml" >"$WORK/emulators.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    [ -s "$WORK/emulators.env" ] && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$WORK/emulators.log" >&2; return 1; }
    sleep 0.1
  done
  # shellcheck disable=SC1091
  . "$WORK/emulators.env"
  cat "$WORK/emulators.env"
}

install_crds() {
  say "Installing the CRDs (crds/)"
  kubectl apply --server-side --force-conflicts --field-manager="$FIELD_MANAGER" -f crds/
  kubectl wait --for=condition=Established --timeout=60s -f crds/
}

apply_examples() {
  say "Applying examples/ into namespace $NAMESPACE (endpoints pointing at the emulators)"
  kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml |
    kubectl apply --server-side --field-manager="$FIELD_MANAGER" -f -
  kubectl apply --server-side --force-conflicts --field-manager="$FIELD_MANAGER" \
    --namespace "$NAMESPACE" -f "$WORK/examples.yaml"
}

start_operator() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  METRICS_URL="http://127.0.0.1:$port"
  say "Starting the operator (log: $WORK/operator.log, metrics: $METRICS_URL/metrics)"
  RUST_LOG=${RUST_LOG:-info} "$SSO_BIN/ssoperator" --log-format text --resync "${DEMO_RESYNC:-30s}" \
    --metrics-addr "127.0.0.1:$port" --identity demo >"$WORK/operator.log" 2>&1 &
  PIDS+=($!)
}

wait_ready() {
  say "Waiting until every resource is Ready"
  local ok=1
  kubectl wait --for=condition=Ready --timeout=120s clusterproviderconfigs --all || ok=0
  kubectl wait --for=condition=Ready --timeout=120s -n "$NAMESPACE" "$KINDS" --all || ok=0
  if [ "$ok" = 0 ]; then
    kubectl get sso -A
    echo "--- operator log (last 40 lines)" >&2
    tail -n 40 "$WORK/operator.log" >&2
    return 1
  fi
}

show() {
  say "kubectl get sso -A"
  kubectl get sso -A
  say "What the emulators hold ($CONTROL_URL/snapshot)"
  curl -sf "$CONTROL_URL/snapshot" | python3 -m json.tool
  say "Provider writes so far ($CONTROL_URL/writes)"
  curl -sf "$CONTROL_URL/writes"; echo
  say "Requests and answers the providers' API descriptions do not allow ($CONTROL_URL/contract-violations)"
  curl -sf "$CONTROL_URL/contract-violations"; echo
}

stay_up() {
  say "Everything is Ready. The demo stays up until Ctrl-C. In another terminal:"
  cat <<EOT
  export KUBECONFIG=$KUBECONFIG PATH=$(dirname "$(command -v kubectl)"):\$PATH
  kubectl get sso -A
  kubectl -n $NAMESPACE edit orgrolemapping acme-okta-roles      # change defaultRole; watch it sync
  kubectl -n $NAMESPACE get events --sort-by=.lastTimestamp
  curl -s $CONTROL_URL/snapshot                                  # the providers' side
  curl -s $METRICS_URL/metrics | grep ^ssoperator_
  tail -f $WORK/operator.log
EOT
  trap 'exit 0' INT TERM
  while :; do
    kill -0 "${PIDS[-1]}" 2>/dev/null || { echo "the operator stopped; see $WORK/operator.log" >&2; exit 1; }
    sleep 1 & wait $! || true
  done
}

inside() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/ssoperator-demo.XXXXXX")
  trap cleanup EXIT
  start_emulators
  install_crds
  apply_examples
  start_operator
  wait_ready
  show
  if [ "$ONCE" = 0 ]; then stay_up; fi
}

# ---------------------------------------------------------------------------------------------

if [ "${1:-}" = "--inside" ]; then
  inside
  exit 0
fi

ONCE=0
case "${1:-}" in
  --once) ONCE=1 ;;
  "") ;;
  *) echo "usage: $0 [--once]" >&2; exit 2 ;;
esac
export ONCE

scripts/system-tools.sh
command -v cargo >/dev/null 2>&1 || { echo "error: cargo is required (install Rust)" >&2; exit 1; }
if [ -z "${SSOPERATOR_KUBECONFIG:-}" ]; then
  say "Building kube-apiserver, etcd and kubectl (cached after the first run)"
  K8S_BIN=$(scripts/build-k8s-bins.sh | tail -n 1)
  export K8S_BIN
  echo "$K8S_BIN"
  export PATH="$K8S_BIN:$PATH"
fi
say "Building the operator and the emulators"
cargo build --workspace --bin ssoperator --bin emulators
SSO_BIN=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/debug
export SSO_BIN
if [ -z "${SSOPERATOR_KUBECONFIG:-}" ]; then say "Starting etcd + kube-apiserver on loopback"; fi
# Ctrl-C reaches every process of the demo; this runs once they have all stopped.
trap 'say "Interrupted; the operator, the emulators and the control plane were stopped."; exit 0' INT
scripts/with-k8s.sh "$0" --inside
say "Done; everything was stopped."
