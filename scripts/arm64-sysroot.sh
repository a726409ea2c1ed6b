#!/usr/bin/env bash
# Maintainers: an arm64 Node (Debian's) to check prebuilds/linux-arm64/ under qemu-user on an x64 machine:
#   apt-get install -y qemu-user-static g++-aarch64-linux-gnu && dpkg --add-architecture arm64 && apt-get update
#   bash scripts/arm64-sysroot.sh DIR && SYNUP_ARM64_ROOT=DIR npx vitest run test/prebuild-arm64.test.ts
set -euo pipefail
root=$(realpath -m "${1:?usage: arm64-sysroot.sh DIR}")
debs=$(mktemp -d)
trap 'rm -rf "$debs"' EXIT
(cd "$debs" && apt-get download nodejs:arm64 libnode108:arm64 libuv1:arm64 libicu72:arm64 libssl3:arm64 \
  libc-ares2:arm64 libnghttp2-14:arm64 libbrotli1:arm64 zlib1g:arm64 libstdc++6:arm64 libgcc-s1:arm64 libc6:arm64 \
  node-acorn node-cjs-module-lexer node-undici)
mkdir -p "$root"
for deb in "$debs"/*.deb; do dpkg -x "$deb" "$root"; done
echo "arm64 sysroot with $("$root/usr/bin/node" --version 2>/dev/null || qemu-aarch64-static -L "$root" "$root/usr/bin/node" --version) in $root"
