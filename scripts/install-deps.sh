#!/usr/bin/env bash
# Installs, only when missing, the Debian packages sq builds and tests with.
# Uses apt-get directly as root, sudo otherwise; says what it does.
set -euo pipefail
pkgs=(build-essential pkg-config libjansson-dev libutf8proc-dev libzstd-dev libssl-dev zlib1g-dev
      libopenmpi-dev openmpi-bin libopenblas-dev libcmocka-dev clang zstd gnuplot-nox bc jq
      curl ca-certificates unzip python3-pip)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
    echo "install-deps: missing ${missing[*]}, and this is not a Debian-like system: install them by hand" >&2
    exit 1
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
