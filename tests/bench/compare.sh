#!/usr/bin/env bash
# compare.sh: HTTP servers one after another under the same loopback load, scenario by
# scenario, with what each costs in CPU and memory.
#
#   tests/bench/compare.sh [--workers N] [--scenario plaintext|pipelined|close|all] SERVER...
#
# SERVER is one of
#   nginx           nginx as the current user, a config generated in the temp dir:
#                   worker_processes N, `return 200 "Hello, World!\n"` on GET /, no access log
#   floor           tests/bench/floor.c, built here with gcc -O2: the least a server can do
#   corral          $CORRAL_BIN (build-release/bin/corral if present, else build/bin/corral)
#                   --bind 127.0.0.1:$PORT --workers $WORKERS
#   NAME='COMMAND'  COMMAND under bash -c, with PORT, WORKERS, PIDFILE and CORRAL_BIN
#                   exported. The process started is the master and its children are the
#                   workers, so end compound commands with `exec`.
# Scenarios (all GET /, default plaintext):
#   plaintext  wrk -t1 -c$CONNECTIONS --latency, keep-alive
#   pipelined  the same with a Lua script that writes $DEPTH (16) requests at a time;
#              latency is printed as nan (wrk 4.1's percentiles are wrong when pipelining)
#   close      ab -r -c $CLOSE_CONCURRENCY (50) for DURATION s: HTTP/1.0 without -k, so
#              every request is a new connection (accept and connection set-up costs)
# With --workers 1 the server (master and worker) runs on CPU 0 and the load generator on
# CPU 1 (taskset); with more workers nothing is pinned.
# Each server starts afresh for each scenario; then WARMUP s of the same load, then the
# measured DURATION s run, then a stop (TERM to its session, KILL after 10 s).
# Columns: req/s; p50/p99 (ms); errors (socket errors and non-2xx, by kind in detail);
# start_ms (launch to the first 2xx); rss_master/rss_workers (KiB, idle, 1 s after the
# first answer); cpu% (master and workers over the run, /proc/PID/stat utime+stime;
# 100 = one core); kreq/cpu (thousands of requests per CPU-second of the server);
# worker_cpu_s (CPU seconds of each worker). Then one line per server and scenario:
#   RESULT name rps p99_ms errors scenario=.. workers=.. p50_ms=.. startup_ms=..
#     rss_master_kb=.. rss_workers_kb=a,b worker_cpu_s=a,b cpu_pct=.. kreq_per_cpu_s=..
# (on one line; tests/bench/versus_nginx.sh and two_workers.sh read them).
# Environment: DURATION (10), WARMUP (2), CONNECTIONS (64), PORT (18080), DEPTH (16),
#   CLOSE_CONCURRENCY (50), CORRAL_BIN.
# Needs: wrk (plaintext, pipelined), ab from apache2-utils (close), taskset (util-linux;
#   --workers 1), nginx, gcc (floor); a missing one stops the script with its apt-get line.
# Exit status: 0; 1 if a server did not start or died during a run; 2 for a usage error or
#   a missing tool. Temporary files live in one mktemp dir, removed at exit.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
cd "$REPO_ROOT"

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-64}
DEPTH=${DEPTH:-16}
CLOSE_CONCURRENCY=${CLOSE_CONCURRENCY:-50}

scenario=plaintext
specs=()
while [ $# -gt 0 ]; do
    case $1 in
    --workers) [ $# -ge 2 ] || usage_error "--workers needs a number"; WORKERS=$2; shift 2 ;;
    --workers=*) WORKERS=${1#*=}; shift ;;
    --scenario) [ $# -ge 2 ] || usage_error "--scenario needs a name"; scenario=$2; shift 2 ;;
    --scenario=*) scenario=${1#*=}; shift ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    -*) usage_error "unknown option $1" ;;
    *) specs+=("$1"); shift ;;
    esac
