#!/usr/bin/env bash
# Installs the Debian packages EdgeFormer needs to build, test and fuzz, but
# only the ones that are missing (so it is fast and offline-safe when all are
# present). Needs root or sudo only when something is missing.
# With the argument `arm` (used by `make test-arm`) it also installs
# GoogleTest's sources (built with the cross compiler), Debian's aarch64 cross
# toolchain (gcc/g++ + aarch64 libc and libstdc++ under /usr/aarch64-linux-gnu),
# qemu-user (qemu-aarch64 runs the aarch64 binaries on this x86 host, on chosen
# emulated CPUs) and, through dpkg multiarch (`dpkg --add-architecture arm64`),
# Debian's arm64 build of utf8proc (libutf8proc-dev:arm64, for the tokenizer);
# `make demo` and `make test` do not need them.
set -euo pipefail

packages=(g++ cmake ninja-build make libgtest-dev libbenchmark-dev libcli11-dev
          nlohmann-json3-dev clang libclang-rt-14-dev
          libutf8proc-dev pkg-config)
arm_packages=()
if [ "${1:-}" = "arm" ]; then
  packages+=(googletest g++-aarch64-linux-gnu qemu-user)
  arm_packages+=(libutf8proc-dev:arm64)
fi
missing=()
for p in "${packages[@]}" "${arm_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if [ ${#arm_packages[@]} -gt 0 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  # arm64 package lists come from the same Debian mirrors as the host's.
  $SUDO dpkg --add-architecture arm64
fi
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
