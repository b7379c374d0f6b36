#!/usr/bin/env bash
# LiveInsight on one machine without Docker: processes on loopback behind nginx, with a
# blue-green deploy. Usage:
#
#   deploy.sh start | stop | status | logs [-f] | backup | restore DIR | deploy [BIN] | rollback
#
# Two slots, blue and green, each a `liveinsight serve` on its own port with its own data
# directory (its write-ahead log and node id) sharing the event store and the metadata
# database: blue-green needs LIVEINSIGHT_CLICKHOUSE_URL (a ClickHouse server) because the
# embedded engine lets one process open its data; with the embedded engine use start/stop
# (a restart) instead. nginx sends traffic to the slot named in LI_UPSTREAM_FILE (an include
# of deploy/nginx.conf); `deploy` starts the other slot with BIN (default: the running one),
# migrates, waits until it is ready (LI_HEALTH_TIMEOUT s), runs the smoke test, switches
# nginx, watches it for LI_VERIFY_SECONDS and stops the old slot (SIGTERM: it drains its log
# into the store). Any failure before the old slot is stopped switches back and stops the
# new one: the old version keeps serving.
#
# Environment (defaults in brackets):
#   LI_BIN             the liveinsight executable [liveinsight on PATH]
#   LI_STATE           state: pids, logs, the active slot [/var/lib/liveinsight/deploy]
#   LI_DATA_ROOT       slot data dirs are LI_DATA_ROOT/blue, LI_DATA_ROOT/green [/var/lib/liveinsight]
#   LI_BLUE_PORT, LI_GREEN_PORT                                  [8001, 8002]
#   LI_UPSTREAM_FILE   the nginx include holding the upstream [/etc/nginx/liveinsight-upstream.conf]
#   LI_NGINX_RELOAD    command reloading nginx ["nginx -s reload"]; empty: no nginx
#   LI_HEALTH_TIMEOUT  seconds for the new slot to become ready [60]
#   LI_VERIFY_SECONDS  seconds the switched slot is watched before the old one stops [10]
#   LI_SMOKE           a command run with URL set to the new slot; non-zero fails the deploy
#                      [fetch /health/ready and /js/script.js]
#   LI_ADMIN_KEY       an admin API key, for `backup` while running
#   LIVEINSIGHT_*      settings of both slots (see docs/settings.md)
set -euo pipefail

LI_BIN=${LI_BIN:-liveinsight}
LI_STATE=${LI_STATE:-/var/lib/liveinsight/deploy}
LI_DATA_ROOT=${LI_DATA_ROOT:-/var/lib/liveinsight}
LI_BLUE_PORT=${LI_BLUE_PORT:-8001}
LI_GREEN_PORT=${LI_GREEN_PORT:-8002}
LI_UPSTREAM_FILE=${LI_UPSTREAM_FILE:-/etc/nginx/liveinsight-upstream.conf}
LI_NGINX_RELOAD=${LI_NGINX_RELOAD-nginx -s reload}
LI_HEALTH_TIMEOUT=${LI_HEALTH_TIMEOUT:-60}
LI_VERIFY_SECONDS=${LI_VERIFY_SECONDS:-10}

