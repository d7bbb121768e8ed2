#!/usr/bin/env bash
# reload_under_load.sh: what a reload (a signal to the master) costs the clients of a busy
# server: requests lost, throughput, latency, and whether the workers were replaced.
#
#   tests/bench/reload_under_load.sh [--workers N] [--signal HUP|USR2|TTOU] [--duration S]
#                                    [--at S] SERVER
#
# SERVER as in compare.sh: nginx, floor, corral, or NAME='COMMAND' (the process started is
# the master and gets the signal; its children are the workers).
# Two wrk runs of --duration s (10) each, 64 keep-alive connections (CONNECTIONS), one
# after the other on the same server: "before" without a signal, then "during", with
# kill -SIGNAL sent to the master --at s (3) into it. HUP is a reload (corral, nginx),
# USR2 corral's binary upgrade (a new master takes over and writes the pidfile, which is
# how the script finds it), TTOU one worker fewer. A reload that closes keep-alive
# connections between two requests, resets them or refuses connections shows up as
# wrk's socket errors (read, write, connect, timeout); a failed request as non-2xx.
# Afterwards (up to 3 s for old workers to finish) it compares the master's children
# with those before the signal: "replaced" counts the workers of before that are gone.
# With --workers 1 the server runs on CPU 0 and wrk on CPU 1 (taskset), as in compare.sh.
# Output: a row per run (req/s, p50, p99, max in ms, errors and their kinds), the workers
# before and after, and
#   RESULT reload NAME SIGNAL rps_before rps_during errors_during p99_during_ms workers_replaced
# Environment: PORT (18080), CONNECTIONS (64), CORRAL_BIN.
# Needs: wrk; taskset (util-linux) with --workers 1; nginx or gcc for those servers.
# Exit status: 0 when the run during the signal had no error, the master answers
#   afterwards and a worker was replaced; 1 otherwise; 2 for a usage error or a missing tool.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
cd "$REPO_ROOT"

CONNECTIONS=${CONNECTIONS:-64}
signal=HUP duration=10 at=3 spec=""
while [ $# -gt 0 ]; do
    case $1 in
    --workers) [ $# -ge 2 ] || usage_error "--workers needs a number"; WORKERS=$2; shift 2 ;;
    --signal) [ $# -ge 2 ] || usage_error "--signal needs a name"; signal=${2#SIG}; shift 2 ;;
    --duration) [ $# -ge 2 ] || usage_error "--duration needs seconds"; duration=$2; shift 2 ;;
    --at) [ $# -ge 2 ] || usage_error "--at needs seconds"; at=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    -*) usage_error "unknown option $1" ;;
    *) [ -z "$spec" ] || usage_error "one server at a time"; spec=$1; shift ;;
    esac
done
[ -n "$spec" ] || usage_error "name a server"
[[ $WORKERS =~ ^[1-9][0-9]*$ ]] || usage_error "--workers must be a positive number"
[[ $duration =~ ^[1-9][0-9]*$ && $at =~ ^[0-9]+$ ]] || usage_error "--duration and --at are whole seconds"
((at < duration)) || usage_error "--at must come before the end of the run (--duration $duration)"
case $signal in HUP | USR2 | TTOU) ;; *) usage_error "--signal HUP, USR2 or TTOU" ;; esac
export WORKERS
need wrk wrk
server_cpus="" loadgen=()
if [ "$WORKERS" = 1 ] && [ "$(nproc)" -ge 2 ]; then
    need taskset util-linux
    server_cpus=0 loadgen=(taskset -c 1)
fi
choose_server "$spec"

# run_wrk OUT [SIGNAL_AT]: wrk in the background; the signal goes to the master SIGNAL_AT s in.
run_wrk() {
    local out=$1 rc=0
    "${loadgen[@]}" wrk -t1 -c"$CONNECTIONS" -d"${duration}s" --latency \
        "http://127.0.0.1:$PORT/" >"$out" 2>&1 &
    LOADGEN_PID=$!
    if [ $# -ge 2 ]; then
        nap "$2"
        kill -s "$signal" "$MASTER"
        clock_us
        say "... kill -$signal $MASTER at $2 s"
    fi
    wait "$LOADGEN_PID" || rc=$?
    LOADGEN_PID=""
    [ "$rc" = 0 ] || say "wrk exited with status $rc: $(tail -n 3 "$out")"
}

log=$SCRATCH/server.log
start_server "$log" "$server_cpus"
if ! wait_answer 30; then
    say "FAILED: $SRV_NAME did not answer on 127.0.0.1:$PORT; the end of its output:"
    tail -n 20 "$log" >&2 || true
    exit 1
fi
nap 1
children "$MASTER"
before=("${KIDS[@]}")
echo "# $SRV_NAME: master $MASTER, workers ${before[*]:-none}; started in $STARTUP_MS ms"
echo "# wrk -t1 -c$CONNECTIONS -d${duration}s twice; kill -$signal to the master $at s into the second"

format='%-7s %10s %8s %8s %8s %7s  %s\n'
# shellcheck disable=SC2059 # the format is $format
printf "$format" run req/s p50_ms p99_ms max_ms errors detail
run_wrk "$SCRATCH/before.txt"
read -r rps_b _ p50_b p99_b max_b err_b detail_b <<<"$(wrk_summary "$SCRATCH/before.txt")"
# shellcheck disable=SC2059
printf "$format" before "$rps_b" "$p50_b" "$p99_b" "$max_b" "$err_b" "$detail_b"
run_wrk "$SCRATCH/during.txt" "$at"
read -r rps_d _ p50_d p99_d max_d err_d detail_d <<<"$(wrk_summary "$SCRATCH/during.txt")"
# shellcheck disable=SC2059
printf "$format" during "$rps_d" "$p50_d" "$p99_d" "$max_d" "$err_d" "$detail_d"

# Old workers finish their last requests and exit; give them up to 3 s.
for ((i = 0; i < 30; i++)); do
    left=0
    for p in "${before[@]}"; do if running "$p"; then left=$((left + 1)); fi; done
    ((left > 0)) || break
    nap 0.1
done
master=$(current_master)
children "$master"
after=("${KIDS[@]}")
replaced=0
for p in "${before[@]}"; do
    [[ " ${after[*]} " == *" $p "* ]] || replaced=$((replaced + 1))
done
verdict=ok
running "$master" || verdict="the master is gone"
http_get / 2 || verdict+=", no answer after the signal (HTTP $HTTP_STATUS)"
if [ "$master" != "$MASTER" ]; then
    echo "master: $MASTER handed over to $master"
    # stopped at exit with the rest, also when it left the first master's process group
    if proc_fields "$master" && [ "${STAT[2]}" != "$MASTER" ]; then SESSIONS+=("${STAT[2]}"); fi
fi
echo "workers after: ${after[*]:-none} ($replaced of the ${#before[@]} before are gone, replaced or retired); $verdict"
echo "RESULT reload $SRV_NAME $signal $rps_b $rps_d $err_d $p99_d $replaced"
[ "$verdict" = ok ] && [ "$err_d" = 0 ] && [ "$replaced" -gt 0 ]
