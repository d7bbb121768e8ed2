#!/usr/bin/env bash
# WebSocket echo, corral's demo worker (/ws/echo) beside uvicorn (a bare ASGI echo,
# python3-uvicorn with python3-websockets), one worker each pinned to CPU 1, the load
# generator (build/bin/corral-ws-load) on CPU 0. Each measurement runs 3 times; the
# median is kept.
#   tests/bench/websocket.sh [OUT_DIR]
# Reports round trips per second, round trips per CPU-second of the server process, and
# memory per idle WebSocket connection (RSS growth with IDLE open connections / IDLE).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build-release/bench}
bin=${BIN:-build-release/bin}
mkdir -p "$out"
for tool in "$bin/corral" "$bin/corral-ws-load"; do
    [ -x "$tool" ] || { echo "build first: cmake --build ${bin%/bin} ($tool is missing)" >&2; exit 2; }
done
/usr/bin/python3 -c "import uvicorn, websockets" 2>/dev/null ||
    { echo "uvicorn is missing: apt-get install python3-uvicorn python3-websockets" >&2; exit 2; }
duration=${DURATION:-5}
connections=${CONNECTIONS:-64}
idle=${IDLE:-2000}
ulimit -n 16384
hz=$(getconf CLK_TCK)

# Starts NAME on PORT and sets server_pid (the process that serves, whose CPU time and
# memory are measured) and stop_pid (the one to signal at the end). No subshell: the
# server must stay this shell's child.
start_server() { # NAME PORT
    case $1 in
    corral)
        taskset -c 1 "$bin/corral" -w 1 -b "127.0.0.1:$2" --worker-connections 20000 \
            --backlog 4096 >/dev/null 2>&1 &
        stop_pid=$!
        server_pid=""
        for _ in $(seq 1 100); do
            server_pid=$(pgrep -P "$stop_pid" | head -1) && [ -n "$server_pid" ] && return 0
            sleep 0.05
        done
        echo "corral on port $2 started no worker" >&2
        return 1 ;;
    uvicorn)
        taskset -c 1 /usr/bin/python3 -m uvicorn --app-dir tests/bench --port "$2" --ws websockets \
            --log-level warning --lifespan off --backlog 4096 uvicorn_ws_echo:app >/dev/null 2>&1 &
        stop_pid=$!
        server_pid=$stop_pid ;;
    esac
}

wait_ready() { # PORT
    for _ in $(seq 1 100); do
        timeout 5 "$bin/corral-ws-load" echo 127.0.0.1 "$1" /ws/echo 1 0 >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "server on port $1 did not come up" >&2
    return 1
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

measure() { # NAME -> "rate per_cpu bytes_per_idle"
    local name=$1 port
    port=$((20000 + RANDOM % 10000))  # below the ephemeral range the clients use
    start_server "$name" "$port"
    local pid=$server_pid
    wait_ready "$port"
    local before after result
    before=$(cpu_ticks "$pid")
    result=$(taskset -c 0 "$bin/corral-ws-load" echo 127.0.0.1 "$port" /ws/echo "$connections" "$duration")
    after=$(cpu_ticks "$pid")
    local trips=${result#round_trips }
    trips=${trips%% *}
    local rss_before rss_after
    rss_before=$(rss_kib "$pid")
    coproc holder { taskset -c 0 "$bin/corral-ws-load" idle 127.0.0.1 "$port" /ws/echo "$idle"; }
    read -r _ opened _ <&"${holder[0]}"
    rss_after=$(rss_kib "$pid")
    exec {holder[1]}>&-
    wait "$holder_PID" 2>/dev/null || true
    kill "$stop_pid"; wait "$stop_pid" 2>/dev/null || true
    awk -v t="$trips" -v d="$duration" -v c=$((after - before)) -v hz="$hz" \
        -v rb="$rss_before" -v ra="$rss_after" -v n="$opened" \
        'BEGIN {printf "%.0f %.0f %.0f\n", t / d, t / (c / hz), (ra - rb) * 1024 / n}'
}

printf "server\tround_trips_per_s\tround_trips_per_cpu_s\tbytes_per_idle_connection\n" > "$out/websocket.tsv"
for name in corral uvicorn; do
    runs=()
    for _ in 1 2 3; do runs+=("$(measure "$name")"); done
    rate=$(printf "%s\n" "${runs[@]}" | awk '{print $1}' | median)
    per_cpu=$(printf "%s\n" "${runs[@]}" | awk '{print $2}' | median)
    memory=$(printf "%s\n" "${runs[@]}" | awk '{print $3}' | median)
    printf "%s\t%s\t%s\t%s\n" "$name" "$rate" "$per_cpu" "$memory" | tee -a "$out/websocket.tsv"
done
