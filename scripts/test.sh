#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with Swift: installs the
# system packages it needs (when missing), starts RabbitMQ and Redis on
# loopback (scripts/servers.sh), builds, runs `swift test`, stops the servers.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib.sh
install_packages librabbitmq-dev libhiredis-dev libopenblas-dev libssl-dev openssl rabbitmq-server redis-server python3-venv prometheus

test_tools

export EAST_SERVERS_DIR=${EAST_SERVERS_DIR:-$PWD/.servers/test}
trap 'scripts/servers.sh stop >/dev/null' EXIT
echo "starting RabbitMQ and Redis on loopback"
for line in $(scripts/servers.sh start); do export "$line"; done

step "building the tests" swift build --build-tests
swift test --skip-build --disable-xctest "$@"

# The paths of CPUs without AVX-512 (AVX2 rows, OpenBLAS prefill, portable
# attention, libm's exponentials in the training layers), which an AVX2-only
# CI machine runs in the line above: on an AVX-512 machine, the engine suites
# that decode or check the layers' gradients run again with the kernels
# switched off (EAST_NO_AVX512 is read when the library loads) and OpenBLAS
# held to its AVX2 kernels (OPENBLAS_CORETYPE=Haswell).
if [ $# -eq 0 ] && [ -z "${EAST_NO_AVX512:-}" ]; then
    echo "again on the AVX2 path (EAST_NO_AVX512=1): the decoding and gradient suites"
    EAST_NO_AVX512=1 OPENBLAS_CORETYPE=Haswell swift test --skip-build --disable-xctest \
        --filter 'DecodeKernelTests|SamplingTests|SmolLM2ParityTests|Llama3Qwen2ParityTests|LayerGradientTests|ModelGradientTests'
fi
