# Shared by scripts/test.sh and scripts/cluster.sh (sourced, not run): one
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
