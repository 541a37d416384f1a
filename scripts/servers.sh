#!/usr/bin/env bash
# Starts or stops a RabbitMQ and a Redis server on loopback, as root without
# systemd (see ../shared/notes/servers-on-loopback.md for why each setting is there).
#
#   scripts/servers.sh start   # prints the environment the workers and tests read
#   scripts/servers.sh start --ha   # the highly available set instead (below)
#   scripts/servers.sh stop    # stops both sets, whichever run
#   scripts/servers.sh restart-broker   # drop every AMQP connection (failure drills)
#
# The highly available set (docs/operating.md): three RabbitMQ nodes joined
# in one cluster (quorum queues keep a replica on each), a Redis primary and
# a replica, and three Redis Sentinels watching them as the set "east". It
# prints EAST_AMQP_URL as the three nodes' URLs and EAST_REDIS_URL as
# redis-sentinel://.../east. Ports, each the first of consecutive ones:
# EAST_HA_AMQP_PORT (5681-5683), EAST_HA_AMQP_DIST_PORT (25681-25683),
# EAST_HA_AMQP_PROMETHEUS_PORT (15701-15703), EAST_HA_REDIS_PORT (6391-6392),
# EAST_HA_SENTINEL_PORT (26391-26393). EAST_SENTINEL_DOWN_AFTER_MS (default
# 2000) is how long a silent primary has before the sentinels fail over.
# `start --ha` again starts whatever of the set is down: a RabbitMQ node
# rejoins its cluster, a Redis node comes back as a replica of the primary
# the sentinels name. For failure drills:
#
#   scripts/servers.sh kill rabbit-N|redis-N|sentinel-N   # SIGKILL one server of the set (N: 1-3)
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
SENTINEL_AUTH=()

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

# docker/compose.yaml's broker access rules as definitions: the vhost
# "east" and AMQP_USER with rights on east.* only.
write_access() {
    printf '{"vhosts": [{"name": "east"}], "users": [{"name": "%s", "password": "%s", "tags": ""}], "permissions": [{"user": "%s", "vhost": "east", "configure": "^east\\\\.", "write": "^east\\\\.", "read": "^east\\\\."}]}\n' \
        "$AMQP_USER" "$AMQP_PASSWORD" "$AMQP_USER" > "$1"
    chmod 600 "$1"  # holds the password
}

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
            write_access "$D/rabbitmq/definitions.d/00-access.json"
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
    drop_old_queues "$NODE" "$([ -n "$AMQP_USER" ] && echo east || echo /)"
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

# Queues of the topology before it named its replicas
# (x-quorum-initial-group-size) refuse the workers' declarations
# (PRECONDITION_FAILED): delete them when empty, so they are declared anew.
drop_old_queues() {
    local node=$1 vhost=$2 name messages arguments
    rabbitmqctl -q -n "$node" list_queues -p "$vhost" --no-table-headers name messages arguments 2>/dev/null |
    while IFS=$'\t' read -r name messages arguments; do
        case "$name" in east.*) ;; *) continue ;; esac
        [[ "$arguments" == *x-quorum-initial-group-size* ]] && continue
        if [ "$messages" = 0 ]; then
            rabbitmqctl -q -n "$node" delete_queue -p "$vhost" "$name" >/dev/null </dev/null  # it would read the list
        else
            echo "warning: queue $name holds $messages message(s) and lacks x-quorum-initial-group-size: workers cannot declare it until it is deleted" >&2
        fi
    done
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

# ---- The highly available set ---------------------------------------------

HA=$D/ha
HA_AMQP_PORT=${EAST_HA_AMQP_PORT:-5681}
HA_DIST_PORT=${EAST_HA_AMQP_DIST_PORT:-25681}
HA_PROMETHEUS_PORT=${EAST_HA_AMQP_PROMETHEUS_PORT:-15701}
HA_REDIS_PORT=${EAST_HA_REDIS_PORT:-6391}
HA_SENTINEL_PORT=${EAST_HA_SENTINEL_PORT:-26391}
DOWN_AFTER_MS=${EAST_SENTINEL_DOWN_AFTER_MS:-2000}
ha_node() { echo "east-ha$HA_AMQP_PORT-$1@localhost"; }   # one name per set of ports

