#!/usr/bin/env bash
# Builds the image's binary from exactly the files the Dockerfile's build stage copies, without a
# container engine: the build context (tracked files minus .dockerignore) is assembled in an empty
# directory, its COPY lines are replayed there, and the build script its RUN line names runs there.
# A file the build needs but the Dockerfile does not copy (or .dockerignore leaves out) fails here.
#   scripts/check-image-context.sh [build-static.sh options]   # prints the binary's path last
# Env: CARGO_TARGET_DIR is honoured (so the build shares the usual cache); KEEP=1 keeps the copy.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ssoperator-image.XXXXXX")
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
CONTEXT=$WORK/context IMAGE=$WORK/src
mkdir -p "$CONTEXT" "$IMAGE"

# 1. The build context: what git tracks (plus untracked, unignored files), minus .dockerignore.
ignored=()
[ -f .dockerignore ] && while IFS= read -r line; do
  line=${line%%#*}; line=${line%/}; line=$(echo "$line" | xargs)
  [ -n "$line" ] && ignored+=("$line")
done < .dockerignore
while IFS= read -r f; do
  skip=0
  for pat in "${ignored[@]}"; do
    # shellcheck disable=SC2053 # the pattern is a glob on purpose
    if [[ $f == $pat || $f == $pat/* ]]; then skip=1; break; fi
  done
  [ "$skip" = 1 ] || { mkdir -p "$CONTEXT/$(dirname "$f")"; cp -p "$f" "$CONTEXT/$f"; }
done < <(git ls-files --cached --others --exclude-standard | sort -u)

# 2. The build stage's COPY lines (up to the first FROM after the first), replayed relative to WORKDIR.
stage=0 run=""
while IFS= read -r line; do
  case $line in
    FROM*) stage=$((stage + 1)); [ "$stage" -gt 1 ] && break ;;
    COPY\ --from*) ;;
    COPY*)
      read -r -a words <<< "${line#COPY }"
      dest=${words[-1]}; unset 'words[-1]'
      for src in "${words[@]}"; do
        [ -e "$CONTEXT/$src" ] || { echo "error: COPY $src: not in the build context (.dockerignore?)" >&2; exit 1; }
        if [ -d "$CONTEXT/$src" ]; then
          mkdir -p "$IMAGE/$dest"; cp -a "$CONTEXT/$src/." "$IMAGE/$dest/"
        elif [[ $dest == */ ]]; then
          mkdir -p "$IMAGE/$dest"; cp -p "$CONTEXT/$src" "$IMAGE/$dest"
        else
          mkdir -p "$(dirname "$IMAGE/$dest")"; cp -p "$CONTEXT/$src" "$IMAGE/$dest"
        fi
      done ;;
    RUN*build-static.sh*) run=$line ;;
  esac
done < Dockerfile
[ -n "$run" ] || { echo "error: the Dockerfile's build stage no longer runs scripts/build-static.sh" >&2; exit 1; }
echo "image build context: $(find "$IMAGE" -type f | wc -l) files ($(cd "$IMAGE" && ls | tr '\n' ' '))" >&2

# 3. The same build, in the copy. The target directory is the caller's (an absolute path), so the
# dependencies are not built twice.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $CARGO_TARGET_DIR in /*) ;; *) CARGO_TARGET_DIR=$ROOT/$CARGO_TARGET_DIR ;; esac
BIN=$(cd "$IMAGE" && scripts/build-static.sh "$@" | tail -n 1)
echo "$BIN"
