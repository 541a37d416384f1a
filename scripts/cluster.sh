#!/usr/bin/env bash
# The main job: the EAST cluster on the embedded default, on this machine.
# Installs what is missing, builds, starts RabbitMQ and Redis on loopback,
# and runs `east cluster up`: it launches evaluator, trainer, clusterer and
# two samplers, runs the coordinator (EAST SFT on arith-easy; extra arguments
# go to it), prints the report, and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib.sh
install_packages librabbitmq-dev libhiredis-dev libopenblas-dev libssl-dev rabbitmq-server redis-server

step "building (release)" swift build -c release
bin=$(swift build -c release --show-bin-path)

export EAST_SERVERS_DIR=${EAST_SERVERS_DIR:-$PWD/.servers/cluster}
# Policies travel through Redis (EAST_POLICY_STORE=shared:/path for a shared folder); caches in .east-cache/<worker>.
trap 'scripts/servers.sh stop >/dev/null' EXIT
echo "starting RabbitMQ and Redis on loopback"
for line in $(scripts/servers.sh start); do export "$line"; done

# The launcher starts the workers, runs the coordinator to the end, and stops the workers.
"$bin/east" cluster up --samplers 2 --logs "${EAST_LOGS:-$PWD/.east-logs}" -- \
    --checkpoint models/arith-easy --task arith-easy --train-count 2048 --test-count 500 \
    --n 8 --temperature 0.8 --loss sft --weighting entropy --a 1 --iterations 2 --report runs "$@"