ha_rabbit_env() {
    local n=$1
    rabbit_env
    export HOME=$HA/rabbitmq   # one Erlang cookie for the three nodes
    export RABBITMQ_NODENAME=$(ha_node "$n") RABBITMQ_DIST_PORT=$((HA_DIST_PORT + n - 1))
    export RABBITMQ_NODE_IP_ADDRESS=$BIND RABBITMQ_NODE_PORT=$((HA_AMQP_PORT + n - 1))
    local dir=$HA/rabbit-$n
    export RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log RABBITMQ_PID_FILE=$dir/rabbit.pid
    export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins RABBITMQ_CONFIG_FILE=$dir/rabbitmq
    export RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf
}

ha_start_rabbit() {
    local n=$1 dir=$HA/rabbit-$n
    mkdir -p "$dir" "$HA/rabbitmq"
    ha_rabbit_env "$n"
    echo '[rabbitmq_prometheus].' > "$dir/enabled_plugins"
    touch "$dir/rabbitmq-env.conf"
    # pause_minority: a node cut off from the other two stops serving
    # (its clients move to the majority) and rejoins when the network heals.
    printf '%s\n' "consumer_timeout = 3600000" "cluster_partition_handling = pause_minority" \
        "prometheus.tcp.ip = 127.0.0.1" "prometheus.tcp.port = $((HA_PROMETHEUS_PORT + n - 1))" > "$dir/rabbitmq.conf"
    if [ -n "$AMQP_USER" ]; then
        # Only the access rules at boot (then no guest user); the topology
        # is imported once the three nodes are one cluster, so that each
        # quorum queue gets a replica on each of them.
        write_access "$dir/access.json"
        printf 'load_definitions = %s\n' "$dir/access.json" >> "$dir/rabbitmq.conf"
    fi
    nohup rabbitmq-server > "$dir/stdout.log" 2>&1 &
}

# The primary the sentinels name now ("host port"), or nothing.
ha_primary() {
    local i
    for i in 1 2 3; do
        redis-cli "${SENTINEL_AUTH[@]}" -h "$BIND" -p $((HA_SENTINEL_PORT + i - 1)) sentinel get-master-addr-by-name east 2>/dev/null \
            | tr '\n' ' ' | grep -E '^[^ ]+ [0-9]+ $' && return 0
    done
    return 0
}

ha_start_redis() {
    local n=$1 dir=$HA/redis-$n port=$((HA_REDIS_PORT + n - 1))
    mkdir -p "$dir"
    local args=(--port "$port" --bind "$BIND" --daemonize yes --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
                --appendonly yes --appendfsync always)
    if [ -n "$REDIS_PASSWORD" ]; then
        # The workers' user may also ask a server its role (ROLE, @dangerous);
        # replication and the sentinels use east-admin.
        printf '%s\n' "user default off" "user $REDIS_USER on >$REDIS_PASSWORD ~east:* resetchannels +@all -@dangerous +role" \
            "user east-admin on >$ADMIN_PASSWORD ~* &* +@all" > "$dir/users.acl"
        chmod 600 "$dir/users.acl"
        args+=(--aclfile "$dir/users.acl" --masteruser east-admin --masterauth "$ADMIN_PASSWORD")
    fi
    # The first start makes redis-1 the primary; any later start (a node
    # killed and brought back) follows the primary the sentinels name.
    local primary
    primary=$(ha_primary)
    if [ -z "$primary" ] && [ "$n" != 1 ]; then primary="$BIND $HA_REDIS_PORT"; fi
    if [ -n "$primary" ] && [ "$primary" != "$BIND $port " ]; then
        # shellcheck disable=SC2086
        args+=(--replicaof $primary)
    fi
    redis-server "${args[@]}" >/dev/null
}

