#!/usr/bin/env bash
# with-k8s.sh: start etcd + kube-apiserver on loopback, run a command with KUBECONFIG set, tear down.
#   scripts/with-k8s.sh cargo test              # wrap a command; its exit code is passed through
#   scripts/with-k8s.sh --serve                 # print KUBECONFIG=<path>, block until SIGTERM/SIGINT
# The command sees KUBECONFIG and E2E_KUBECONFIG (same path). Everything started here is stopped and
# the work dir removed on any exit.
# Env:
#   SSOPERATOR_KUBECONFIG  use this existing cluster: start nothing, just run the command with it
#   K8S_BIN                dir with kube-apiserver and etcd (default: built by scripts/build-k8s-bins.sh)
#   K8S_START_TIMEOUT      seconds to wait for each component (default 120)
#   K8S_WATCH_PID          (--serve) also exit when this process is gone
#   K8S_KEEP=1             keep the work dir (logs, PKI) after exit
#   K8S_APISERVER_EXTRA_ARGS  extra kube-apiserver flags
# Restarting the control plane (--serve only; for tests of an API server outage): the work dir is
# the kubeconfig's directory. Write "stop" to <work dir>/control to stop kube-apiserver and etcd
# (TERM, then KILL after 3 s; "kill": KILL both at once, as a crash or power loss would), keeping
# etcd's data and every port; write "start" to start both
# again on the same ports with the same data. The script takes the order within 0.2 s, removes the
# control file, and writes "stopped" or "running" (once /readyz answers) to <work dir>/state.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVE=0
if [ "${1:-}" = "--serve" ]; then SERVE=1; shift; fi
if [ "$SERVE" = 0 ] && [ $# -eq 0 ]; then
  echo "usage: $0 <command> [args...] | $0 --serve" >&2
  exit 2
fi

# --- An existing cluster: start nothing.
if [ -n "${SSOPERATOR_KUBECONFIG:-}" ]; then
  [ -r "$SSOPERATOR_KUBECONFIG" ] || { echo "with-k8s: SSOPERATOR_KUBECONFIG=$SSOPERATOR_KUBECONFIG is not readable" >&2; exit 1; }
  export KUBECONFIG="$SSOPERATOR_KUBECONFIG" E2E_KUBECONFIG="$SSOPERATOR_KUBECONFIG"
  echo "with-k8s: using the existing cluster in $KUBECONFIG" >&2
  if [ "$SERVE" = 1 ]; then
    echo "KUBECONFIG=$KUBECONFIG"
    trap 'exit 0' TERM INT HUP
    while :; do
      if [ -n "${K8S_WATCH_PID:-}" ] && ! kill -0 "$K8S_WATCH_PID" 2>/dev/null; then exit 0; fi
      sleep 1 & wait $! || true
    done
  fi
  exec "$@"
fi

missing=()
for tool in openssl curl python3; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "with-k8s: missing required tool(s): ${missing[*]}. Install them (Debian: apt-get install -y ${missing[*]/python3/python3-minimal}) or set SSOPERATOR_KUBECONFIG to use an existing cluster." >&2
  exit 1
fi

if [ -n "${K8S_BIN:-}" ]; then
  BIN=$K8S_BIN
else
  BIN=$("$ROOT/scripts/build-k8s-bins.sh" | tail -n 1)
fi
for b in etcd kube-apiserver; do
  [ -x "$BIN/$b" ] || { echo "with-k8s: $BIN/$b not found (set K8S_BIN or run scripts/build-k8s-bins.sh)" >&2; exit 1; }
done

TIMEOUT=${K8S_START_TIMEOUT:-120}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ssoperator-k8s.XXXXXX")
PIDS=()

# stop_pid <pid>: TERM, a short grace period, then KILL. The state is thrown away, so there is
# nothing to wait for.
# Safe under set -e (the control file stops components while the script runs on).
stop_pid() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 1 30); do alive "$1" || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  return 0
}

