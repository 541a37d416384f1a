#!/usr/bin/env bash
# The test suite under the sanitizers, with the servers test.sh starts:
#
#   bash scripts/sanitize.sh address   # every suite under AddressSanitizer, the C targets also under
#                                      # UndefinedBehaviorSanitizer (.build-asan; Swift traps its own overflows)
#   bash scripts/sanitize.sh thread    # the engine's thread pool, the clients and the worker loops under ThreadSanitizer (.build-tsan)
#
# Every executable the tests start (the workers, east) is built the same way,
# so a cluster test runs sanitized workers too. A report fails the run; the
# reports also go to .sanitize/<kind>.* (ASAN_OPTIONS/TSAN_OPTIONS log_path).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: scripts/sanitize.sh address|thread [swift test arguments]}
shift
source scripts/lib.sh
test_tools
case $kind in
    address) flags=(--sanitize=address -Xcc -fsanitize=undefined); build=.build-asan; filter=() ;;
    thread) flags=(--sanitize=thread); build=.build-tsan
            filter=(--filter 'BLASThreadsTests|DecodeKernelTests|SamplingTests|AMQPTests|RedisTests|smallRunEndToEnd|samplerKilledMidIteration|trainerKilledMidEpoch|brokerRestartMidRun') ;;
    *) echo "usage: scripts/sanitize.sh address|thread" >&2; exit 2 ;;
esac
mkdir -p .sanitize
rm -f .sanitize/"$kind".*
step "building the tests with ${flags[*]} ($build)" swift build --build-tests --build-path "$build" "${flags[@]}"

export EAST_SERVERS_DIR=${EAST_SERVERS_DIR:-$PWD/.servers/sanitize}
trap 'scripts/servers.sh stop >/dev/null' EXIT
echo "starting RabbitMQ and Redis on loopback"
for line in $(scripts/servers.sh start); do export "$line"; done

# halt_on_error=0: every report of a run is seen; the logs decide.
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=0:log_path=$PWD/.sanitize/address
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=0:log_path=$PWD/.sanitize/address-ub
export TSAN_OPTIONS=halt_on_error=0:second_deadlock_stack=1:log_path=$PWD/.sanitize/thread
status=0
swift test --skip-build --disable-xctest --build-path "$build" "${filter[@]}" "$@" || status=$?
reports=$(ls .sanitize/ 2>/dev/null | grep -c "^$kind" || true)
if [ "$reports" -gt 0 ]; then
    echo "$reports sanitizer report file(s) in .sanitize/:" >&2
    ls .sanitize/ >&2
    exit 1
fi
echo "no sanitizer reports"
exit "$status"
