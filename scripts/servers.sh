#!/usr/bin/env bash
# Starts or stops a RabbitMQ and a Redis server on loopback, as root without
# systemd (see ../shared/notes/servers-on-loopback.md for why each setting is there).
#
#   scripts/servers.sh start   # prints the environment the workers and tests read
#   scripts/servers.sh stop
#   scripts/servers.sh restart-broker   # drop every AMQP connection (failure drills)
#
# Everything lives under $EAST_SERVERS_DIR (default: .servers/ in the checkout).
# Ports: EAST_AMQP_PORT, EAST_AMQP_DIST_PORT, EAST_REDIS_PORT,
# EAST_AMQP_PROMETHEUS_PORT. Two brokers on one machine need two node names:
# EAST_AMQP_NODE (default east@localhost on the default port, else east-PORT@localhost).
#
# TLS: with EAST_TLS_DIR set (a folder holding ca.crt, server.crt and
# server.key in PEM), the broker listens only for amqps and Redis only for
# rediss on the same ports, and the printed URLs are amqps:// and rediss://
# to localhost (the name the server certificate must carry) with ?cafile=.
#
# Off loopback (other hosts' workers): EAST_BIND_ADDRESS is the address the
# broker's AMQP listener and Redis bind to (default 127.0.0.1; Erlang
# distribution, epmd and the Prometheus plugin stay on loopback, so run
# rabbitmqctl on the same host, or in the same network namespace). The
# workers refuse guest and password-less servers off loopback, so set
# EAST_AMQP_USER and EAST_AMQP_PASSWORD (a user with the vhost "east" and
# rights on east.* only, as docker/compose.yaml's broker has) and
# EAST_REDIS_PASSWORD (the ACL user EAST_REDIS_USER, default east, on east:*
# keys without @dangerous commands; the default user off). Passwords go into
# JSON and ACL text: no quotes, backslashes or spaces.
#
#   scripts/servers.sh restart-redis   # SIGKILL Redis and start it again on its AOF (failure drills)
set -euo pipefail
cd "$(dirname "$0")/.."
D=${EAST_SERVERS_DIR:-$PWD/.servers}
AMQP_PORT=${EAST_AMQP_PORT:-5673}
DIST_PORT=${EAST_AMQP_DIST_PORT:-25673}
REDIS_PORT=${EAST_REDIS_PORT:-6390}
PROMETHEUS_PORT=${EAST_AMQP_PROMETHEUS_PORT:-15693}   # the broker's Prometheus plugin
if [ "$AMQP_PORT" = 5673 ]; then NODE=${EAST_AMQP_NODE:-east@localhost}; else NODE=${EAST_AMQP_NODE:-east-$AMQP_PORT@localhost}; fi
TLS=${EAST_TLS_DIR:-}
BIND=${EAST_BIND_ADDRESS:-127.0.0.1}
AMQP_USER=${EAST_AMQP_USER:-}
AMQP_PASSWORD=${EAST_AMQP_PASSWORD:-}
REDIS_USER=${EAST_REDIS_USER:-east}
REDIS_PASSWORD=${EAST_REDIS_PASSWORD:-}

rabbit_env() {
    export HOME=$D/rabbitmq   # the Erlang cookie lives here; server and CLI must share it
    export RABBITMQ_NODENAME=$NODE RABBITMQ_DIST_PORT=$DIST_PORT
    # With TLS the listeners are in rabbitmq.conf (these variables would add a plain one).
    if [ -z "$TLS" ]; then export RABBITMQ_NODE_IP_ADDRESS=$BIND RABBITMQ_NODE_PORT=$AMQP_PORT; fi
    export RABBITMQ_MNESIA_BASE=$D/rabbitmq/mnesia RABBITMQ_LOG_BASE=$D/rabbitmq/log
    export RABBITMQ_PID_FILE=$D/rabbitmq/rabbit.pid
    export RABBITMQ_ENABLED_PLUGINS_FILE=$D/rabbitmq/enabled_plugins
    export RABBITMQ_CONFIG_FILE=$D/rabbitmq/rabbitmq
    export RABBITMQ_CONF_ENV_FILE=$D/rabbitmq/rabbitmq-env.conf
    export ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    export PATH=/usr/lib/rabbitmq/bin:$PATH
}