ha_start_sentinel() {
    local n=$1 dir=$HA/sentinel-$n
    mkdir -p "$dir"
    # Sentinel rewrites its file with what it learns (the primary after a
    # failover): written once, kept across restarts.
    if [ ! -f "$dir/sentinel.conf" ]; then
        printf '%s\n' "port $((HA_SENTINEL_PORT + n - 1))" "bind $BIND" "daemonize yes" "dir $dir" \
            "pidfile $dir/sentinel.pid" "logfile $dir/sentinel.log" \
            "sentinel monitor east $BIND $HA_REDIS_PORT 2" "sentinel down-after-milliseconds east $DOWN_AFTER_MS" \
            "sentinel failover-timeout east 10000" "sentinel parallel-syncs east 1" > "$dir/sentinel.conf"
        if [ -n "$REDIS_PASSWORD" ]; then
            # Clients may only ask where the primary is; the sentinels talk
            # to each other and to the servers as east-admin.
            printf '%s\n' "user default off" \
                "user $REDIS_USER on >$REDIS_PASSWORD -@all +ping +auth +hello +sentinel|get-master-addr-by-name" \
                "user east-admin on >$ADMIN_PASSWORD +@all" "sentinel sentinel-user east-admin" "sentinel sentinel-pass $ADMIN_PASSWORD" \
                "sentinel auth-user east east-admin" "sentinel auth-pass east $ADMIN_PASSWORD" >> "$dir/sentinel.conf"
        fi
        chmod 600 "$dir/sentinel.conf"
    fi
    redis-server "$dir/sentinel.conf" --sentinel >/dev/null
}

ha_wait_port() {
    local what=$1 port=$2 i
    for i in $(seq 1 300); do port_open "$port" && return 0; sleep 0.2; done
    echo "$what did not start (port $port): see $HA" >&2
    exit 1
}