done
[[ $WORKERS =~ ^[1-9][0-9]*$ ]] || usage_error "--workers must be a positive number"
export WORKERS
[ ${#specs[@]} -gt 0 ] || usage_error "name at least one server"
case $scenario in
all) scenarios=(plaintext pipelined close) ;;
plaintext | pipelined | close) scenarios=("$scenario") ;;
*) usage_error "unknown scenario '$scenario'" ;;
esac
for s in "${scenarios[@]}"; do
    if [ "$s" = close ]; then need ab apache2-utils; else need wrk wrk; fi
done
server_cpus="" loadgen=() pinning=no
if [ "$WORKERS" = 1 ]; then
    need taskset util-linux
    if [ "$(nproc)" -ge 2 ]; then
        server_cpus=0 loadgen=(taskset -c 1) pinning="server on CPU 0, load on CPU 1"
    else
        say "compare.sh: one CPU only: nothing is pinned"
    fi
fi
for spec in "${specs[@]}"; do choose_server "$spec"; done # checks every server first
clk_tck=$(getconf CLK_TCK)

cat >"$SCRATCH/pipelined.lua" <<'LUA'
-- DEPTH copies of GET / in one write; wrk counts every response.
local batch
function init(args)
  batch = string.rep(wrk.format("GET", "/"), tonumber(args[1]))
end
function request()
  return batch
end
LUA

# load SCENARIO SECONDS OUT: one load-generator run, its output in OUT. Prints
# "rps requests p50 p99 errors detail".
load() {
    local sc=$1 secs=$2 out=$3 url="http://127.0.0.1:$PORT/" rc=0
    case $sc in
    plaintext) "${loadgen[@]}" wrk -t1 -c"$CONNECTIONS" -d"${secs}s" --latency "$url" >"$out" 2>&1 || rc=$? ;;
    pipelined) "${loadgen[@]}" wrk -t1 -c"$CONNECTIONS" -d"${secs}s" --latency \
        -s "$SCRATCH/pipelined.lua" "$url" -- "$DEPTH" >"$out" 2>&1 || rc=$? ;;
    # -n after -t: ab stops at the time limit; -n only sizes its table (100k/s at most).
    close) "${loadgen[@]}" ab -q -r -c "$CLOSE_CONCURRENCY" -t "$secs" -n $((secs * 100000)) \
        -e "$out.csv" "$url" >"$out" 2>&1 || rc=$? ;;
    esac
    if [ "$sc" = close ]; then
        awk -v rc="$rc" '
            FILENAME ~ /csv$/ { if ($1 == 50) p50 = $2; if ($1 == 99) p99 = $2; next }
            /^Complete requests:/ { total = $3 }
            /^Failed requests:/ { failed = $3 }
            /^Non-2xx responses:/ { bad = $3 }
            /^Write errors:/ { wr = $3 }
            /^Requests per second:/ { rps = $4 }
            END { printf "%.0f %d %.3f %.3f %d failed=%d,non2xx=%d,write=%d%s\n", rps, total,
                  p50, p99, failed + bad + wr, failed, bad, wr, rc ? ",ab_exit=" rc : "" }
        ' "$out" FS=, "$out.csv" 2>/dev/null || true
    else
        local rps total p50 p99 _max errors detail
        read -r rps total p50 p99 _max errors detail <<<"$(wrk_summary "$out")"
        if [ "$sc" = pipelined ]; then p50=nan p99=nan; fi
        if [ "$rc" != 0 ]; then detail+=",wrk_exit=$rc"; fi
        echo "$rps $total $p50 $p99 $errors $detail"
    fi
}

# server_ticks: sets TICK_LIST to the CPU ticks of the master and of each worker in WPIDS.
server_ticks() {
    local p
    TICK_LIST=()
    for p in "$MASTER" "${WPIDS[@]}"; do
        cpu_ticks "$p"
        TICK_LIST+=("$TICKS")
    done
}