port_open() { (exec 3<>"/dev/tcp/$BIND/$1") 2>/dev/null; }

start_redis() {
    local listen=(--port "$REDIS_PORT")
    if [ -n "$TLS" ]; then
        listen=(--port 0 --tls-port "$REDIS_PORT" --tls-cert-file "$TLS/server.crt" --tls-key-file "$TLS/server.key"
                --tls-ca-cert-file "$TLS/ca.crt" --tls-auth-clients no)
    fi
    local access=()
    if [ -n "$REDIS_PASSWORD" ]; then
        # The ACL of docker/compose.yaml's Redis.
        printf '%s\n' "user default off" "user $REDIS_USER on >$REDIS_PASSWORD ~east:* resetchannels +@all -@dangerous" > "$D/redis/users.acl"; chmod 600 "$D/redis/users.acl"  # holds the password
        access=(--aclfile "$D/redis/users.acl")
    fi
    # appendfsync always: an answered write survives a SIGKILL (see restart_redis).
    redis-server "${listen[@]}" --bind "$BIND" --daemonize yes --dir "$D/redis" \
        --pidfile "$D/redis/redis.pid" --logfile "$D/redis/redis.log" \
        --appendonly yes --appendfsync always "${access[@]}" >/dev/null
}

start() {
    mkdir -p "$D/redis" "$D/rabbitmq"
    if ! port_open "$REDIS_PORT"; then start_redis; fi
    if ! port_open "$AMQP_PORT"; then
        rabbit_env
        echo '[rabbitmq_prometheus].' > "$D/rabbitmq/enabled_plugins"
        touch "$D/rabbitmq/rabbitmq-env.conf"
        # Long jobs ack late: allow an hour before the broker gives up on an unacked delivery.
        printf 'consumer_timeout = 3600000\nprometheus.tcp.ip = 127.0.0.1\nprometheus.tcp.port = %s\n' "$PROMETHEUS_PORT" > "$D/rabbitmq/rabbitmq.conf"
        if [ -n "$AMQP_USER" ]; then
            # docker/compose.yaml's access rules and topology on the vhost
            # "east", loaded at boot (then the broker creates no guest user).
            mkdir -p "$D/rabbitmq/definitions.d"
            printf '{"vhosts": [{"name": "east"}], "users": [{"name": "%s", "password": "%s", "tags": ""}], "permissions": [{"user": "%s", "vhost": "east", "configure": "^east\\\\.", "write": "^east\\\\.", "read": "^east\\\\."}]}\n' \
                "$AMQP_USER" "$AMQP_PASSWORD" "$AMQP_USER" > "$D/rabbitmq/definitions.d/00-access.json"
            chmod 600 "$D/rabbitmq/definitions.d/00-access.json"  # holds the password
            cp docker/rabbitmq/topology.json "$D/rabbitmq/definitions.d/10-topology.json"
            printf 'load_definitions = %s\n' "$D/rabbitmq/definitions.d" >> "$D/rabbitmq/rabbitmq.conf"
        fi
        if [ -n "$TLS" ]; then
            printf '%s\n' "listeners.tcp = none" "listeners.ssl.default = $BIND:$AMQP_PORT" \
                "ssl_options.cacertfile = $TLS/ca.crt" "ssl_options.certfile = $TLS/server.crt" \
                "ssl_options.keyfile = $TLS/server.key" "ssl_options.verify = verify_none" \
                "ssl_options.fail_if_no_peer_cert = false" >> "$D/rabbitmq/rabbitmq.conf"
        fi
        nohup rabbitmq-server > "$D/rabbitmq/stdout.log" 2>&1 &
    fi
    for _ in $(seq 1 300); do
        port_open "$REDIS_PORT" && port_open "$AMQP_PORT" && break
        sleep 0.2
    done
    port_open "$REDIS_PORT" || { echo "redis did not start: $D/redis/redis.log" >&2; exit 1; }
    port_open "$AMQP_PORT" || { echo "rabbitmq did not start: $D/rabbitmq/stdout.log" >&2; exit 1; }
    rabbit_env
    rabbitmqctl -q -n "$NODE" await_startup >/dev/null
    # Load the topology the way the compose broker does at boot (with
    # EAST_AMQP_USER the broker loaded it at boot, above).
    if [ -z "$AMQP_USER" ]; then
        rabbitmqctl -q -n "$NODE" import_definitions "$PWD/topology/definitions.json" >/dev/null
    fi
    # The URLs to export: TLS, the bind address, the user and password as set.
    local host=$BIND amqp=amqp redis=redis query="" amqp_access="guest:guest" vhost="" redis_access=""
    if [ -n "$TLS" ]; then
        amqp=amqps redis=rediss query="?cafile=$TLS/ca.crt"
        if [ "$BIND" = 127.0.0.1 ]; then host=localhost; fi  # the name a loopback certificate carries
    fi
    if [ -n "$AMQP_USER" ]; then amqp_access="$AMQP_USER:$AMQP_PASSWORD" vhost=east; fi
    if [ -n "$REDIS_PASSWORD" ]; then redis_access="$REDIS_USER:$REDIS_PASSWORD@"; fi
    echo "EAST_AMQP_URL=$amqp://$amqp_access@$host:$AMQP_PORT/$vhost$query"
    echo "EAST_REDIS_URL=$redis://$redis_access$host:$REDIS_PORT$query"
    echo "EAST_AMQP_PROMETHEUS=127.0.0.1:$PROMETHEUS_PORT"
}

