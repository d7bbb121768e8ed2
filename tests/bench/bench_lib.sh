# shellcheck shell=bash disable=SC2034 # what it sets is read by the scripts that source it
# bench_lib.sh: what compare.sh, reload_under_load.sh and restart_latency.sh share, sourced
# by them (not run on its own). It knows the servers (nginx, floor, corral, NAME='COMMAND'),
# starts each in a session of its own so that stopping it stops all its processes, finds
# the master's workers (its direct children), reads CPU time and RSS from /proc, sends
# single HTTP requests with bash's /dev/tcp (no curl), and parses wrk's output.
# Everything it writes goes to one mktemp directory, removed at exit with every server
# still running. Needs bash 5 (EPOCHREALTIME), util-linux (setsid, taskset) and coreutils.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/../.." && pwd)
export PORT=${PORT:-18080}
export WORKERS=${WORKERS:-1}
# The corral binary of the `corral` server: the release build if there is one.
if [ -z "${CORRAL_BIN:-}" ]; then
    CORRAL_BIN=$REPO_ROOT/build/bin/corral
    [ -x "$REPO_ROOT/build-release/bin/corral" ] && CORRAL_BIN=$REPO_ROOT/build-release/bin/corral
fi
export CORRAL_BIN

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/corral-bench.XXXXXX")
SESSIONS=()       # the session ids of the servers started and not yet stopped
LOADGEN_PID=""

bench_cleanup() {
    local s
    if [ -n "$LOADGEN_PID" ]; then kill "$LOADGEN_PID" 2>/dev/null || true; fi
    for s in "${SESSIONS[@]}"; do stop_server "$s"; done
    rm -rf "$SCRATCH"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# A write to a socket the server has reset must fail, not kill the script. Servers get
# their signals back to the defaults (env --default-signal in start_server).
trap '' PIPE

# A fifo that nobody writes: `read -t` on it sleeps without starting a process.
mkfifo "$SCRATCH/.idle"
exec {IDLE_FD}<>"$SCRATCH/.idle"
nap() { read -r -t "$1" -u "$IDLE_FD" _unused || true; }

say() { printf '%s\n' "$*" >&2; }
usage_error() { say "${0##*/}: $*"; say "usage: see the header of $0"; exit 2; }

# need COMMAND APT_PACKAGE: stops the script, saying how to install what is missing.
need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    say "${0##*/}: '$1' is not installed; install it with:"
    say "  apt-get install -y $2"
    exit 2
}

# clock_us: sets NOW_US to the wall clock in microseconds (no process started).
clock_us() { NOW_US=${EPOCHREALTIME//[!0-9]/}; }

# median: the median of the numbers on stdin ("nan" when there are none).
median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
        else printf "%g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

## Servers

# choose_server SPEC: sets SRV_NAME, SRV_CMD (run by bash -c with PORT, WORKERS, PIDFILE
# and CORRAL_BIN exported) and SRV_PIDFILE (where the master's pid may be written).
choose_server() {
    local spec=$1
    SRV_NAME=$spec
    SRV_PIDFILE=$SCRATCH/$spec.pid
    case $spec in
    nginx)
        need nginx nginx
        local dir=$SCRATCH/nginx
        write_nginx_conf "$dir"
        SRV_PIDFILE=$dir/nginx.pid
        SRV_CMD="exec nginx -p '$dir' -c '$dir/nginx.conf' -e '$dir/error.log'" ;;
    floor)
        need gcc gcc
        if [ ! -x "$SCRATCH/floor" ]; then
            gcc -O2 -o "$SCRATCH/floor" "$BENCH_DIR/floor.c" || { say "floor.c does not compile"; exit 2; }
        fi
        SRV_CMD="exec '$SCRATCH/floor' \"\$PORT\" \"\$WORKERS\"" ;;
    corral)
        [ -x "$CORRAL_BIN" ] || { say "no corral binary at $CORRAL_BIN: build it (cmake --build build-release) or set CORRAL_BIN"; exit 2; }
        SRV_CMD="exec \"\$CORRAL_BIN\" --bind \"127.0.0.1:\$PORT\" --workers \"\$WORKERS\" --pid \"\$PIDFILE\"" ;;
    ?*=*)
        SRV_NAME=${spec%%=*}
        SRV_PIDFILE=$SCRATCH/$SRV_NAME.pid
        SRV_CMD=${spec#*=} ;;
    *) usage_error "unknown server '$spec': nginx, floor, corral or NAME='COMMAND'" ;;
    esac
}

