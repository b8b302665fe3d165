#!/usr/bin/env bash
# Build the static operator binary that the container image ships (the Dockerfile runs this script),
# and check it: statically linked (no ELF interpreter, no shared libraries) and it runs.
#   scripts/build-static.sh            # prints the binary's path on its last line
#   scripts/build-static.sh --allow-glibc-fallback
# Needs the Rust target x86_64-unknown-linux-musl (added with rustup when missing) and musl-gcc
# (Debian: apt-get install musl-tools) for ring's C and assembly code. `rustup target add` fetches
# from static.rust-lang.org, outside the package registries; where that host (or musl-gcc) is
# unavailable, --allow-glibc-fallback (scripts/test.sh passes it) builds a static glibc binary
# (+crt-static) instead and says so. The Dockerfile never passes it: the image is always musl.
# Env: CARGO_TARGET_DIR is honoured as cargo does; CARGO_PROFILE (default image: release with
# fat LTO, see Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=x86_64-unknown-linux-musl
PROFILE=${CARGO_PROFILE:-image}
FALLBACK=0
[ "${1:-}" = --allow-glibc-fallback ] && FALLBACK=1

musl_ready() {
  if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
    echo "adding the Rust target $TARGET" >&2
    timeout 300 rustup target add "$TARGET" >&2 || {
      echo "rustup could not add $TARGET (is static.rust-lang.org reachable?)" >&2
      return 1
    }
  fi
  command -v musl-gcc >/dev/null 2>&1 || {
    echo "musl-gcc is needed to build ring for $TARGET (Debian: apt-get install musl-tools)" >&2
    return 1
  }
}

if musl_ready; then
  export CC_x86_64_unknown_linux_musl=musl-gcc
elif [ "$FALLBACK" = 1 ]; then
  TARGET=x86_64-unknown-linux-gnu
  echo "warning: building a static glibc binary (+crt-static) instead of the image's musl one" >&2
  export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static"
else
  echo "error: the musl build is not possible here (see above)" >&2
  exit 1
fi
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