cleanup() {
  local rc=$?
  set +e
  # kube-apiserver first: etcd waits for its clients' streams before it exits.
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
  if [ "${K8S_KEEP:-0}" = 1 ]; then echo "with-k8s: kept $WORK" >&2; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

# Distinct free loopback ports: all sockets are held open until every port is chosen. They are
# chosen below the kernel's range of ephemeral ports, so that no outgoing connection takes one as
# its source port while the control plane is stopped (see the control file above).
free_ports() { # free_ports <n>
  python3 - "$1" <<'PY'
import random, socket, sys
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
socks = []
while len(socks) < int(sys.argv[1]):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    port = random.randrange(10000, low) if low > 11000 else 0
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

# alive <pid>: the process runs (an exited child stays a zombie until reaped, and kill -0 passes).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }
  [ "${stat:0:1}" != Z ]
}

# wait_for <what> <pid> <cmd...>: poll cmd until it succeeds. Returns 1 if pid exited, 2 on timeout.
wait_for() {
  local what=$1 pid=$2; shift 2
  local deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$pid"; then
      echo "with-k8s: $what: the process exited during startup" >&2
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "with-k8s: timeout after ${TIMEOUT}s waiting for $what" >&2
      return 2
    fi
    sleep 0.3
  done
}

port_taken() { grep -qi "address already in use" "$1" 2>/dev/null; }

show_logs() { for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 40 "$f" >&2; }; done; }

PKI=$WORK/pki
mkdir -p "$PKI"

# --- PKI: one CA; a serving cert with IP SAN 127.0.0.1; an EC key that signs service-account tokens.
cat > "$PKI/ca.cnf" <<'CNF'
[req]
distinguished_name = dn
x509_extensions = v3_ca
prompt = no
[dn]
CN = ssoperator-e2e-ca
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
CNF
cat > "$PKI/serving.ext" <<'EXT'
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc
EXT
{
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key"
  openssl req -x509 -new -key "$PKI/ca.key" -config "$PKI/ca.cnf" -days 30 -sha256 -out "$PKI/ca.crt"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/apiserver.key"
  openssl req -new -key "$PKI/apiserver.key" -subj "/CN=kube-apiserver" -out "$PKI/apiserver.csr"
  openssl x509 -req -in "$PKI/apiserver.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$PKI/serving.ext" -out "$PKI/apiserver.crt"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key"
} >"$WORK/openssl.log" 2>&1 || { echo "with-k8s: generating the PKI failed" >&2; cat "$WORK/openssl.log" >&2; exit 1; }

# --- Static bearer token for an admin user (group system:masters bypasses RBAC).
ADMIN_TOKEN=$(python3 -c 'import secrets;print(secrets.token_hex(16))')
echo "${ADMIN_TOKEN},e2e-admin,e2e-admin-uid,\"system:masters\"" > "$WORK/tokens.csv"
chmod 600 "$WORK/tokens.csv"

# launch_etcd: etcd on $ETCD_PORT/$PEER_PORT with its data in $WORK/etcd (kept if there).
launch_etcd() {
  "$BIN/etcd" --name=e2e --data-dir="$WORK/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$PEER_PORT" \
    --initial-cluster="e2e=http://127.0.0.1:$PEER_PORT" \
    --unsafe-no-fsync=true --log-level=warn >>"$WORK/etcd.log" 2>&1 &
  ETCD_PID=$!
  PIDS+=("$ETCD_PID")
}

# launch_apiserver: kube-apiserver on $API_PORT against the etcd on $ETCD_PORT. It allows 100
# streams per HTTP/2 connection, as Go's HTTP/2 server does by default (kube-apiserver: 1000), so
# that the operator's client is tested against the strictest servers (tests/e2e/apiserver.rs).
launch_apiserver() {
  # shellcheck disable=SC2086  # K8S_APISERVER_EXTRA_ARGS is a list of flags
  "$BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --secure-port="$API_PORT" \
    --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --token-auth-file="$WORK/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.key" \
    --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --disable-admission-plugins=ServiceAccount \
    --allow-privileged=true \
    --cert-dir="$PKI" \
    --http2-max-streams-per-connection=100 \
    ${K8S_APISERVER_EXTRA_ARGS:-} >>"$WORK/apiserver.log" 2>&1 &
  API_PID=$!
  PIDS+=("$API_PID")
}

# --- etcd (single member, loopback only, no fsync). Retried with new ports if one was taken meanwhile.
ETCD_PID=""
for attempt in 1 2 3; do
  read -r ETCD_PORT PEER_PORT < <(free_ports 2)
  rm -rf "$WORK/etcd"
  launch_etcd
  wait_for etcd "$ETCD_PID" curl -sf "http://127.0.0.1:$ETCD_PORT/health" && break
  stop_pid "$ETCD_PID"
  PIDS=()
  # Only a port taken between choosing and binding it is worth another try.
  if [ "$attempt" = 3 ] || ! port_taken "$WORK/etcd.log"; then show_logs; exit 1; fi
  echo "with-k8s: a port was taken; retrying etcd with other ports" >&2