# write_nginx_conf DIR: nginx as the current user, WORKERS worker processes, one shared
# listening socket, "Hello, World!" on GET /, no access log, everything under DIR.
write_nginx_conf() {
    local dir=$1 user_line=""
    mkdir -p "$dir/temp"
    # Only a master started as root switches users; it must not switch to nobody here.
    [ "$(id -u)" = 0 ] && user_line="user $(id -un) $(id -gn);"
    cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes $WORKERS;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $dir/temp/client;
    proxy_temp_path $dir/temp/proxy;
    fastcgi_temp_path $dir/temp/fastcgi;
    uwsgi_temp_path $dir/temp/uwsgi;
    scgi_temp_path $dir/temp/scgi;
    server {
        listen 127.0.0.1:$PORT backlog=2048;
        location = / {
            default_type text/plain;
            return 200 "Hello, World!\n";
        }
    }
}
EOF
}

# proc_fields PID: sets STAT to the fields of /proc/PID/stat after the command name, so
# STAT[0] is the state (field 3), STAT[1] the parent, STAT[2] the process group, STAT[11]
# and STAT[12] utime and stime, STAT[19] the start time. Returns 1 if PID is gone.
proc_fields() {
    local line
    STAT=()
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    read -r -a STAT <<<"${line##*) }"
}

# running PID: the process exists and is not a zombie.
running() { proc_fields "$1" && [ "${STAT[0]}" != Z ]; }

# start_server LOG [CPUS]: starts SRV_CMD in a new session (pinned to CPUS if given); sets
# MASTER (its pid, also its session and process group) and LAUNCH_US.
start_server() {
    local log=$1 cpus=${2:-} pin=() i
    if http_get / 0.5 || [ "$HTTP_STATUS" != 000 ]; then
        say "${0##*/}: something already answers on 127.0.0.1:$PORT; stop it or set PORT"
        exit 2
    fi
    [ -n "$cpus" ] && pin=(taskset -c "$cpus")
    rm -f "$SRV_PIDFILE"
    clock_us
    LAUNCH_US=$NOW_US
    # setsid does not fork (a background job of a script leads no process group), and
    # every exec keeps the pid: $! is the master. --default-signal: a HUP that nohup set
    # to ignored must not stay ignored in the server.
    PIDFILE=$SRV_PIDFILE "${pin[@]}" setsid env --default-signal bash -c "$SRV_CMD" \
        >"$log" 2>&1 </dev/null &
    MASTER=$!
    SESSIONS+=("$MASTER")
    for ((i = 0; i < 400; i++)); do
        proc_fields "$MASTER" || return 0 # it died already: wait_answer says so
        [ "${STAT[2]}" = "$MASTER" ] && return 0
        nap 0.005
    done
    say "${0##*/}: $MASTER did not become a session leader"
    exit 1
}

# stop_server SESSION: SIGTERM to every process of the session, SIGKILL to what is left
# after 10 s; then waits until the port is free.
stop_server() {
    local sid=$1 i s rest=()
    kill -TERM -- "-$sid" 2>/dev/null || true
    # The master is this shell's child: a zombie until waited for, which kill -0 still sees.
    for ((i = 0; i < 200; i++)); do
        running "$sid" || break
        nap 0.05
    done
    kill -KILL -- "-$sid" 2>/dev/null || true
    wait "$sid" 2>/dev/null || true
    # A master it forked (corral's upgrade) or workers may outlive the leader for a moment.
    for ((i = 0; i < 200; i++)); do
        kill -0 -- "-$sid" 2>/dev/null || break
        if [ "$i" = 100 ]; then kill -KILL -- "-$sid" 2>/dev/null || true; fi
        nap 0.05
    done
    for ((i = 0; i < 100; i++)); do
        http_get / 0.2 || [ "$HTTP_STATUS" != 000 ] || break
        nap 0.05
    done
    for s in "${SESSIONS[@]}"; do [ "$s" = "$sid" ] || rest+=("$s"); done
    SESSIONS=("${rest[@]}")
}

