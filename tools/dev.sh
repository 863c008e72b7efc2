#!/usr/bin/env bash
# Set up, build, run or test courtroute from a checkout, as root on Debian 12.
#   bash tools/dev.sh run    install packages, build, start courtrouted on config/local.toml
#   bash tools/dev.sh test   install packages, build (warnings are errors), run every test
set -euo pipefail
cd "$(dirname "$0")/.."

# What building and running need; the tests also need real clients, openssl for test
# certificates, systemd-analyze for the unit, dpkg-dev/lintian for the package, certutil
# (libnss3-tools) for `courtroute ca --install` into NSS databases, and the benchmark smoke
# run (bench.smoke) its peers: nginx, squid with ssl-bump, mitmproxy, taskset.
build_packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libboost1.81-dev libboost-json1.81-dev libssl-dev libtomlplusplus-dev
  libsqlitecpp-dev libsqlite3-dev libgtest-dev libgmock-dev libsystemd-dev
)
test_packages=(curl openssl python3 python3-requests systemd dpkg-dev lintian libnss3-tools
               nginx-light squid-openssl mitmproxy util-linux)

install_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOURTROUTE_WERROR=ON >/dev/null
  cmake --build build -j"$(nproc)"
}

case "${1:-}" in
  run)
    install_packages "${build_packages[@]}"
    build
    exec build/daemon/courtrouted --config config/local.toml
    ;;
  test)
    install_packages "${build_packages[@]}" "${test_packages[@]}"
    build
    ctest --test-dir build --output-on-failure -j2 --timeout 300
    ;;
  *)
    echo "usage: bash tools/dev.sh run|test" >&2
    exit 2
    ;;
esac