done

# --- kube-apiserver
API_PID=""
for attempt in 1 2 3; do
  read -r API_PORT < <(free_ports 1)
  launch_apiserver
  API="https://127.0.0.1:$API_PORT"
  wait_for "kube-apiserver /readyz" "$API_PID" curl -sf --cacert "$PKI/ca.crt" "$API/readyz" && break
  stop_pid "$API_PID"
  PIDS=("$ETCD_PID")
  if [ "$attempt" = 3 ] || ! port_taken "$WORK/apiserver.log"; then show_logs; exit 1; fi
  echo "with-k8s: the port was taken; retrying kube-apiserver with another port" >&2
done
wait_for "namespace default" "$API_PID" curl -sf --cacert "$PKI/ca.crt" \
  -H "Authorization: Bearer $ADMIN_TOKEN" "$API/api/v1/namespaces/default" || { show_logs; exit 1; }

cat > "$WORK/kubeconfig" <<KCFG
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: $API
    certificate-authority: $PKI/ca.crt
users:
- name: e2e-admin
  user:
    token: $ADMIN_TOKEN
contexts:
- name: e2e
  context: {cluster: e2e, user: e2e-admin, namespace: default}
current-context: e2e
KCFG
chmod 600 "$WORK/kubeconfig"
export KUBECONFIG="$WORK/kubeconfig" E2E_KUBECONFIG="$WORK/kubeconfig"
export K8S_BIN="$BIN" PATH="$BIN:$PATH" # the command finds the matching kubectl first
echo "with-k8s: kube-apiserver ready at $API (etcd 127.0.0.1:$ETCD_PORT, work dir $WORK)" >&2

if [ "$SERVE" = 1 ]; then
  echo "KUBECONFIG=$KUBECONFIG"
  # Block until a signal arrives (the traps exit and the EXIT trap cleans up), a component dies,
  # or the watched process is gone. Meanwhile obey $WORK/control (see the header): "stop" stops
  # kube-apiserver and etcd, keeping etcd's data dir and every port; "start" starts them again.
  echo running >"$WORK/state"
  STOPPED=0
  while [ "$STOPPED" = 1 ] || { alive "$ETCD_PID" && alive "$API_PID"; }; do
    if [ -n "${K8S_WATCH_PID:-}" ] && ! alive "$K8S_WATCH_PID"; then exit 0; fi
    if [ -s "$WORK/control" ]; then
      order=$(cat "$WORK/control")
      rm -f "$WORK/control"
      case "$order" in
        stop | kill)
          if [ "$STOPPED" = 0 ]; then
            if [ "$order" = kill ]; then
              kill -KILL "$API_PID" "$ETCD_PID" 2>/dev/null || true
              wait "$API_PID" "$ETCD_PID" 2>/dev/null || true
            else
              stop_pid "$API_PID"
              stop_pid "$ETCD_PID"
            fi
            PIDS=()
            STOPPED=1
          fi
          echo stopped >"$WORK/state"
          echo "with-k8s: stopped kube-apiserver and etcd (control file)" >&2
          ;;
        start)
          if [ "$STOPPED" = 1 ]; then
            # A port may still be held for a moment by the stopped process's sockets: retry.
            for attempt in 1 2 3 4 5; do
              launch_etcd
              wait_for etcd "$ETCD_PID" curl -sf "http://127.0.0.1:$ETCD_PORT/health" && break
              stop_pid "$ETCD_PID"
              PIDS=()
              [ "$attempt" = 5 ] && { show_logs; exit 1; }
              sleep 1
            done
            for attempt in 1 2 3 4 5; do
              launch_apiserver
              wait_for "kube-apiserver /readyz" "$API_PID" curl -sf --cacert "$PKI/ca.crt" "$API/readyz" && break
              stop_pid "$API_PID"
              PIDS=("$ETCD_PID")
              [ "$attempt" = 5 ] && { show_logs; exit 1; }
              sleep 1
            done
            STOPPED=0
          fi
          echo running >"$WORK/state"
          echo "with-k8s: started kube-apiserver and etcd again (control file)" >&2
          ;;
        *) echo "with-k8s: unknown order in $WORK/control: $order" >&2 ;;
      esac
      continue
    fi
    sleep 0.2 & wait $! || true
  done
  echo "with-k8s: a control-plane process exited" >&2
  show_logs
  exit 1
else
  set +e
  "$@"
  rc=$?
  set -e
  exit "$rc"
fi
