#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with Swift:
# installs the system packages it needs (when missing), builds, runs `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(librabbitmq-dev libhiredis-dev libopenblas-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

swift build --build-tests
swift test --skip-build --disable-xctest "$@"
