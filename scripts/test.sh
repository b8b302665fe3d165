#!/usr/bin/env bash
# test.sh: the whole test suite, from a machine that has only the Rust, Go and Python toolchains.
#   scripts/test.sh
# Steps: install missing system tools (openssl, curl, musl-tools), build kube-apiserver/etcd/kubectl
# once (cached; scripts/build-k8s-bins.sh), build helm, kstatus and argocd-health once (cached;
# scripts/build-tools.sh), install the providers' official Python SDKs once (cached;
# scripts/sdk-venv.sh), build and check the container image's static binary in the Dockerfile's
# own context (scripts/check-image-context.sh), cargo fmt --check, cargo clippy -D warnings, and cargo test
# --all-targets with one real control plane (scripts/with-k8s.sh) for the e2e tests.
# Every step runs even if an earlier one failed; the exit code is non-zero if any failed.
# Env: SSOPERATOR_KUBECONFIG runs the e2e tests against that existing cluster instead;
#      CARGO_TARGET_DIR is honoured as cargo does.
set -euo pipefail
cd "$(dirname "$0")/.."

STEPS=()   # "name|status|seconds"
FAILED=0
LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ssoperator-test.XXXXXX")
trap 'rm -rf "$LOG_DIR"' EXIT

section() { printf '\n==> %s\n' "$*"; }
record() { # record <name> <status> <start-seconds>
  STEPS+=("$1|$2|$((SECONDS - $3))")
  [ "$2" = ok ] || [ "$2" = skipped ] || FAILED=1
}
# step <name> <cmd...>: run and record a step.
step() {
  local name=$1 start=$SECONDS; shift
  section "$name: $*"
  if "$@"; then record "$name" ok "$start"; else record "$name" FAILED "$start"; fi
}

# --- 1. System tools
install_tools() {
  local missing=()
  for tool in openssl curl; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  command -v musl-gcc >/dev/null 2>&1 || missing+=(musl-tools) # the static image binary
  if [ ${#missing[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      echo "installing ${missing[*]} with apt-get"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" ca-certificates
    else
      echo "error: missing ${missing[*]}; install them (e.g. apt-get install -y ${missing[*]})" >&2
      return 1
    fi
  fi
  local tool
  for tool in python3 cargo; do
    command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool is required" >&2; return 1; }
  done
  for comp in fmt clippy; do
    cargo "$comp" --version >/dev/null 2>&1 && continue
    echo "cargo $comp is missing; trying rustup component add" >&2
    if ! { command -v rustup >/dev/null 2>&1 && rustup component add "${comp/fmt/rustfmt}" >&2; }; then
      echo "error: cargo $comp is required (rustup component add ${comp/fmt/rustfmt})" >&2
      return 1
    fi
  done
  echo "openssl: $(openssl version)"
  echo "curl: $(curl --version | sed -n 1p)"
  echo "python3: $(python3 --version 2>&1)"
  echo "cargo: $(cargo --version)"
}
step tools install_tools

# --- 2. Control-plane binaries (a no-op when cached)
K8S_OK=1
if [ -n "${SSOPERATOR_KUBECONFIG:-}" ]; then
  section "k8s-binaries: skipped, SSOPERATOR_KUBECONFIG=$SSOPERATOR_KUBECONFIG"
  STEPS+=("k8s-binaries|skipped|0")
else
  start=$SECONDS
  section "k8s-binaries: scripts/build-k8s-bins.sh"
  if scripts/build-k8s-bins.sh > "$LOG_DIR/bins.out"; then
    K8S_BIN=$(tail -n 1 "$LOG_DIR/bins.out")
    export K8S_BIN
    echo "$K8S_BIN"
    "$K8S_BIN/kube-apiserver" --version
    "$K8S_BIN/etcd" --version | sed -n 1p
    record k8s-binaries ok "$start"
  else
    K8S_OK=0
    record k8s-binaries FAILED "$start"
  fi
fi

# --- 2b. Packaging tools: helm, kstatus, argocd-health (a no-op when cached)
start=$SECONDS
section "tools: scripts/build-tools.sh"
if scripts/build-tools.sh > "$LOG_DIR/tools.out"; then
  SSOPERATOR_TOOLS_BIN=$(tail -n 1 "$LOG_DIR/tools.out")
  export SSOPERATOR_TOOLS_BIN
  echo "$SSOPERATOR_TOOLS_BIN"
  "$SSOPERATOR_TOOLS_BIN/helm" version --short
  record pkg-tools ok "$start"
else
  record pkg-tools FAILED "$start"
fi

# --- 2b'. The providers' official Python SDKs, pinned, for emulators/tests/sdk.rs (a no-op when cached)
start=$SECONDS
section "sdk-venv: scripts/sdk-venv.sh"
if scripts/sdk-venv.sh > "$LOG_DIR/sdk.out"; then
  SSOPERATOR_SDK_PYTHON=$(tail -n 1 "$LOG_DIR/sdk.out")
  export SSOPERATOR_SDK_PYTHON
  echo "$SSOPERATOR_SDK_PYTHON"
  record sdk-venv ok "$start"
else
  record sdk-venv FAILED "$start"
fi

# --- 2c. The container image's binary: static (musl), image profile (release with fat LTO), starts, built from exactly
# the files the Dockerfile copies
step static-binary scripts/check-image-context.sh --allow-glibc-fallback

# --- 3. Format and lints
step fmt cargo fmt --all --check
step clippy cargo clippy --all-targets --features failpoints,testkit --workspace --locked -- -D warnings

# --- 4. Tests: unit tests (incl. the stale-CRD check) and the e2e tests against one control plane
TEST_LOG=$LOG_DIR/test.log
if [ "$K8S_OK" = 1 ]; then
  start=$SECONDS
  section "test: scripts/with-k8s.sh cargo test --all-targets --features failpoints,testkit --workspace --locked"
  if scripts/with-k8s.sh cargo test --all-targets --features failpoints,testkit --workspace --locked 2>&1 | tee "$TEST_LOG"; then
    record test ok "$start"
  else
    record test FAILED "$start"
  fi
else
  section "test: not run (no control-plane binaries)"
  STEPS+=("test|FAILED (not run)|0")
  FAILED=1
  : > "$TEST_LOG"
fi

# --- Summary
passed=0 failed=0 ignored=0 binaries=0
while read -r p f i; do
  passed=$((passed + p)) failed=$((failed + f)) ignored=$((ignored + i)) binaries=$((binaries + 1))
done < <(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' "$TEST_LOG")

section "summary"
for s in "${STEPS[@]}"; do
  IFS='|' read -r name status secs <<< "$s"
  printf '  %-14s %-20s %5ss\n' "$name" "$status" "$secs"
done
printf '  %-14s %s test binaries, %s ignored\n' "" "$binaries" "$ignored"
printf '  total %ss\n' "$SECONDS"
if [ "$FAILED" = 0 ]; then echo "  result: PASSED"; else echo "  result: FAILED"; fi
echo "tests: $passed passed, $failed failed"
exit "$FAILED"
