#!/usr/bin/env bash
# Installs the Debian packages strata needs to build and test (run as root on Debian 12).
# Set STRATA_WITH_OPENCV=0 to skip OpenCV (used only by comparison tests and benchmarks).
set -euo pipefail
packages=(build-essential cmake ninja-build pkg-config
          libtorch-dev libpng-dev libjpeg-dev zlib1g-dev
          nlohmann-json3-dev libcli11-dev libgtest-dev libbenchmark-dev)
if [ "${STRATA_WITH_OPENCV:-1}" = 1 ]; then packages+=(libopencv-dev libopencv-contrib-dev); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
