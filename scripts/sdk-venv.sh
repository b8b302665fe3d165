#!/usr/bin/env bash
# Install the providers' official Python SDKs, pinned, into a cached venv outside the git tree, for
# the tests that drive the emulators with them (emulators/tests/sdk.rs):
#   clerk-backend-api  Clerk's Backend API SDK (Speakeasy-generated)
#   auth0-python       Auth0's SDK (Management API client Fern-generated)
# A no-op when the venv already holds these versions.
#   scripts/sdk-venv.sh            # prints the venv's python on its last line
# Env: SSOPERATOR_CACHE (default ~/.cache/ssoperator)
set -euo pipefail
CLERK_VERSION=7.0.0
AUTH0_VERSION=6.8.0
# Bump when the list or the versions change: a new directory, never a half-upgraded venv.
N=1
CACHE=${SSOPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ssoperator}
VENV=$CACHE/sdk-$N
STAMP="clerk-backend-api==$CLERK_VERSION auth0-python==$AUTH0_VERSION"

if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.stamp" 2>/dev/null)" = "$STAMP" ]; then
  echo "$VENV/bin/python"; exit 0
fi
command -v python3 >/dev/null 2>&1 || { echo "error: python3 (>= 3.10) is needed for the SDK tests" >&2; exit 1; }
echo "creating $VENV with $STAMP (first run only)" >&2
rm -rf "$VENV"
mkdir -p "$CACHE"
python3 -m venv "$VENV" >&2
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $STAMP >&2
"$VENV/bin/python" -c 'import clerk_backend_api, auth0.management' >&2
echo "$STAMP" > "$VENV/.stamp"
echo "$VENV/bin/python"