# wait_answer [TIMEOUT_S]: polls GET / until a 2xx; sets STARTUP_MS (from the launch).
# Returns 1 if the master exited or TIMEOUT_S (30) passed.
wait_answer() {
    local limit=$((${1:-30} * 1000000))
    while :; do
        if http_get / 1; then
            clock_us
            STARTUP_MS=$(((NOW_US - LAUNCH_US) / 1000))
            return 0
        fi
        running "$MASTER" || return 1
        clock_us
        ((NOW_US - LAUNCH_US < limit)) || return 1
        nap 0.002
    done
}

# current_master: the master now, which is the one started unless it handed over to a
# new master that wrote the pidfile (corral's binary upgrade).
current_master() {
    local pid=""
    { read -r pid <"$SRV_PIDFILE"; } 2>/dev/null || true
    if [[ $pid =~ ^[0-9]+$ ]] && running "$pid"; then echo "$pid"; else echo "$MASTER"; fi
}

# children PID: sets KIDS to its child processes (the workers of a master), in pid order.
children() {
    local f list
    KIDS=()
    for f in /proc/"$1"/task/*/children; do
        list=()
        { read -r -a list <"$f"; } 2>/dev/null || true
        KIDS+=("${list[@]}")
    done
    [ ${#KIDS[@]} -eq 0 ] || mapfile -t KIDS < <(printf '%s\n' "${KIDS[@]}" | sort -n)
}

# cpu_ticks PID: sets TICKS to its user + system CPU time in clock ticks (0 when gone).
cpu_ticks() {
    TICKS=0
    proc_fields "$1" && TICKS=$((STAT[11] + STAT[12]))
    return 0
}

# rss_kb PID: prints its resident set size in KiB.
rss_kb() {
    local key value rest
    if [ -r "/proc/$1/status" ]; then
        while read -r key value rest; do
            if [ "$key" = VmRSS: ]; then echo "$value"; return; fi
        done 2>/dev/null <"/proc/$1/status"
    fi
    echo 0
}

## HTTP

# http_get PATH [TIMEOUT_S]: one request on a new connection. Sets HTTP_STATUS (000 when
# nothing could connect, 999 when connected but no status line came) and HTTP_BODY;
# returns 0 for a 2xx.
http_get() {
    local fd reply=""
    HTTP_STATUS=000 HTTP_BODY=""
    { exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null || return 1
    HTTP_STATUS=999
    if { printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$1" >&"$fd"; } 2>/dev/null; then
        # read fails at the end of the stream (there is no NUL), with the reply read
        { IFS= read -r -d '' -t "${2:-2}" reply <&"$fd"; } 2>/dev/null || true
    fi
    exec {fd}>&-
    [[ $reply =~ ^HTTP/1\.[01]\ ([0-9][0-9][0-9]) ]] && HTTP_STATUS=${BASH_REMATCH[1]}
    HTTP_BODY=${reply#*$'\r\n\r\n'}
    [[ $HTTP_STATUS == 2?? ]]
}

## wrk

# wrk_summary FILE: prints "rps requests p50_ms p99_ms max_ms errors detail" from the
# output of `wrk --latency` (errors: socket errors of every kind plus non-2xx/3xx answers;
# detail names each kind).
wrk_summary() {
    awk '
    function ms(t) {  # wrk prints 812.00us, 1.20ms, 2.03s, 1.00m
        if (t ~ /us$/) return t / 1000
        if (t ~ /ms$/) return t + 0
        if (t ~ /m$/) return t * 60000
        if (t ~ /s$/) return t * 1000
        return t + 0
    }
    $1 == "Latency" && NF >= 5 { max = ms($4) }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    / requests in / { total = $1 }
    $1 == "Requests/sec:" { rps = $2 }
    /Socket errors:/ { gsub(",", ""); conn = $4; rd = $6; wr = $8; tmo = $10 }
    /Non-2xx or 3xx responses:/ { bad = $5 }
    END {
        printf "%.0f %d %.3f %.3f %.1f %d connect=%d,read=%d,write=%d,timeout=%d,non2xx=%d\n",
            rps, total, p50, p99, max, conn + rd + wr + tmo + bad, conn, rd, wr, tmo, bad
    }' "$1"
}