say() { printf 'deploy.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

mkdir -p "$LI_STATE"

port_of() { if [ "$1" = blue ]; then echo "$LI_BLUE_PORT"; else echo "$LI_GREEN_PORT"; fi; }
other() { if [ "$1" = blue ]; then echo green; else echo blue; fi; }
active() { cat "$LI_STATE/active" 2>/dev/null || echo blue; }
url_of() { echo "http://127.0.0.1:$(port_of "$1")"; }
pid_of() { cat "$LI_STATE/$1.pid" 2>/dev/null || true; }
bin_of() { cat "$LI_STATE/$1.bin" 2>/dev/null || echo "$LI_BIN"; }

running() {
    local pid; pid=$(pid_of "$1")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

ready() { curl -fsS --max-time 3 "$(url_of "$1")/health/ready" >/dev/null 2>&1; }

start_slot() {  # slot bin
    local slot=$1 bin=$2
    running "$slot" && die "$slot is running already (pid $(pid_of "$slot"))"
    mkdir -p "$LI_DATA_ROOT/$slot"
    LIVEINSIGHT_DATA_DIR="$LI_DATA_ROOT/$slot" "$bin" migrate >>"$LI_STATE/$slot.log" 2>&1 \
        || { say "migrate failed:"; tail -n 20 "$LI_STATE/$slot.log" >&2; return 1; }
    LIVEINSIGHT_DATA_DIR="$LI_DATA_ROOT/$slot" setsid "$bin" serve --host 127.0.0.1 \
        --port "$(port_of "$slot")" >>"$LI_STATE/$slot.log" 2>&1 </dev/null &
    echo $! >"$LI_STATE/$slot.pid"
    echo "$bin" >"$LI_STATE/$slot.bin"
    say "started $slot (pid $!) on port $(port_of "$slot")"
}

wait_ready() {  # slot: 0 once ready within LI_HEALTH_TIMEOUT, 1 if not or if it died
    local slot=$1 deadline=$((SECONDS + LI_HEALTH_TIMEOUT))
    while [ $SECONDS -lt $deadline ]; do
        running "$slot" || { say "$slot exited"; return 1; }
        ready "$slot" && return 0
        sleep 0.5
    done
    say "$slot was not ready within ${LI_HEALTH_TIMEOUT}s"
    return 1
}

stop_slot() {  # slot: SIGTERM the process group, wait (the server drains its log), then KILL
    local slot=$1 pid; pid=$(pid_of "$slot")
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then rm -f "$LI_STATE/$slot.pid"; return 0; fi
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
        say "$slot did not stop within 60s: killing it"
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$LI_STATE/$slot.pid"
    say "stopped $slot"
}

smoke() {  # slot
    local url; url=$(url_of "$1")
    if [ -n "${LI_SMOKE:-}" ]; then
        URL=$url sh -c "$LI_SMOKE"
    else
        curl -fsS --max-time 5 "$url/health/ready" >/dev/null \
            && curl -fsS --max-time 5 "$url/js/script.js" >/dev/null
    fi
}

point_nginx_at() {  # slot: rewrite the upstream include atomically, reload nginx
    local slot=$1 tmp="$LI_UPSTREAM_FILE.tmp.$$"
    mkdir -p "$(dirname "$LI_UPSTREAM_FILE")"
    cat >"$tmp" <<EOF
# written by deploy.sh: the active slot is $slot
upstream liveinsight {
    server 127.0.0.1:$(port_of "$slot");
    keepalive 32;
}
EOF
    mv -f "$tmp" "$LI_UPSTREAM_FILE"
    if [ -n "$LI_NGINX_RELOAD" ]; then sh -c "$LI_NGINX_RELOAD"; fi
    echo "$slot" >"$LI_STATE/active"
    say "nginx now sends traffic to $slot"
}

cmd_start() {
    local slot; slot=$(active)
    start_slot "$slot" "$(bin_of "$slot")"
    wait_ready "$slot" || { stop_slot "$slot"; die "start failed: see $LI_STATE/$slot.log"; }
    point_nginx_at "$slot"
}

cmd_stop() { stop_slot "$(active)"; }

cmd_status() {
    local slot code=1
    for slot in blue green; do
        local state=stopped mark=""
        if running "$slot"; then state="running (pid $(pid_of "$slot"))"; fi
        if running "$slot" && ready "$slot"; then state="$state, ready"; fi
        [ "$slot" = "$(active)" ] && mark=" [active]"
        echo "$slot$mark: $state, port $(port_of "$slot"), $(bin_of "$slot")"
    done
    if running "$(active)" && ready "$(active)"; then code=0; fi
    return $code
}

cmd_logs() {
    local log; log="$LI_STATE/$(active).log"
    if [ "${1:-}" = -f ]; then tail -n 100 -f "$log"; else tail -n 100 "$log"; fi
}

cmd_backup() {
    local slot; slot=$(active)
    if running "$slot"; then
        [ -n "${LI_ADMIN_KEY:-}" ] || die "the server runs: set LI_ADMIN_KEY (an admin API key)"
        curl -fsS -X POST -H "Authorization: Bearer $LI_ADMIN_KEY" \
            -H 'Content-Type: application/json' -d '{"verify": true}' "$(url_of "$slot")/admin/backups"
        echo
    else
        LIVEINSIGHT_DATA_DIR="$LI_DATA_ROOT/$slot" "$(bin_of "$slot")" backup
    fi
}

cmd_restore() {
    [ $# -eq 1 ] || die "usage: deploy.sh restore DIR"
    local slot; slot=$(active)
    running "$slot" && die "stop the server first (deploy.sh stop)"
    LIVEINSIGHT_DATA_DIR="$LI_DATA_ROOT/$slot" "$(bin_of "$slot")" restore "$1"
}

switch_to() {  # new old: health-gated start, smoke, switch, watch, stop the old; else back
    local new=$1 old=$2 bin=$3
    if ! start_slot "$new" "$bin"; then stop_slot "$new"; die "deploy failed: $new did not start; $old keeps serving"; fi
    if ! wait_ready "$new"; then
        stop_slot "$new"; die "deploy failed: $new is not healthy; rolled back, $old keeps serving"
    fi
    if ! smoke "$new"; then
        stop_slot "$new"; die "deploy failed: the smoke test failed on $new; rolled back, $old keeps serving"
    fi
    point_nginx_at "$new"
    local deadline=$((SECONDS + LI_VERIFY_SECONDS))
    while [ $SECONDS -lt $deadline ]; do
        if ! ready "$new"; then
            say "$new stopped answering after the switch: rolling back"
            point_nginx_at "$old"; stop_slot "$new"
            die "deploy failed after the switch; rolled back, $old keeps serving"
        fi
        sleep 0.5
    done
    stop_slot "$old"
    say "deployed: $new serves ($bin)"
}

cmd_deploy() {
    local old new bin
    old=$(active); new=$(other "$old"); bin=${1:-$(bin_of "$old")}
    running "$old" || die "$old is not running: use deploy.sh start"
    switch_to "$new" "$old" "$bin"
}

cmd_rollback() {
    local old new
    old=$(active); new=$(other "$old")
    [ -f "$LI_STATE/$new.bin" ] || die "nothing to roll back to"
    switch_to "$new" "$old" "$(bin_of "$new")"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    logs) shift; cmd_logs "$@" ;;
    backup) cmd_backup ;;
    restore) shift; cmd_restore "$@" ;;
    deploy) shift; cmd_deploy "$@" ;;
    rollback) cmd_rollback ;;
    *) sed -n '2,4p' "$0" >&2; exit 2 ;;
esac
