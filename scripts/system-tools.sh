#!/usr/bin/env bash
# system-tools.sh: make sure the system tools the scripts use are present (openssl, curl, python3),
# installing the missing ones with apt-get when running as root on Debian/Ubuntu.
#   scripts/system-tools.sh [extra-debian-package...]
set -euo pipefail
missing=()
for tool in openssl curl python3; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
[ ${#missing[@]} -eq 0 ] && exit 0
packages=("${missing[@]/python3/python3-minimal}")
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing ${packages[*]} with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" ca-certificates >&2
else
  echo "error: missing ${missing[*]}; install them (e.g. apt-get install -y ${packages[*]})" >&2
  exit 1
fi