status=0
results=()
row='%-14s %10s %8s %8s %7s %8s %10s %-15s %5s %9s %-13s %s\n'
say "# $(date -u +%FT%TZ), $(nproc) CPUs, workers=$WORKERS, pinned: $pinning, corral binary $CORRAL_BIN"
for sc in "${scenarios[@]}"; do
    rows=()
    for spec in "${specs[@]}"; do
        choose_server "$spec"
        name=$SRV_NAME
        log=$SCRATCH/$name.$sc.log
        say "... $name, $sc: starting"
        start_server "$log" "$server_cpus"
        if ! wait_answer 30; then
            say "FAILED: $name did not answer on 127.0.0.1:$PORT; the end of its output:"
            tail -n 20 "$log" >&2 || true
            stop_server "$MASTER"
            rows+=("$(printf '%-14s did not start' "$name")")
            status=1
            continue
        fi
        nap 1
        children "$MASTER"
        WPIDS=("${KIDS[@]}")
        rss_m=$(rss_kb "$MASTER") rss_w=""
        for p in "${WPIDS[@]}"; do rss_w+=${rss_w:+,}$(rss_kb "$p"); done
        if [ "$WARMUP" != 0 ]; then
            say "... $name, $sc: warm-up ${WARMUP}s"
            load "$sc" "$WARMUP" "$SCRATCH/$name.$sc.warmup" >/dev/null
        fi
        say "... $name, $sc: ${DURATION}s"
        server_ticks
        before=("${TICK_LIST[@]}")
        clock_us
        t0=$NOW_US
        read -r rps total p50 p99 errors detail <<<"$(load "$sc" "$DURATION" "$SCRATCH/$name.$sc.out")"
        clock_us
        wall_us=$((NOW_US - t0))
        server_ticks
        after=("${TICK_LIST[@]}")
        if ! running "$MASTER"; then
            detail+=",server_died"
            status=1
        fi
        stop_server "$MASTER"
        all_ticks=0 worker_cpu=""
        for i in "${!before[@]}"; do
            d=$((after[i] - before[i]))
            ((d >= 0)) || d=0 # a worker that exited during the run
            all_ticks=$((all_ticks + d))
            ((i == 0)) || worker_cpu+=${worker_cpu:+,}$(awk -v d="$d" -v hz="$clk_tck" 'BEGIN { printf "%.2f", d / hz }')
        done
        read -r cpu_pct kreq <<<"$(awk -v t="$all_ticks" -v hz="$clk_tck" -v w="$wall_us" -v n="$total" '
            BEGIN { s = t / hz; k = s > 0 ? sprintf("%.1f", n / s / 1000) : "nan"; printf "%.0f %s\n", 100 * s / (w / 1e6), k }')"
        # shellcheck disable=SC2059 # the format is $row
        rows+=("$(printf "$row" "$name" "$rps" "$p50" "$p99" "$errors" "$STARTUP_MS" "$rss_m" \
            "${rss_w:--}" "$cpu_pct" "$kreq" "${worker_cpu:--}" "$detail")")
        results+=("RESULT $name $rps $p99 $errors scenario=$sc workers=$WORKERS p50_ms=$p50 startup_ms=$STARTUP_MS rss_master_kb=$rss_m rss_workers_kb=${rss_w:--} worker_cpu_s=${worker_cpu:--} cpu_pct=$cpu_pct kreq_per_cpu_s=$kreq")
    done
    case $sc in
    plaintext) what="wrk -t1 -c$CONNECTIONS -d${DURATION}s, keep-alive" ;;
    pipelined) what="wrk -t1 -c$CONNECTIONS -d${DURATION}s, $DEPTH requests per write" ;;
    close) what="ab -r -c $CLOSE_CONCURRENCY -t $DURATION, a new connection per request" ;;
    esac
    echo
    echo "## $sc: $what, $WORKERS worker(s)"
    # shellcheck disable=SC2059 # the format is $row
    printf "$row" name req/s p50_ms p99_ms errors start_ms rss_master rss_workers cpu% kreq/cpu worker_cpu_s detail
    printf '%s\n' "${rows[@]}"
done
echo
[ ${#results[@]} -eq 0 ] || printf '%s\n' "${results[@]}"
exit "$status"