stop() {
    local tls=()
    if [ -n "$TLS" ]; then tls=(--tls --cacert "$TLS/ca.crt"); fi
    if [ -n "$REDIS_PASSWORD" ]; then
        # SHUTDOWN is @dangerous, which the ACL user may not run: end it by its PID.
        if [ -f "$D/redis/redis.pid" ]; then kill "$(cat "$D/redis/redis.pid")" 2>/dev/null || true; fi
    elif port_open "$REDIS_PORT"; then
        redis-cli "${tls[@]}" -h "$BIND" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    fi
    if [ -f "$D/rabbitmq/rabbit.pid" ]; then
        rabbit_env
        rabbitmqctl -q -n "$NODE" stop "$D/rabbitmq/rabbit.pid" >/dev/null 2>&1 || true
    fi
    # The broker leaves epmd running; end it only when no other node uses it,
    # and only the one of this network namespace (pkill would also end those
    # of other namespaces, whose nodes still need theirs).
    if ! epmd -names 2>/dev/null | grep -q "^name "; then
        local here
        here=$(readlink /proc/self/ns/net)
        for pid in $(pgrep -x epmd); do
            if [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "$here" ]; then kill "$pid" 2>/dev/null || true; fi
        done
    fi
}

# SIGKILL of Redis (nothing flushed at exit), then a start on the same AOF:
# what it answered before is all there, since appendfsync always writes and
# syncs a change before Redis replies. (With everysec Redis postpones the
# write while a slow fsync runs, for up to 2 s, and replies anyway: a SIGKILL
# then loses acknowledged writes. Policy blobs make such fsyncs slow.)
restart_redis() {
    if [ -f "$D/redis/redis.pid" ]; then
        local pid
        pid=$(cat "$D/redis/redis.pid")
        kill -9 "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
        rm -f "$D/redis/redis.pid"
    fi
    sleep "${EAST_REDIS_DOWN_SECONDS:-1}"
    start_redis
    for _ in $(seq 1 100); do port_open "$REDIS_PORT" && return 0; sleep 0.1; done
    echo "redis did not restart: $D/redis/redis.log" >&2
    exit 1
}

# Restarts the RabbitMQ application (every connection drops; durable queues
# and their messages stay), for failure tests and drills.
restart_broker() {
    rabbit_env
    rabbitmqctl -q -n "$NODE" stop_app >/dev/null
    sleep "${EAST_BROKER_DOWN_SECONDS:-2}"
    rabbitmqctl -q -n "$NODE" start_app >/dev/null
    rabbitmqctl -q -n "$NODE" await_startup >/dev/null
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    restart-broker) restart_broker ;;
    restart-redis) restart_redis ;;
    *) echo "usage: $0 start|stop|restart-broker|restart-redis" >&2; exit 2 ;;
esac