start_ha() {
    if [ -n "$TLS" ]; then echo "the highly available set has no TLS listeners (EAST_TLS_DIR is for the single set)" >&2; exit 2; fi
    mkdir -p "$HA"
    if [ -n "$REDIS_PASSWORD" ]; then
        # The password of the servers' own user (replication, sentinels), made once.
        [ -f "$HA/admin.password" ] || { (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$HA/admin.password"); }
        ADMIN_PASSWORD=$(cat "$HA/admin.password")
        SENTINEL_AUTH=(--user east-admin --pass "$ADMIN_PASSWORD" --no-auth-warning)
    fi
    mkdir -p "$HA/rabbitmq"
    # The three nodes share one cookie: made before they boot (each would make its own).
    [ -f "$HA/rabbitmq/.erlang.cookie" ] || (umask 077; head -c 30 /dev/urandom | base64 | tr -dc A-Za-z0-9 > "$HA/rabbitmq/.erlang.cookie")
    local n
    for n in 1 2 3; do port_open $((HA_AMQP_PORT + n - 1)) || ha_start_rabbit "$n"; done
    for n in 1 2; do
        if ! port_open $((HA_REDIS_PORT + n - 1)); then ha_start_redis "$n"; ha_wait_port "redis-$n" $((HA_REDIS_PORT + n - 1)); fi
    done
    for n in 1 2 3; do port_open $((HA_SENTINEL_PORT + n - 1)) || ha_start_sentinel "$n"; done
    for n in 1 2 3; do ha_wait_port "sentinel-$n" $((HA_SENTINEL_PORT + n - 1)); done
    for n in 1 2 3; do ha_wait_port "rabbit-$n" $((HA_AMQP_PORT + n - 1)); done
    for n in 1 2 3; do ha_rabbit_env "$n"; rabbitmqctl -q -n "$(ha_node "$n")" await_startup >/dev/null; done
    # Nodes 2 and 3 join node 1 once (join_cluster resets them first); a
    # node killed and started again is still a member and rejoins by itself.
    for n in 2 3; do
        if [ ! -f "$HA/rabbit-$n/joined" ]; then
            ha_rabbit_env "$n"
            rabbitmqctl -q -n "$(ha_node "$n")" stop_app >/dev/null
            rabbitmqctl -q -n "$(ha_node "$n")" join_cluster "$(ha_node 1)" >/dev/null
            rabbitmqctl -q -n "$(ha_node "$n")" start_app >/dev/null
            touch "$HA/rabbit-$n/joined"
        fi
    done
    if [ ! -f "$HA/topology-imported" ]; then
        ha_rabbit_env 1
        local topology=$PWD/topology/definitions.json
        if [ -n "$AMQP_USER" ]; then topology=$PWD/docker/rabbitmq/topology.json; fi
        rabbitmqctl -q -n "$(ha_node 1)" import_definitions "$topology" >/dev/null
        touch "$HA/topology-imported"
    fi
    # Every quorum queue has a replica on every node, also a queue declared
    # while a node was starting or down (grow adds only missing replicas):
    # with one of two replicas lost a queue has no majority and refuses
    # every publish.
    ha_rabbit_env 1
    for n in 1 2 3; do rabbitmq-queues -q -n "$(ha_node 1)" grow "$(ha_node "$n")" all >/dev/null; done
    local amqp_access="guest:guest" vhost="" redis_access="" urls="" sentinels="" metrics=""
    if [ -n "$AMQP_USER" ]; then amqp_access="$AMQP_USER:$AMQP_PASSWORD" vhost=east; fi
    if [ -n "$REDIS_PASSWORD" ]; then redis_access="$REDIS_USER:$REDIS_PASSWORD@"; fi
    for n in 1 2 3; do
        urls+="${urls:+,}amqp://$amqp_access@$BIND:$((HA_AMQP_PORT + n - 1))/$vhost"
        sentinels+="${sentinels:+,}$BIND:$((HA_SENTINEL_PORT + n - 1))"
        metrics+="${metrics:+,}127.0.0.1:$((HA_PROMETHEUS_PORT + n - 1))"
    done
    echo "EAST_AMQP_URL=$urls"
    echo "EAST_REDIS_URL=redis-sentinel://$redis_access$sentinels/east"
    echo "EAST_AMQP_PROMETHEUS=$metrics"
}

stop_ha() {
    [ -d "$HA" ] || return 0
    local n pid
    for n in 1 2 3; do
        for pid in "$HA/sentinel-$n/sentinel.pid" "$HA/redis-$n/redis.pid"; do
            # SHUTDOWN is @dangerous for the ACL user: end each by its PID.
            if [ -f "$pid" ]; then kill "$(cat "$pid")" 2>/dev/null || true; rm -f "$pid"; fi
        done
    done
    for n in 1 2 3; do
        if [ -f "$HA/rabbit-$n/rabbit.pid" ]; then
            ha_rabbit_env "$n"
            rabbitmqctl -q -n "$(ha_node "$n")" stop "$HA/rabbit-$n/rabbit.pid" >/dev/null 2>&1 || true
        fi
    done
}

# SIGKILL of one server of the set, as when its host dies.
kill_ha() {
    local name=${1:-} file
    case "$name" in
        rabbit-[123]) file=$HA/$name/rabbit.pid ;;
        redis-[12]) file=$HA/$name/redis.pid ;;
        sentinel-[123]) file=$HA/$name/sentinel.pid ;;
        *) echo "usage: $0 kill rabbit-N|redis-N|sentinel-N" >&2; exit 2 ;;
    esac
    [ -f "$file" ] || { echo "$name is not running ($file missing)" >&2; exit 1; }
    local pid
    pid=$(cat "$file")
    kill -9 "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    rm -f "$file"
}

case "${1:-}" in
    start) if [ "${2:-}" = --ha ]; then start_ha; else start; fi ;;
    stop) stop_ha; stop ;;
    restart-broker) restart_broker ;;
    restart-redis) restart_redis ;;
    kill) kill_ha "${2:-}" ;;
    *) echo "usage: $0 start [--ha]|stop|restart-broker|restart-redis|kill NAME" >&2; exit 2 ;;
esac
