#!/usr/bin/env bash
# Build the static operator binary that the container image ships (the Dockerfile runs this script),
# and check it: statically linked (no ELF interpreter, no shared libraries) and it runs.
#   scripts/build-static.sh            # prints the binary's path on its last line
# Needs the Rust target x86_64-unknown-linux-musl (added with rustup when missing) and musl-gcc
# (Debian: apt-get install musl-tools) for ring's C and assembly code.
# Env: CARGO_TARGET_DIR is honoured as cargo does; CARGO_PROFILE (default release).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=x86_64-unknown-linux-musl
PROFILE=${CARGO_PROFILE:-release}

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  echo "adding the Rust target $TARGET" >&2
  rustup target add "$TARGET" >&2
fi
command -v musl-gcc >/dev/null 2>&1 || {
  echo "error: musl-gcc is needed to build ring for $TARGET (Debian: apt-get install musl-tools)" >&2
  exit 1
}
export CC_x86_64_unknown_linux_musl=musl-gcc
cargo build --locked --profile "$PROFILE" --target "$TARGET" --bin ssoperator >&2

DIR=${CARGO_TARGET_DIR:-target}
[ "$PROFILE" = dev ] && SUB=debug || SUB=$PROFILE
BIN=$DIR/$TARGET/$SUB/ssoperator
[ -x "$BIN" ] || { echo "error: $BIN was not built" >&2; exit 1; }

# Static: no PT_INTERP program header and no DT_NEEDED entry (a static-pie still has a dynamic
# section, so "has no dynamic section" alone is not the test).
HEADERS=$(readelf --program-headers --dynamic --wide "$BIN")
if grep -q 'INTERP' <<< "$HEADERS" || grep -q '(NEEDED)' <<< "$HEADERS"; then
  echo "error: $BIN is dynamically linked:" >&2
  grep -E 'INTERP|NEEDED|interpreter' <<< "$HEADERS" >&2
  exit 1
fi
VERSION=$("$BIN" --version)
echo "static binary: $BIN ($VERSION, $(du -k "$BIN" | cut -f1) KiB)" >&2
echo "$BIN"
